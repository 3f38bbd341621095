//! Landscapes: recorded tables of measurements, replayed as a simulated evaluator.
//!
//! A landscape is a set of completed trials over a grid of configs, with repeated
//! builds so that noise is visible, stored as JSON lines of [`Trial`] (the journal's
//! own record, one per line). [`Landscape::from_trials`] derives the replay space from
//! the recorded values: one [`ParamSpec::levels`] spec per parameter, holding every
//! value recorded; `ef_search` (or any name passed as search-time) is search-time and
//! every other parameter build-time.
//!
//! **Repeats.** Trials of one build key that carry different build seeds are different
//! builds: repeat `r` of a build key is its `r`-th distinct seed in file order. When a
//! build key was recorded with a single seed, the `r`-th occurrence of a config is its
//! repeat `r`.
//!
//! **Replay.** [`Replay::evaluate`] answers a config with one recorded repeat. The
//! repeat is chosen per build key from the replay seed, so all search-time variants of
//! one simulated build come from the same real build, as they would in the harness.
//! The cost is the recorded build seconds of that repeat (the largest `build_secs`
//! among its trials, since cached trials record 0), charged when the build key is
//! first used, plus the answered trial's `search_secs`. A config the landscape did not
//! record is answered as a failure.
//!
//! **Truth.** [`Landscape::truth`] is the mean over repeats of recall and p50, which is
//! what the efficiency measure scores against.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::Path;

use rand::Rng;

use crate::ProposeError;
use crate::lattice::{Fnv, seeded_rng};
use hnswtune_core::{
    BuildKind, DatasetFingerprint, EF_CONSTRUCTION, EF_SEARCH, IndexName, ParamSpec, ParamValue,
    Params, Phase, SearchSpace, Trial, TrialMetrics, TriggerReason,
};

/// The mean measurements of one config over its recorded repeats.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ConfigTruth {
    /// Mean recall.
    pub recall: f64,
    /// Mean p50 latency, microseconds.
    pub p50_us: f64,
    /// Number of recorded repeats.
    pub repeats: usize,
}

/// A recorded table params → metrics with repeats (see the module docs).
#[derive(Clone, Debug)]
pub struct Landscape {
    name: String,
    space: SearchSpace,
    trials: Vec<Trial>,
    /// Per config: `(repeat, metrics)`.
    configs: BTreeMap<Params, Vec<(usize, TrialMetrics)>>,
    /// Per build key: build seconds per repeat.
    builds: BTreeMap<Params, BTreeMap<usize, f64>>,
}

impl Landscape {
    /// A landscape from completed trials; `search_params` names the search-time
    /// parameters (every other parameter is build-time). Incomplete trials are skipped.
    pub fn from_trials(
        name: impl Into<String>,
        trials: Vec<Trial>,
        search_params: &[&str],
    ) -> Result<Self, ProposeError> {
        let name = name.into();
        let bad = |why: String| ProposeError::Landscape {
            source_name: name.clone(),
            why,
        };
        let trials: Vec<Trial> = trials.into_iter().filter(Trial::is_complete).collect();
        let Some(first) = trials.first() else {
            return Err(bad("it holds no completed trial".into()));
        };
        let names: Vec<String> = first.params.iter().map(|(n, _)| n.to_owned()).collect();
        let mut values: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
        for t in &trials {
            if t.params.len() != names.len() {
                return Err(bad(format!(
                    "trial {} sets {} rather than the parameters {names:?}",
                    t.id, t.params
                )));
            }
            for n in &names {
                match t.params.get(n) {
                    Some(ParamValue::Int(v)) => values.entry(n).or_default().push(*v),
                    _ => {
                        return Err(bad(format!(
                            "trial {} lacks an integer value for {n}",
                            t.id
                        )));
                    }
                }
            }
        }
        let hnsw = SearchSpace::hnsw();
        let specs = names
            .iter()
            .map(|n| {
                let mut v = values.remove(n.as_str()).unwrap_or_default();
                v.sort_unstable();
                v.dedup();
                let phase = if search_params.contains(&n.as_str()) {
                    Phase::Search
                } else {
                    Phase::Build
                };
                let preferred = hnsw
                    .spec(n)
                    .and_then(|s| match s.default {
                        ParamValue::Int(d) => Some(d),
                        ParamValue::Cat(_) => None,
                    })
                    .unwrap_or(v[v.len() / 2]);
                let default = *v
                    .iter()
                    .min_by_key(|&&x| (x - preferred).abs())
                    .unwrap_or(&v[0]);
                ParamSpec::levels(n.clone(), v, phase).with_default(default)
            })
            .collect();
        let space = SearchSpace::new(specs)?;
        let mut configs: BTreeMap<Params, Vec<(usize, TrialMetrics)>> = BTreeMap::new();
        let mut builds: BTreeMap<Params, BTreeMap<usize, f64>> = BTreeMap::new();
        let mut seeds: BTreeMap<Params, Vec<u64>> = BTreeMap::new();
        for t in &trials {
            let key = space.build_key(&t.params);
            let list = seeds.entry(key).or_default();
            if !list.contains(&t.seed) {
                list.push(t.seed);
            }
        }
        for t in &trials {
            let key = space.build_key(&t.params);
            let key_seeds = &seeds[&key];
            let entry = configs.entry(t.params.clone()).or_default();
            let repeat = if key_seeds.len() >= 2 {
                key_seeds.iter().position(|&s| s == t.seed).unwrap_or(0)
            } else {
                entry.len()
            };
            let Some(metrics) = t.metrics.clone() else {
                continue;
            };
            let secs = builds.entry(key).or_default().entry(repeat).or_insert(0.0);
            *secs = secs.max(metrics.build_secs);
            entry.push((repeat, metrics));
        }
        Ok(Landscape {
            name,
            space,
            trials,
            configs,
            builds,
        })
    }

    /// Reads JSON lines of trials (blank lines are skipped) with `ef_search` as the
    /// search-time parameter.
    pub fn from_jsonl(name: impl Into<String>, reader: impl BufRead) -> Result<Self, ProposeError> {
        let name = name.into();
        let mut trials = Vec::new();
        for (i, line) in reader.lines().enumerate() {
            let line = line.map_err(|e| ProposeError::Io {
                path: name.clone(),
                source: e,
            })?;
            if line.trim().is_empty() {
                continue;
            }
            let trial: Trial =
                serde_json::from_str(&line).map_err(|e| ProposeError::Landscape {
                    source_name: format!("{name}:{}", i + 1),
                    why: e.to_string(),
                })?;
            trials.push(trial);
        }
        Landscape::from_trials(name, trials, &[EF_SEARCH])
    }

    /// Reads a JSON-lines landscape file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, ProposeError> {
        let path = path.as_ref();
        let file = std::fs::File::open(path).map_err(|e| ProposeError::Io {
            path: path.display().to_string(),
            source: e,
        })?;
        Landscape::from_jsonl(path.display().to_string(), std::io::BufReader::new(file))
    }

    /// Writes the landscape's trials as JSON lines.
    pub fn write_jsonl(&self, mut out: impl Write) -> Result<(), ProposeError> {
        let io = |e: std::io::Error| ProposeError::Io {
            path: self.name.clone(),
            source: e,
        };
        for t in &self.trials {
            let line = serde_json::to_string(t).map_err(|e| ProposeError::Landscape {
                source_name: self.name.clone(),
                why: e.to_string(),
            })?;
            writeln!(out, "{line}").map_err(io)?;
        }
        Ok(())
    }

    /// The landscape's name (its file path when loaded from one).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The replay space: one level list per recorded parameter.
    pub fn space(&self) -> &SearchSpace {
        &self.space
    }

    /// The recorded trials.
    pub fn trials(&self) -> &[Trial] {
        &self.trials
    }

    /// The recorded configs.
    pub fn configs(&self) -> impl Iterator<Item = &Params> {
        self.configs.keys()
    }

    /// The mean measurements of `params` over its repeats, if it was recorded.
    pub fn truth(&self, params: &Params) -> Option<ConfigTruth> {
        let list = self.configs.get(params)?;
        let n = list.len() as f64;
        Some(ConfigTruth {
            recall: list.iter().map(|(_, m)| m.recall).sum::<f64>() / n,
            p50_us: list.iter().map(|(_, m)| m.search_p50_us).sum::<f64>() / n,
            repeats: list.len(),
        })
    }

    /// The config with the lowest mean p50 among those whose mean recall meets
    /// `min_recall`, with that p50.
    pub fn best_feasible(&self, min_recall: f64) -> Option<(Params, f64)> {
        self.configs
            .keys()
            .filter_map(|p| self.truth(p).map(|t| (p, t)))
            .filter(|(_, t)| t.recall >= min_recall)
            .min_by(|a, b| a.1.p50_us.total_cmp(&b.1.p50_us).then(a.0.cmp(b.0)))
            .map(|(p, t)| (p.clone(), t.p50_us))
    }

    /// Number of distinct build keys.
    pub fn build_count(&self) -> usize {
        self.builds.len()
    }

    /// The simulated seconds of an exhaustive grid: every build once (mean over
    /// repeats) plus every config's search (mean over repeats).
    pub fn exhaustive_secs(&self) -> f64 {
        let builds: f64 = self
            .builds
            .values()
            .map(|r| r.values().sum::<f64>() / r.len() as f64)
            .sum();
        let searches: f64 = self
            .configs
            .values()
            .map(|l| l.iter().map(|(_, m)| m.search_secs).sum::<f64>() / l.len() as f64)
            .sum();
        builds + searches
    }

    /// One recorded repeat of `params` for a replay with `seed` that has made the
    /// builds in `built` (updated), and the build seconds this answer charges (0 for
    /// a build made before). `None` when the landscape has no record of `params`.
    pub(crate) fn answer(
        &self,
        seed: u64,
        built: &mut BTreeMap<Params, usize>,
        params: &Params,
    ) -> Option<(TrialMetrics, f64)> {
        let key = self.space.build_key(params);
        let (repeat, build_secs, fresh) = match built.get(&key) {
            Some(&r) => (r, 0.0, false),
            None => {
                let repeats = self.builds.get(&key)?;
                let ids: Vec<usize> = repeats.keys().copied().collect();
                let r = ids[(digest(seed, &key) % ids.len() as u64) as usize];
                built.insert(key, r);
                (r, repeats[&r], true)
            }
        };
        let list = self.configs.get(params)?;
        let (_, metrics) = list
            .iter()
            .find(|(r, _)| *r == repeat)
            .unwrap_or(&list[(digest(seed, params) % list.len() as u64) as usize]);
        let mut metrics = metrics.clone();
        metrics.build_kind = if fresh {
            BuildKind::Fresh
        } else {
            BuildKind::Cached
        };
        Some((metrics, build_secs))
    }

    /// A simulated evaluator over this landscape (see the module docs).
    pub fn replay(&self, seed: u64) -> Replay<'_> {
        Replay {
            landscape: self,
            seed,
            built: BTreeMap::new(),
            trials: 0,
            secs: 0.0,
        }
    }
}

fn digest(seed: u64, params: &Params) -> u64 {
    let mut h = Fnv::new();
    h.write(seed);
    h.write_str(&params.to_string());
    h.finish()
}

/// A simulated evaluator replaying a [`Landscape`], with its running cost.
#[derive(Debug)]
pub struct Replay<'l> {
    landscape: &'l Landscape,
    seed: u64,
    /// Build keys used so far, with the repeat chosen for each.
    built: BTreeMap<Params, usize>,
    trials: u64,
    secs: f64,
}

impl Replay<'_> {
    /// Measures `params`: one recorded repeat, or `None` when the landscape has no
    /// record of it (the trial then fails). Charges the build on first use of its key.
    pub fn evaluate(&mut self, params: &Params) -> Option<TrialMetrics> {
        self.trials += 1;
        let (metrics, build_secs) = self.landscape.answer(self.seed, &mut self.built, params)?;
        self.secs += build_secs + metrics.search_secs;
        Some(metrics)
    }

    /// Measures `params` and wraps the result as a trial (complete, or failed when the
    /// landscape has no record), chosen by `proposer`.
    pub fn trial(&mut self, params: &Params, proposer: &str) -> Result<Trial, ProposeError> {
        let index =
            IndexName::new("replay").map_err(|e| ProposeError::invalid("index", e.to_string()))?;
        let fingerprint = DatasetFingerprint {
            vector_count: 0,
            dimension: 0,
            content_hash: format!("landscape:{}", self.landscape.name),
        };
        let mut trial = Trial::start(
            index,
            "replay",
            params.clone(),
            fingerprint,
            TriggerReason::Study,
        );
        trial.proposer = proposer.to_owned();
        trial.seed = self.seed;
        Ok(match self.evaluate(params) {
            Some(m) => trial.complete(m),
            None => trial.fail("the landscape has no record of this config"),
        })
    }

    /// Distinct builds used so far.
    pub fn builds(&self) -> u64 {
        self.built.len() as u64
    }

    /// Configs evaluated so far.
    pub fn trials(&self) -> u64 {
        self.trials
    }

    /// Simulated seconds spent so far.
    pub fn simulated_secs(&self) -> f64 {
        self.secs
    }
}

/// A synthetic landscape with a known shape and seeded noise, for tests and as a
/// second landscape to check that a strategy was not tuned to one recording.
///
/// Recall is `1 − exp(−a · ef_search^0.7 · q(ef_construction))` with graph quality
/// `q(c) = 1 − 0.75 · exp(−c / 60)`; p50 is `base + per_ef · ef_search · (1 + slope ·
/// ln(c/c_min)/ln(c_max/c_min))` µs, with a 10% dip for builds in `dip` (so the best
/// `ef_construction` is not unimodal); build seconds grow as `0.25 · c^0.9`. Each build
/// repeat draws one log-normal latency factor (σ = `latency_noise`) and one recall
/// offset (σ = `recall_noise`), and each measurement a smaller latency jitter.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyticLandscape {
    /// Name of the landscape.
    pub name: String,
    /// Recorded `ef_construction` levels.
    pub ef_construction: Vec<i64>,
    /// Recorded `ef_search` levels.
    pub ef_search: Vec<i64>,
    /// Build repeats per `ef_construction` (at least 1).
    pub repeats: u32,
    /// Recall scale `a`.
    pub recall_scale: f64,
    /// Fixed latency, µs.
    pub base_us: f64,
    /// Latency per unit of `ef_search`, µs.
    pub per_ef_us: f64,
    /// Relative latency growth from the smallest to the largest `ef_construction`.
    pub slope: f64,
    /// `ef_construction` range (inclusive) whose builds are 10% faster.
    pub dip: (i64, i64),
    /// σ of the per-build log-normal latency factor.
    pub latency_noise: f64,
    /// σ of the per-build recall offset.
    pub recall_noise: f64,
    /// Seed of the noise.
    pub seed: u64,
}

impl Default for AnalyticLandscape {
    fn default() -> Self {
        AnalyticLandscape {
            name: "analytic".into(),
            ef_construction: vec![10, 15, 23, 34, 52, 78, 118, 177, 266, 400],
            ef_search: vec![10, 14, 19, 27, 37, 52, 72, 100, 140, 200],
            repeats: 3,
            recall_scale: 0.38,
            base_us: 20.0,
            per_ef_us: 2.0,
            slope: 0.15,
            dip: (50, 80),
            latency_noise: 0.08,
            recall_noise: 0.004,
            seed: 1,
        }
    }
}

impl AnalyticLandscape {
    /// A differently shaped landscape: latency grows steeply with `ef_construction`
    /// (so the optimum sits mid-ladder), the dip is elsewhere, the noise is larger and
    /// there are two repeats.
    pub fn variant() -> Self {
        AnalyticLandscape {
            name: "analytic-variant".into(),
            ef_construction: vec![10, 16, 25, 40, 63, 100, 160, 250, 400],
            ef_search: vec![10, 13, 17, 22, 29, 38, 50, 66, 87, 115, 150, 200],
            repeats: 2,
            recall_scale: 0.30,
            base_us: 35.0,
            per_ef_us: 1.5,
            slope: 0.9,
            dip: (20, 30),
            latency_noise: 0.15,
            recall_noise: 0.006,
            seed: 2,
        }
    }

    /// Generates the landscape.
    pub fn build(&self) -> Result<Landscape, ProposeError> {
        if self.repeats == 0 || self.ef_construction.is_empty() || self.ef_search.is_empty() {
            return Err(ProposeError::invalid(
                "analytic landscape",
                "needs at least one repeat and one value per parameter",
            ));
        }
        if self
            .ef_construction
            .iter()
            .chain(&self.ef_search)
            .any(|&v| v <= 0)
        {
            return Err(ProposeError::invalid(
                "analytic landscape",
                "parameter values must be positive",
            ));
        }
        let index = IndexName::new(self.name.clone())
            .map_err(|e| ProposeError::invalid("analytic landscape name", e.to_string()))?;
        let c_min = *self.ef_construction.iter().min().unwrap_or(&1) as f64;
        let c_max = *self.ef_construction.iter().max().unwrap_or(&1) as f64;
        let span = (c_max / c_min).ln().max(1e-9);
        let mut trials = Vec::new();
        for &c in &self.ef_construction {
            for r in 0..self.repeats {
                let mut rng = seeded_rng(&[self.seed, c as u64, u64::from(r)]);
                let build_factor = (self.latency_noise * normal(&mut rng)).exp();
                let recall_offset = self.recall_noise * normal(&mut rng);
                let build_secs = 0.25 * (c as f64).powf(0.9) * (0.1 * normal(&mut rng)).exp();
                let q = 1.0 - 0.75 * (-(c as f64) / 60.0).exp();
                for (i, &s) in self.ef_search.iter().enumerate() {
                    let miss = (-self.recall_scale * (s as f64).powf(0.7) * q).exp();
                    let recall = (1.0 - miss + recall_offset).clamp(0.0, 1.0);
                    let dip = if (self.dip.0..=self.dip.1).contains(&c) {
                        0.9
                    } else {
                        1.0
                    };
                    let jitter = (0.02 * normal(&mut rng)).exp();
                    let p50 = (self.base_us
                        + self.per_ef_us
                            * s as f64
                            * (1.0 + self.slope * (c as f64 / c_min).ln() / span))
                        * dip
                        * build_factor
                        * jitter;
                    let metrics = TrialMetrics {
                        build_secs: if i == 0 { build_secs } else { 0.0 },
                        search_p50_us: p50,
                        search_p95_us: p50 * 1.6,
                        search_p99_us: p50 * 2.2,
                        qps: 1e6 / p50,
                        recall,
                        recall_tolerant: recall,
                        k: 10,
                        index_bytes: 1 << 20,
                        vector_count: 20_000,
                        eval_query_count: 1_000,
                        brute_force_us: 2_000.0,
                        search_secs: p50 * 1_000.0 * 3.0 / 1e6,
                        build_kind: if i == 0 {
                            BuildKind::Fresh
                        } else {
                            BuildKind::Cached
                        },
                        config_build_secs: Some(build_secs),
                        p50_pass_spread: None,
                    };
                    let params = Params::new().with(EF_CONSTRUCTION, c).with(EF_SEARCH, s);
                    let mut t = Trial::start(
                        index.clone(),
                        "analytic",
                        params,
                        DatasetFingerprint {
                            vector_count: 20_000,
                            dimension: 384,
                            content_hash: format!("analytic-{}", self.seed),
                        },
                        TriggerReason::Study,
                    )
                    .complete(metrics);
                    t.seed = u64::from(r) + 1;
                    t.proposer = "grid".into();
                    trials.push(t);
                }
            }
        }
        Landscape::from_trials(self.name.clone(), trials, &[EF_SEARCH])
    }
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn analytic_landscape_round_trips_and_replays_with_build_costs() {
        let l = AnalyticLandscape::default().build().unwrap();
        assert_eq!(l.space().cardinality(), 100);
        assert_eq!(l.build_count(), 10);
        let mut buf = Vec::new();
        l.write_jsonl(&mut buf).unwrap();
        let back = Landscape::from_jsonl("buf", buf.as_slice()).unwrap();
        assert_eq!(back.space(), l.space());
        let p = l.configs().next().unwrap().clone();
        assert_eq!(back.truth(&p), l.truth(&p));
        assert_eq!(l.truth(&p).unwrap().repeats, 3);

        let mut replay = l.replay(3);
        let a = Params::new().with(EF_CONSTRUCTION, 52).with(EF_SEARCH, 27);
        let b = a.clone().with(EF_SEARCH, 37);
        replay.evaluate(&a).unwrap();
        let after_build = replay.simulated_secs();
        assert!(after_build > 1.0, "a build costs seconds");
        let m = replay.evaluate(&b).unwrap();
        assert_eq!(m.build_kind, BuildKind::Cached);
        assert!(
            replay.simulated_secs() - after_build < 1.0,
            "a search is cheap"
        );
        assert_eq!(replay.builds(), 1);
        assert_eq!(replay.trials(), 2);
        let missing = Params::new().with(EF_CONSTRUCTION, 53).with(EF_SEARCH, 27);
        assert!(replay.evaluate(&missing).is_none());
    }

    #[test]
    fn best_feasible_is_the_cheapest_config_meeting_the_floor() {
        let l = AnalyticLandscape::default().build().unwrap();
        for r in [0.9, 0.95, 0.99] {
            let (p, p50) = l.best_feasible(r).unwrap();
            assert!(l.truth(&p).unwrap().recall >= r);
            for q in l.configs() {
                let t = l.truth(q).unwrap();
                if t.recall >= r {
                    assert!(t.p50_us >= p50);
                }
            }
        }
    }

    #[test]
    fn bad_input_is_refused() {
        assert!(Landscape::from_trials("x", vec![], &[EF_SEARCH]).is_err());
        assert!(Landscape::from_jsonl("x", "not json\n".as_bytes()).is_err());
        assert!(
            AnalyticLandscape {
                repeats: 0,
                ..Default::default()
            }
            .build()
            .is_err()
        );
        assert!(matches!(
            Landscape::load("/nonexistent/landscape.jsonl"),
            Err(ProposeError::Io { .. })
        ));
    }
}
