//! Search spaces: which parameters a study may vary, over which values, and whether
//! changing them costs a rebuild.
//!
//! A [`SearchSpace`] is a list of [`ParamSpec`]s. Each spec is an integer ladder
//! (`low..=high` by `step`, sampled on a linear or log scale), an explicit list of
//! integer levels, or a set of category labels, and is marked [`Phase::Build`] (a new
//! value needs a new index) or [`Phase::Search`] (a new value can reuse a built index).
//! Proposers use the phase to prefer cheap search-time moves, and everything that
//! checks a config goes through [`SearchSpace::validate`].
//!
//! Invariants, checked at construction: names are unique, integer bounds are ordered,
//! steps are positive, log scales start above zero, level and category lists are
//! non-empty and duplicate-free, and every default lies in its spec.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::params::{EF_CONSTRUCTION, EF_SEARCH, ML_MILLI, NEIGHBOUR_HEURISTIC};
use crate::{ParamValue, Params};

pub use crate::space_error::SpaceError;

/// Whether changing a parameter needs a new build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Baked into the built index: a new value means a new build.
    Build,
    /// Applied at query time: a new value can reuse a built index.
    Search,
}

/// How samplers and neighbourhoods spread over an integer range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// Uniform in the value.
    #[default]
    Linear,
    /// Uniform in the logarithm of the value.
    Log,
}

/// The values one parameter may take.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ParamKind {
    /// `low, low + step, ...` up to and including `high` when it lies on the ladder.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Distance between allowed values.
        step: i64,
        /// Sampling scale.
        #[serde(default)]
        scale: Scale,
    },
    /// An explicit ascending list of integer levels (for example a recorded grid).
    Levels {
        /// The allowed values, strictly ascending.
        values: Vec<i64>,
    },
    /// Unordered labels.
    Categorical {
        /// The allowed labels.
        choices: Vec<String>,
    },
}

/// One named parameter of a space.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ParamSpec {
    /// The parameter's name, as used in [`Params`].
    pub name: String,
    /// Its allowed values.
    pub kind: ParamKind,
    /// Whether a change needs a rebuild.
    pub phase: Phase,
    /// The value used to seed a study that has no trials yet.
    pub default: ParamValue,
}

impl ParamSpec {
    /// An integer ladder on a linear scale; the default is the lower bound.
    pub fn int(name: impl Into<String>, low: i64, high: i64, step: i64, phase: Phase) -> Self {
        ParamSpec {
            name: name.into(),
            kind: ParamKind::Int {
                low,
                high,
                step,
                scale: Scale::Linear,
            },
            phase,
            default: ParamValue::Int(low),
        }
    }

    /// An explicit list of integer levels; the default is the first level.
    pub fn levels(name: impl Into<String>, values: Vec<i64>, phase: Phase) -> Self {
        let default = ParamValue::Int(values.first().copied().unwrap_or_default());
        ParamSpec {
            name: name.into(),
            kind: ParamKind::Levels { values },
            phase,
            default,
        }
    }

    /// A categorical parameter; the default is the first label.
    pub fn categorical<S: Into<String>>(
        name: impl Into<String>,
        choices: impl IntoIterator<Item = S>,
        phase: Phase,
    ) -> Self {
        let choices: Vec<String> = choices.into_iter().map(Into::into).collect();
        let default = ParamValue::Cat(choices.first().cloned().unwrap_or_default());
        ParamSpec {
            name: name.into(),
            kind: ParamKind::Categorical { choices },
            phase,
            default,
        }
    }

    /// Switches an integer ladder to a log scale.
    pub fn log_scale(mut self) -> Self {
        if let ParamKind::Int { scale, .. } = &mut self.kind {
            *scale = Scale::Log;
        }
        self
    }

    /// Sets the default value.
    pub fn with_default(mut self, value: impl Into<ParamValue>) -> Self {
        self.default = value.into();
        self
    }

    /// Checks the spec's own invariants.
    pub fn validate(&self) -> Result<(), SpaceError> {
        let name = &self.name;
        match &self.kind {
            ParamKind::Int {
                low,
                high,
                step,
                scale,
            } => {
                if low > high {
                    return Err(SpaceError::InvertedBounds {
                        name: name.clone(),
                        low: *low,
                        high: *high,
                    });
                }
                if *step <= 0 {
                    return Err(SpaceError::ZeroStep {
                        name: name.clone(),
                        step: *step,
                    });
                }
                if *scale == Scale::Log && *low <= 0 {
                    return Err(SpaceError::NonPositiveLogBound {
                        name: name.clone(),
                        low: *low,
                    });
                }
            }
            ParamKind::Levels { values } => {
                if values.is_empty() || values.windows(2).any(|w| w[0] >= w[1]) {
                    return Err(SpaceError::BadValueList { name: name.clone() });
                }
            }
            ParamKind::Categorical { choices } => {
                let unique: BTreeSet<&String> = choices.iter().collect();
                if choices.is_empty() || unique.len() != choices.len() {
                    return Err(SpaceError::BadValueList { name: name.clone() });
                }
            }
        }
        self.check(&self.default)
    }

    /// Checks one value against the spec.
    pub fn check(&self, value: &ParamValue) -> Result<(), SpaceError> {
        let name = &self.name;
        match (&self.kind, value) {
            (
                ParamKind::Int {
                    low, high, step, ..
                },
                ParamValue::Int(v),
            ) => {
                if v < low || v > high {
                    Err(SpaceError::OutOfBounds {
                        name: name.clone(),
                        value: *v,
                        low: *low,
                        high: *high,
                    })
                } else if (v - low) % step != 0 {
                    Err(SpaceError::OffStep {
                        name: name.clone(),
                        value: *v,
                    })
                } else {
                    Ok(())
                }
            }
            (ParamKind::Levels { values }, ParamValue::Int(v)) => {
                let (low, high) = (values[0], values[values.len() - 1]);
                if *v < low || *v > high {
                    Err(SpaceError::OutOfBounds {
                        name: name.clone(),
                        value: *v,
                        low,
                        high,
                    })
                } else if values.binary_search(v).is_err() {
                    Err(SpaceError::OffStep {
                        name: name.clone(),
                        value: *v,
                    })
                } else {
                    Ok(())
                }
            }
            (ParamKind::Categorical { choices }, ParamValue::Cat(v)) => {
                if choices.contains(v) {
                    Ok(())
                } else {
                    Err(SpaceError::UnknownChoice {
                        name: name.clone(),
                        value: v.clone(),
                        choices: choices.clone(),
                    })
                }
            }
            (ParamKind::Categorical { .. }, other) => Err(SpaceError::WrongType {
                name: name.clone(),
                expected: "category",
                found: other.to_string(),
            }),
            (_, other) => Err(SpaceError::WrongType {
                name: name.clone(),
                expected: "integer",
                found: other.to_string(),
            }),
        }
    }

    /// The number of allowed values.
    pub fn cardinality(&self) -> u64 {
        match &self.kind {
            ParamKind::Int {
                low, high, step, ..
            } => ((high - low) / step + 1) as u64,
            ParamKind::Levels { values } => values.len() as u64,
            ParamKind::Categorical { choices } => choices.len() as u64,
        }
    }

    /// The `i`-th allowed value in ascending (or declared) order, clamped to the last.
    pub fn value_at(&self, i: u64) -> ParamValue {
        let i = i.min(self.cardinality().saturating_sub(1));
        match &self.kind {
            ParamKind::Int { low, step, .. } => ParamValue::Int(low + step * i as i64),
            ParamKind::Levels { values } => ParamValue::Int(values[i as usize]),
            ParamKind::Categorical { choices } => ParamValue::Cat(choices[i as usize].clone()),
        }
    }

    /// The position of `value` among the allowed values, if it is one.
    pub fn index_of(&self, value: &ParamValue) -> Option<u64> {
        self.check(value).ok()?;
        match (&self.kind, value) {
            (ParamKind::Int { low, step, .. }, ParamValue::Int(v)) => {
                Some(((v - low) / step) as u64)
            }
            (ParamKind::Levels { values }, ParamValue::Int(v)) => {
                values.binary_search(v).ok().map(|i| i as u64)
            }
            (ParamKind::Categorical { choices }, ParamValue::Cat(v)) => {
                choices.iter().position(|c| c == v).map(|i| i as u64)
            }
            _ => None,
        }
    }

    /// All allowed values in order. Beware of very fine ladders.
    pub fn values(&self) -> Vec<ParamValue> {
        (0..self.cardinality()).map(|i| self.value_at(i)).collect()
    }

    /// Maps a point `u` of `[0, 1]` to the nearest allowed value, honouring the scale
    /// (log ladders are spread uniformly in log space; levels and categories by index).
    pub fn from_unit(&self, u: f64) -> ParamValue {
        self.value_at(self.index_at_unit(u))
    }

    /// Maps an allowed value to its position in `[0, 1]` (inverse of [`Self::from_unit`]).
    pub fn to_unit(&self, value: &ParamValue) -> Option<f64> {
        self.index_of(value).map(|i| self.unit_at(i))
    }

    /// The index of the allowed value [`Self::from_unit`] maps `u` to: `u` is clamped
    /// to `[0, 1]` (a non-finite `u` reads as 0), an integer ladder rounds to the
    /// nearest step of its linear or log scale, and levels and categories take the
    /// index whose share of `[0, 1]` holds `u`.
    pub fn index_at_unit(&self, u: f64) -> u64 {
        let u = if u.is_finite() {
            u.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let last = self.cardinality().saturating_sub(1);
        match self.kind {
            ParamKind::Int {
                low,
                high,
                step,
                scale,
            } => {
                let x = match scale {
                    Scale::Linear => low as f64 + u * (high - low) as f64,
                    Scale::Log => {
                        ((low as f64).ln() + u * ((high as f64).ln() - (low as f64).ln())).exp()
                    }
                };
                (((x - low as f64) / step as f64).round().max(0.0) as u64).min(last)
            }
            _ => ((u * self.cardinality() as f64).floor() as u64).min(last),
        }
    }

    /// The position in `[0, 1]` of the `i`-th allowed value (clamped to the last), the
    /// number [`Self::to_unit`] gives for it: an integer ladder's value on its linear
    /// or log scale between `low` and `high`, and for levels and categories the middle
    /// of the index's share of `[0, 1]`. Strategies that work on ladder indices call
    /// this rather than build the value.
    pub fn unit_at(&self, i: u64) -> f64 {
        let n = self.cardinality();
        let i = i.min(n.saturating_sub(1));
        match self.kind {
            ParamKind::Int {
                low,
                high,
                step,
                scale,
            } => {
                if high == low {
                    return 0.0;
                }
                let v = low + step * i as i64;
                match scale {
                    Scale::Linear => (v - low) as f64 / (high - low) as f64,
                    Scale::Log => {
                        ((v as f64).ln() - (low as f64).ln())
                            / ((high as f64).ln() - (low as f64).ln())
                    }
                }
            }
            _ => {
                if n <= 1 {
                    0.0
                } else {
                    (i as f64 + 0.5) / n as f64
                }
            }
        }
    }

    /// True for integer ladders and level lists, whose values are ordered.
    pub fn is_ordered(&self) -> bool {
        !matches!(self.kind, ParamKind::Categorical { .. })
    }
}

/// Ratio between neighbouring `ef_construction` values of [`SearchSpace::hnsw`].
///
/// Neighbouring builds 1.5× apart differ in p50 at equal `ef_search` by about as much as
/// two measurements of one config do (docs/stopping.md, "The default space"); a finer
/// step buys builds that no measurement can tell apart.
pub const EF_CONSTRUCTION_RATIO: f64 = 1.5;

/// Ratio between neighbouring `ef_search` values of [`SearchSpace::hnsw`].
///
/// Search latency is close to affine in `ef_search`, so one step changes p50 by at most
/// about 12%, the median repeat-to-repeat noise of one p50; recall, which is measured
/// exactly on a fixed build, still moves by small steps.
pub const EF_SEARCH_RATIO: f64 = 1.12;

/// The integers `low, low·r, low·r², ...` (rounded, strictly ascending) ending at `high`.
///
/// A step that would round to the same integer advances by 1. When the last rung falls
/// within `√r` of `high` it is replaced by `high`, so no step is much shorter than the
/// rest.
///
/// ```
/// use hnswtune_core::space::geometric_ladder;
/// assert_eq!(geometric_ladder(32, 400, 1.5)?, vec![32, 48, 72, 108, 162, 243, 400]);
/// assert_eq!(geometric_ladder(10, 10, 1.5)?, vec![10]);
/// assert!(geometric_ladder(0, 10, 1.5).is_err());
/// # Ok::<(), hnswtune_core::SpaceError>(())
/// ```
pub fn geometric_ladder(low: i64, high: i64, ratio: f64) -> Result<Vec<i64>, SpaceError> {
    let name = || "geometric ladder".to_string();
    if low < 1 {
        return Err(SpaceError::NonPositiveLogBound { name: name(), low });
    }
    if high < low {
        return Err(SpaceError::InvertedBounds {
            name: name(),
            low,
            high,
        });
    }
    if !(ratio.is_finite() && ratio > 1.0) {
        return Err(SpaceError::BadRatio {
            ratio: ratio.to_string(),
        });
    }
    let mut values = vec![low];
    let mut x = low as f64;
    loop {
        x *= ratio;
        let last = *values.last().expect("starts with low");
        let next = (x.round() as i64).max(last + 1);
        x = x.max(next as f64);
        if next >= high {
            break;
        }
        values.push(next);
    }
    if values.len() > 1 {
        let last = *values.last().expect("non-empty");
        if (high as f64) < last as f64 * ratio.sqrt() {
            values.pop();
        }
    }
    if *values.last().expect("non-empty") != high {
        values.push(high);
    }
    Ok(values)
}

/// Where every anchored ladder's rungs are counted from, so that ladders with different
/// bounds share them.
const LADDER_ANCHOR: i64 = 10;

/// `low`, the rungs of the geometric ladder from [`LADDER_ANCHOR`] that lie between the
/// bounds (none within `√ratio` of `low`), and `high`.
fn anchored_ladder(low: i64, high: i64, ratio: f64) -> Result<Vec<i64>, SpaceError> {
    if high < low {
        return Err(SpaceError::InvertedBounds {
            name: "geometric ladder".into(),
            low,
            high,
        });
    }
    let rungs = geometric_ladder(low.min(LADDER_ANCHOR), high, ratio)?;
    let min_inner = low as f64 * ratio.sqrt();
    let mut values = vec![low];
    values.extend(
        rungs
            .into_iter()
            .filter(|&v| v > low && v as f64 >= min_inner),
    );
    if high > low && values.last() != Some(&high) {
        values.push(high);
    }
    Ok(values)
}

/// The value of `values` nearest to `target` (the smaller on a tie).
fn nearest(values: &[i64], target: i64) -> i64 {
    values
        .iter()
        .copied()
        .min_by_key(|v| (v - target).abs())
        .unwrap_or(target)
}

/// A validated set of parameters to search over.
///
/// ```
/// use hnswtune_core::{Params, SearchSpace, SpaceError, EF_CONSTRUCTION, EF_SEARCH};
/// let space = SearchSpace::hnsw();
/// let ok = Params::new().with(EF_CONSTRUCTION, 120).with(EF_SEARCH, 68);
/// space.validate(&ok).unwrap();
/// let bad = Params::new().with(EF_CONSTRUCTION, 500).with(EF_SEARCH, 64);
/// assert!(matches!(space.validate(&bad), Err(SpaceError::OutOfBounds { .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<ParamSpec>", into = "Vec<ParamSpec>")]
pub struct SearchSpace {
    specs: Vec<ParamSpec>,
}

impl SearchSpace {
    /// Builds a space from specs, checking every invariant.
    pub fn new(specs: Vec<ParamSpec>) -> Result<Self, SpaceError> {
        if specs.is_empty() {
            return Err(SpaceError::Empty);
        }
        let mut seen = BTreeSet::new();
        for spec in &specs {
            if !seen.insert(spec.name.as_str()) {
                return Err(SpaceError::DuplicateName {
                    name: spec.name.clone(),
                });
            }
            spec.validate()?;
        }
        Ok(SearchSpace { specs })
    }

    /// The seed's HNSW space at the resolution a measurement can show: `ef_construction`
    /// on a geometric ladder over 10..=400 (build-time, ratio [`EF_CONSTRUCTION_RATIO`],
    /// default 80, the cheaper rung next to the seed's 100: the first build is paid before anything is known) and `ef_search` on a geometric ladder over 10..=200 (search-time,
    /// ratio [`EF_SEARCH_RATIO`], default 64).
    ///
    /// The steps follow the repeat-to-repeat noise of one p50 measurement (median 8–11%,
    /// 90th percentile about 25–35% on instant-distance; 3–4% median on hnswlib-like
    /// backends; docs/stopping.md, "The default space"): two builds whose
    /// `ef_construction` differ by 1% cannot be told apart by any measurement, so the
    /// space does not offer them. [`SearchSpace::hnsw_fine`] keeps step 1 for users who
    /// want it.
    pub fn hnsw() -> Self {
        Self::hnsw_with_bounds((10, 400), (10, 200)).expect("the default bounds are valid")
    }

    /// The HNSW space of [`SearchSpace::hnsw`] between other bounds: each ladder is the
    /// lower bound, the rungs of the default ladder between the bounds, and the upper
    /// bound, so that spaces with different bounds share their rungs (instant-distance's
    /// space from 32 holds 53, 80, 120, ... like the default one). Defaults are the
    /// values nearest to 80 and 64.
    ///
    /// ```
    /// use hnswtune_core::{SearchSpace, ParamKind, EF_CONSTRUCTION};
    /// let space = SearchSpace::hnsw_with_bounds((32, 400), (10, 200))?;
    /// let ParamKind::Levels { values } = &space.spec(EF_CONSTRUCTION).unwrap().kind else {
    ///     unreachable!()
    /// };
    /// assert_eq!(values, &[32, 53, 80, 120, 180, 270, 400]);
    /// # Ok::<(), hnswtune_core::SpaceError>(())
    /// ```
    pub fn hnsw_with_bounds(
        ef_construction: (i64, i64),
        ef_search: (i64, i64),
    ) -> Result<Self, SpaceError> {
        let ladder = |name: &str, (low, high): (i64, i64), ratio: f64, default: i64, phase| {
            let values = anchored_ladder(low, high, ratio)?;
            let default = nearest(&values, default);
            Ok::<_, SpaceError>(ParamSpec::levels(name, values, phase).with_default(default))
        };
        SearchSpace::new(vec![
            ladder(
                EF_CONSTRUCTION,
                ef_construction,
                EF_CONSTRUCTION_RATIO,
                80,
                Phase::Build,
            )?,
            ladder(EF_SEARCH, ef_search, EF_SEARCH_RATIO, 64, Phase::Search)?,
        ])
    }

    /// The HNSW space with every integer value between the bounds (step 1, log scale),
    /// as the seed declared it; defaults 100 and 64, clamped into the bounds.
    pub fn hnsw_fine(
        ef_construction: (i64, i64),
        ef_search: (i64, i64),
    ) -> Result<Self, SpaceError> {
        let clamp = |(low, high): (i64, i64), v: i64| v.clamp(low, high.max(low));
        SearchSpace::new(vec![
            ParamSpec::int(
                EF_CONSTRUCTION,
                ef_construction.0,
                ef_construction.1,
                1,
                Phase::Build,
            )
            .log_scale()
            .with_default(clamp(ef_construction, 100)),
            ParamSpec::int(EF_SEARCH, ef_search.0, ef_search.1, 1, Phase::Search)
                .log_scale()
                .with_default(clamp(ef_search, 64)),
        ])
    }

    /// Adds `ml_milli` (ml × 1000), 100..=600 in steps of 10, default 290 (≈ 1/ln 32,
    /// instant-distance's own choice).
    pub fn with_ml(self) -> Result<Self, SpaceError> {
        self.with_param(ParamSpec::int(ML_MILLI, 100, 600, 10, Phase::Build).with_default(290))
    }

    /// Adds the neighbour-selection heuristic: `heuristic` (keep pruned connections, the
    /// instant-distance default) and `simple` (nearest-first, no heuristic).
    ///
    /// The paper's third variant, extending candidates (`heuristic_extend`), is not
    /// offered: instant-distance 0.6.1 deadlocks while building with it. A backend that
    /// supports it can add it with [`SearchSpace::with_param`].
    pub fn with_heuristic(self) -> Result<Self, SpaceError> {
        self.with_param(ParamSpec::categorical(
            NEIGHBOUR_HEURISTIC,
            ["heuristic", "simple"],
            Phase::Build,
        ))
    }

    /// Adds `spec`, or replaces the spec of the same name.
    pub fn with_param(mut self, spec: ParamSpec) -> Result<Self, SpaceError> {
        spec.validate()?;
        match self.specs.iter_mut().find(|s| s.name == spec.name) {
            Some(slot) => *slot = spec,
            None => self.specs.push(spec),
        }
        Ok(self)
    }

    /// The specs in declaration order.
    pub fn specs(&self) -> &[ParamSpec] {
        &self.specs
    }

    /// The spec called `name`.
    pub fn spec(&self, name: &str) -> Option<&ParamSpec> {
        self.specs.iter().find(|s| s.name == name)
    }

    /// Specs whose change needs a rebuild.
    pub fn build_specs(&self) -> impl Iterator<Item = &ParamSpec> {
        self.specs.iter().filter(|s| s.phase == Phase::Build)
    }

    /// Specs that can change on an existing build.
    pub fn search_specs(&self) -> impl Iterator<Item = &ParamSpec> {
        self.specs.iter().filter(|s| s.phase == Phase::Search)
    }

    /// Checks that `params` sets every parameter of the space to an allowed value and
    /// nothing else.
    pub fn validate(&self, params: &Params) -> Result<(), SpaceError> {
        for (name, _) in params.iter() {
            if self.spec(name).is_none() {
                return Err(SpaceError::Unknown {
                    name: name.to_owned(),
                });
            }
        }
        for spec in &self.specs {
            match params.get(&spec.name) {
                Some(v) => spec.check(v)?,
                None => {
                    return Err(SpaceError::Missing {
                        name: spec.name.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// True when [`Self::validate`] accepts `params`.
    pub fn contains(&self, params: &Params) -> bool {
        self.validate(params).is_ok()
    }

    /// The part of `params` this space knows, if it is a valid point of the space.
    ///
    /// This is the documented rule for history from another space: extra names are
    /// dropped, and a config that lacks one of this space's parameters, or holds a value
    /// this space does not allow, has no projection and is ignored by proposers.
    pub fn project(&self, params: &Params) -> Option<Params> {
        let projected = params.filtered(|name| self.spec(name).is_some());
        self.contains(&projected).then_some(projected)
    }

    /// The build-time part of `params`: the key of the build it needs.
    pub fn build_key(&self, params: &Params) -> Params {
        params.filtered(|name| self.spec(name).is_some_and(|s| s.phase == Phase::Build))
    }

    /// The config made of every spec's default.
    pub fn default_params(&self) -> Params {
        self.specs
            .iter()
            .map(|s| (s.name.clone(), s.default.clone()))
            .collect()
    }

    /// The number of distinct configs (saturating).
    pub fn cardinality(&self) -> u128 {
        self.specs
            .iter()
            .fold(1u128, |acc, s| acc.saturating_mul(s.cardinality() as u128))
    }

    /// The number of distinct builds (saturating).
    pub fn build_cardinality(&self) -> u128 {
        self.build_specs()
            .fold(1u128, |acc, s| acc.saturating_mul(s.cardinality() as u128))
    }
}

impl TryFrom<Vec<ParamSpec>> for SearchSpace {
    type Error = SpaceError;
    fn try_from(specs: Vec<ParamSpec>) -> Result<Self, SpaceError> {
        SearchSpace::new(specs)
    }
}

impl From<SearchSpace> for Vec<ParamSpec> {
    fn from(space: SearchSpace) -> Self {
        space.specs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn construction_errors_are_typed() {
        assert_eq!(SearchSpace::new(vec![]), Err(SpaceError::Empty));
        assert!(matches!(
            SearchSpace::new(vec![ParamSpec::int("a", 5, 1, 1, Phase::Build)]),
            Err(SpaceError::InvertedBounds { .. })
        ));
        assert!(matches!(
            SearchSpace::new(vec![ParamSpec::int("a", 1, 5, 0, Phase::Build)]),
            Err(SpaceError::ZeroStep { .. })
        ));
        assert!(matches!(
            SearchSpace::new(vec![ParamSpec::int("a", 0, 5, 1, Phase::Build).log_scale()]),
            Err(SpaceError::NonPositiveLogBound { .. })
        ));
        assert!(matches!(
            SearchSpace::new(vec![
                ParamSpec::int("a", 1, 5, 1, Phase::Build),
                ParamSpec::int("a", 1, 5, 1, Phase::Search)
            ]),
            Err(SpaceError::DuplicateName { .. })
        ));
        assert!(matches!(
            SearchSpace::new(vec![ParamSpec::levels("a", vec![3, 2], Phase::Build)]),
            Err(SpaceError::BadValueList { .. })
        ));
        assert!(matches!(
            SearchSpace::new(vec![
                ParamSpec::int("a", 1, 5, 1, Phase::Build).with_default(9)
            ]),
            Err(SpaceError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn config_errors_are_typed() {
        let space = SearchSpace::hnsw().with_heuristic().unwrap();
        let good = space.default_params();
        space.validate(&good).unwrap();
        let unknown = good.clone().with("mystery", 1);
        assert!(matches!(
            space.validate(&unknown),
            Err(SpaceError::Unknown { .. })
        ));
        let mut missing = good.clone();
        missing.remove(EF_SEARCH);
        assert!(matches!(
            space.validate(&missing),
            Err(SpaceError::Missing { .. })
        ));
        let wrong = good.clone().with(EF_SEARCH, "many");
        assert!(matches!(
            space.validate(&wrong),
            Err(SpaceError::WrongType { .. })
        ));
        let label = good.clone().with(NEIGHBOUR_HEURISTIC, "random");
        assert!(matches!(
            space.validate(&label),
            Err(SpaceError::UnknownChoice { .. })
        ));
        let below = good.with(EF_CONSTRUCTION, 9);
        assert!(matches!(
            space.validate(&below),
            Err(SpaceError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn off_step_values_are_refused() {
        let space = SearchSpace::new(vec![ParamSpec::int("a", 10, 100, 10, Phase::Build)]).unwrap();
        assert!(matches!(
            space.validate(&Params::new().with("a", 15)),
            Err(SpaceError::OffStep { .. })
        ));
        assert_eq!(space.cardinality(), 10);
    }

    #[test]
    fn projection_drops_foreign_names_and_refuses_incomplete_configs() {
        let space = SearchSpace::hnsw();
        let foreign = space.default_params().with("m", 16);
        assert_eq!(space.project(&foreign), Some(space.default_params()));
        assert_eq!(space.project(&Params::new().with(EF_SEARCH, 20)), None);
        assert_eq!(
            space.build_key(&space.default_params()),
            Params::new().with(EF_CONSTRUCTION, 80)
        );
    }

    fn levels_of(space: &SearchSpace, name: &str) -> Vec<i64> {
        match &space.spec(name).unwrap().kind {
            ParamKind::Levels { values } => values.clone(),
            other => panic!("{name} is not a ladder: {other:?}"),
        }
    }

    #[test]
    fn the_default_space_steps_at_the_resolution_a_measurement_shows() {
        let space = SearchSpace::hnsw();
        let ef_c = levels_of(&space, EF_CONSTRUCTION);
        assert_eq!(ef_c, [10, 15, 23, 35, 53, 80, 120, 180, 270, 400]);
        let ef_s = levels_of(&space, EF_SEARCH);
        assert_eq!(
            (ef_s[0], *ef_s.last().unwrap()),
            (10, 200),
            "the seed's bounds"
        );
        for pair in ef_s.windows(2).chain(ef_c.windows(2)) {
            let ratio = pair[1] as f64 / pair[0] as f64;
            assert!((1.05..=1.65).contains(&ratio), "step {pair:?}");
        }
        assert_eq!(space.default_params().int(EF_CONSTRUCTION), Some(80));
        // Other bounds keep the default ladder's rungs in between.
        let instant = SearchSpace::hnsw_with_bounds((32, 400), (10, 200)).unwrap();
        assert_eq!(
            levels_of(&instant, EF_CONSTRUCTION),
            [32, 53, 80, 120, 180, 270, 400]
        );
        let narrow = SearchSpace::hnsw_with_bounds((32, 35), (10, 10)).unwrap();
        assert_eq!(levels_of(&narrow, EF_CONSTRUCTION), [32, 35]);
        assert_eq!(levels_of(&narrow, EF_SEARCH), [10]);
        assert!(SearchSpace::hnsw_with_bounds((0, 400), (10, 200)).is_err());
        assert!(SearchSpace::hnsw_with_bounds((400, 32), (10, 200)).is_err());
        // The fine space keeps every value.
        let fine = SearchSpace::hnsw_fine((10, 400), (10, 200)).unwrap();
        assert_eq!(fine.build_cardinality(), 391);
    }

    #[test]
    fn geometric_ladders_ascend_strictly_and_reject_bad_ratios() {
        assert_eq!(geometric_ladder(1, 5, 1.1).unwrap(), [1, 2, 3, 4, 5]);
        assert!(geometric_ladder(1, 5, 1.0).is_err());
        assert!(geometric_ladder(1, 5, f64::NAN).is_err());
        assert!(geometric_ladder(5, 1, 1.5).is_err());
    }

    fn arb_spec() -> impl Strategy<Value = ParamSpec> {
        prop_oneof![
            (-50i64..50, -50i64..50, -3i64..6, any::<bool>()).prop_map(
                |(low, high, step, search)| {
                    ParamSpec::int(
                        "p",
                        low,
                        high,
                        step,
                        if search { Phase::Search } else { Phase::Build },
                    )
                }
            ),
            proptest::collection::vec(-20i64..20, 0..6).prop_map(|values| ParamSpec::levels(
                "p",
                values,
                Phase::Build
            )),
            proptest::collection::vec("[a-c]", 0..4).prop_map(|choices| ParamSpec::categorical(
                "p",
                choices,
                Phase::Build
            )),
        ]
    }

    /// `unit_at` and `index_at_unit` are inverse on every ladder index, on linear and
    /// log ladders, stepped ones whose `high` is off the ladder, levels and
    /// categories, and clamp past the ends; `to_unit` and `from_unit` are the same
    /// maps through the values.
    #[test]
    fn unit_positions_round_trip_on_every_index() {
        let specs = vec![
            ParamSpec::int("a", 10, 400, 1, Phase::Build).log_scale(),
            ParamSpec::int("c", 100, 600, 10, Phase::Build),
            ParamSpec::int("e", 3, 1000, 7, Phase::Search).log_scale(),
            ParamSpec::int("f", 5, 5, 1, Phase::Search).log_scale(),
            ParamSpec::int("h", -50, 77, 3, Phase::Search),
            ParamSpec::int("i", 2, 9, 4, Phase::Build).log_scale(),
            ParamSpec::levels("j", vec![4, 8, 16, 32, 64, 100], Phase::Build),
            ParamSpec::levels("k", vec![7], Phase::Build),
            ParamSpec::categorical("l", ["x", "y", "z"], Phase::Search),
        ];
        for spec in &specs {
            let last = spec.cardinality() - 1;
            for i in 0..=last {
                let u = spec.unit_at(i);
                assert!((0.0..=1.0).contains(&u), "{} index {i}: {u}", spec.name);
                assert_eq!(spec.index_at_unit(u), i, "{} index {i}", spec.name);
                assert_eq!(spec.to_unit(&spec.value_at(i)), Some(u), "{}", spec.name);
                assert_eq!(spec.from_unit(u), spec.value_at(i), "{}", spec.name);
            }
            assert_eq!(spec.unit_at(last + 5), spec.unit_at(last), "{}", spec.name);
            assert_eq!(spec.index_at_unit(1.5), spec.index_at_unit(1.0));
            assert_eq!(spec.index_at_unit(f64::NAN), spec.index_at_unit(0.0));
            assert_eq!(spec.index_at_unit(-1.0), 0, "{}", spec.name);
        }
    }

    proptest! {
        #[test]
        fn validation_matches_the_invariants(spec in arb_spec()) {
            let valid = spec.validate().is_ok();
            let expected = match &spec.kind {
                ParamKind::Int { low, high, step, .. } => low <= high && *step > 0,
                ParamKind::Levels { values } => !values.is_empty() && values.windows(2).all(|w| w[0] < w[1]),
                ParamKind::Categorical { choices } => {
                    !choices.is_empty() && choices.iter().collect::<BTreeSet<_>>().len() == choices.len()
                }
            };
            prop_assert_eq!(valid, expected);
            if valid {
                let values = spec.values();
                prop_assert_eq!(values.len() as u64, spec.cardinality());
                for (i, v) in values.iter().enumerate() {
                    prop_assert!(spec.check(v).is_ok());
                    prop_assert_eq!(spec.index_of(v), Some(i as u64));
                    let u = spec.to_unit(v).unwrap();
                    prop_assert!((0.0..=1.0).contains(&u));
                    prop_assert!(spec.check(&spec.from_unit(u)).is_ok());
                }
            }
        }

        #[test]
        fn from_unit_always_lands_on_the_ladder(low in 1i64..100, span in 0i64..1000, step in 1i64..50, u in any::<f64>(), log in any::<bool>()) {
            let mut spec = ParamSpec::int("p", low, low + span, step, Phase::Build);
            if log { spec = spec.log_scale(); }
            prop_assert!(spec.check(&spec.from_unit(u)).is_ok());
        }
    }
}
