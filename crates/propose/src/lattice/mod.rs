//! Shared machinery of the strategies: a space seen as a lattice of ladder indices.
//!
//! A config is a [`Point`], one ladder index per spec in declaration order, and every
//! strategy works on points: ranks for sets and maps, steps along a ladder for
//! neighbourhoods, unit positions (from [`ParamSpec::unit_at`] and
//! [`ParamSpec::index_at_unit`], the scale arithmetic core owns) for distances.
//!
//! Every strategy reads the history through [`Lattice::encode`], which applies exactly
//! the rule of [`SearchSpace::project`]: names the space does not know are dropped, and
//! an entry that lacks one of the space's parameters or holds a value the space does
//! not allow is ignored. Encoding goes straight to ladder indices, without cloning the
//! entry's params.
//!
//! - [`HistoryView`] (`history.rs`): the projected history, the visited set and the
//!   digest that seeds each proposal's RNG.
//! - [`nearest_unvisited`] (`nearest.rs`): the deterministic fallback scan.
//! - `hash.rs`: the deterministic hashers and the RNG seeding.

mod hash;
mod history;
mod nearest;

#[cfg(test)]
pub(crate) use hash::PointSet;
pub(crate) use hash::{ByValues, Fnv, FxHashMap, seeded_rng, splitmix};
pub(crate) use history::HistoryView;
pub(crate) use nearest::nearest_unvisited;

use hnswtune_core::{ParamKind, ParamSpec, ParamValue, Params, Phase, SearchSpace};

/// A config as one ladder index per spec, in the space's declaration order.
pub(crate) type Point = Vec<u64>;

/// Equality of two parameter names, with two overlapping word compares for names of 8
/// to 16 bytes instead of a `memcmp` call: encoding runs it for every history entry.
#[inline]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if (8..=16).contains(&n) {
        let word = |x: &[u8], at: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&x[at..at + 8]);
            u64::from_le_bytes(w)
        };
        return word(a, 0) == word(b, 0) && word(a, n - 8) == word(b, n - 8);
    }
    a == b
}

/// A space as a box of ladder indices.
#[derive(Debug)]
pub(crate) struct Lattice<'a> {
    pub(crate) space: &'a SearchSpace,
    /// Number of allowed values per spec.
    pub(crate) cards: Vec<u64>,
    /// `true` where the spec is build-time.
    pub(crate) build: Vec<bool>,
    /// The specs sorted by name, each with its index and its ladder: a history
    /// entry's params (a map sorted by name) are matched against the specs in one
    /// merge walk instead of one map lookup per spec.
    by_name: Vec<(&'a str, usize, Ladder<'a>)>,
    /// True when `by_name` is in declaration order.
    declared_by_name: bool,
    /// True when the specs are declared in name order and every ladder is
    /// [`Ladder::Unit`] (the HNSW space): the fast path of
    /// [`Lattice::try_encode_into`] reads such a space.
    unit_ladders: bool,
}

/// One spec's allowed values, as encoding reads them: the ladder index of a value is
/// what [`ParamSpec::index_of`] gives, without the checks that only build an error.
#[derive(Clone, Copy, Debug)]
enum Ladder<'a> {
    /// An integer ladder with step 1: the index is the offset from `low`.
    Unit {
        low: i64,
        high: i64,
    },
    Int {
        low: i64,
        high: i64,
        step: i64,
    },
    Levels(&'a [i64]),
    Categorical(&'a [String]),
}

impl<'a> Ladder<'a> {
    fn of(spec: &'a ParamSpec) -> Self {
        match &spec.kind {
            &ParamKind::Int {
                low, high, step: 1, ..
            } => Ladder::Unit { low, high },
            &ParamKind::Int {
                low, high, step, ..
            } => Ladder::Int { low, high, step },
            ParamKind::Levels { values } => Ladder::Levels(values),
            ParamKind::Categorical { choices } => Ladder::Categorical(choices),
        }
    }

    /// The ladder index of `value`, or `None` when the spec does not allow it.
    #[inline]
    fn index(&self, value: &ParamValue) -> Option<u64> {
        match (self, value) {
            (&Ladder::Unit { low, high }, &ParamValue::Int(v)) => {
                if v < low || v > high {
                    return None;
                }
                Some((v - low) as u64)
            }
            (&Ladder::Int { low, high, step }, &ParamValue::Int(v)) => {
                if v < low || v > high || (v - low) % step != 0 {
                    return None;
                }
                Some(((v - low) / step) as u64)
            }
            (Ladder::Levels(values), ParamValue::Int(v)) => {
                values.binary_search(v).ok().map(|i| i as u64)
            }
            (Ladder::Categorical(choices), ParamValue::Cat(v)) => {
                choices.iter().position(|c| c == v).map(|i| i as u64)
            }
            _ => None,
        }
    }
}

impl<'a> Lattice<'a> {
    pub(crate) fn new(space: &'a SearchSpace) -> Self {
        let specs = space.specs();
        let mut order: Vec<usize> = (0..specs.len()).collect();
        order.sort_by(|&a, &b| specs[a].name.cmp(&specs[b].name));
        let by_name: Vec<_> = order
            .into_iter()
            .map(|k| (specs[k].name.as_str(), k, Ladder::of(&specs[k])))
            .collect();
        let declared_by_name = specs
            .windows(2)
            .all(|w| w[0].name.as_str() < w[1].name.as_str());
        let unit_ladders = declared_by_name
            && by_name
                .iter()
                .all(|(_, _, ladder)| matches!(ladder, Ladder::Unit { .. }));
        Lattice {
            space,
            cards: specs.iter().map(ParamSpec::cardinality).collect(),
            build: specs.iter().map(|s| s.phase == Phase::Build).collect(),
            by_name,
            declared_by_name,
            unit_ladders,
        }
    }

    pub(crate) fn dims(&self) -> usize {
        self.cards.len()
    }

    pub(crate) fn spec(&self, dim: usize) -> &ParamSpec {
        &self.space.specs()[dim]
    }

    pub(crate) fn ordered(&self, dim: usize) -> bool {
        self.spec(dim).is_ordered()
    }

    /// The point of `params` under the projection rule, or `None` when it has none.
    pub(crate) fn encode(&self, params: &Params) -> Option<Point> {
        let mut point = Vec::with_capacity(self.cards.len());
        self.encode_into(params, &mut point).then_some(point)
    }

    /// The mixed-radix rank of `point`: distinct points get distinct ranks whenever the
    /// space has fewer than 2^128 configs (a larger space wraps, and two configs could
    /// then share a rank; no real space comes near).
    pub(crate) fn rank(&self, point: &[u64]) -> u128 {
        if let (&[a, b], &[_, c]) = (point, &self.cards[..]) {
            // Two specs (the HNSW space): the fold below, unrolled.
            return u128::from(a)
                .wrapping_mul(u128::from(c))
                .wrapping_add(u128::from(b));
        }
        point.iter().zip(&self.cards).fold(0u128, |acc, (&i, &c)| {
            acc.wrapping_mul(u128::from(c)).wrapping_add(u128::from(i))
        })
    }

    /// Appends the point of `params` to `out`; false (with `out` partly written) when
    /// it has none.
    #[inline]
    pub(crate) fn encode_into(&self, params: &Params, out: &mut Vec<u64>) -> bool {
        self.try_encode_into(params, out).is_some()
    }

    // Inlined into the history loop: a call costs as much as the fast path's work.
    #[inline(always)]
    fn try_encode_into(&self, params: &Params, point: &mut Vec<u64>) -> Option<()> {
        // Fast path: a space of unit ladders declared in name order, and an entry with
        // as many names as the space has specs. Both name lists are sorted and hold
        // distinct names, so the entry has every spec exactly when its names match the
        // specs' in turn: then the general walk would read the same pairs in the same
        // order, and at the first name that differs the entry lacks a spec.
        if self.unit_ladders && params.len() == self.by_name.len() {
            for ((name, value), (spec_name, _, ladder)) in params.iter().zip(&self.by_name) {
                match (ladder, value) {
                    (&Ladder::Unit { low, high }, &ParamValue::Int(v))
                        if same_name(name, spec_name) && low <= v && v <= high =>
                    {
                        point.push((v - low) as u64)
                    }
                    _ => return None,
                }
            }
            return Some(());
        }
        self.walk_into(params, point)
    }

    /// The general encoding: one merge walk of the entry's names and the specs' names.
    #[inline(never)]
    fn walk_into(&self, params: &Params, point: &mut Vec<u64>) -> Option<()> {
        let base = point.len();
        // When the specs are declared in name order (the HNSW space's are), the walk
        // meets them in point order and appends; otherwise it fills a zeroed point.
        if !self.declared_by_name {
            point.extend(std::iter::repeat_n(0, self.by_name.len()));
        }
        let mut entries = params.iter();
        for (spec_name, k, ladder) in &self.by_name {
            // Both sides are sorted by name: skip the names the space does not know.
            let value = loop {
                let (name, value) = entries.next()?;
                if same_name(name, spec_name) {
                    break value;
                }
                if name > *spec_name {
                    return None;
                }
            };
            let i = ladder.index(value)?;
            if self.declared_by_name {
                point.push(i);
            } else {
                point[base + *k] = i;
            }
        }
        Some(())
    }

    pub(crate) fn decode(&self, point: &[u64]) -> Params {
        self.space
            .specs()
            .iter()
            .zip(point)
            .map(|(spec, &i)| (spec.name.clone(), spec.value_at(i)))
            .collect()
    }

    pub(crate) fn cardinality(&self) -> u128 {
        self.space.cardinality()
    }

    /// The position of ladder index `i` of `dim` in `[0, 1]`, honouring the scale
    /// ([`ParamSpec::unit_at`]).
    pub(crate) fn unit(&self, dim: usize, i: u64) -> f64 {
        self.spec(dim).unit_at(i)
    }

    /// The ladder index nearest to unit position `u` on `dim`
    /// ([`ParamSpec::index_at_unit`]).
    pub(crate) fn index_at_unit(&self, dim: usize, u: f64) -> u64 {
        self.spec(dim).index_at_unit(u)
    }

    /// The ladder index whose value is nearest to `value` (integer specs only; a
    /// categorical spec returns `None`).
    pub(crate) fn index_near_value(&self, dim: usize, value: f64) -> Option<u64> {
        match &self.spec(dim).kind {
            ParamKind::Int { low, step, .. } => {
                let steps = ((value - *low as f64) / *step as f64).round();
                let max = (self.cards[dim] - 1) as f64;
                Some(steps.clamp(0.0, max) as u64)
            }
            ParamKind::Levels { values } => {
                let pos = values.partition_point(|&v| (v as f64) < value);
                let candidates = [pos.saturating_sub(1), pos.min(values.len() - 1)];
                candidates
                    .into_iter()
                    .min_by(|&a, &b| {
                        (values[a] as f64 - value)
                            .abs()
                            .total_cmp(&(values[b] as f64 - value).abs())
                    })
                    .map(|i| i as u64)
            }
            ParamKind::Categorical { .. } => None,
        }
    }

    /// The numeric value of ladder index `i` of an integer spec: `spec.value_at(i)`,
    /// clamped to the ladder the same way, without building the value.
    pub(crate) fn int_value(&self, dim: usize, i: u64) -> Option<i64> {
        let i = i.min(self.cards[dim].saturating_sub(1));
        match &self.spec(dim).kind {
            ParamKind::Int { low, step, .. } => Some(low + step * i as i64),
            ParamKind::Levels { values } => Some(values[i as usize]),
            ParamKind::Categorical { .. } => None,
        }
    }

    /// The point at the centre of the space (unit 0.5 on every ordered spec, the default
    /// label on categorical ones).
    pub(crate) fn centre(&self) -> Point {
        (0..self.dims())
            .map(|d| {
                if self.ordered(d) {
                    self.index_at_unit(d, 0.5)
                } else {
                    let spec = self.spec(d);
                    spec.index_of(&spec.default).unwrap_or(0)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnswtune_core::{EF_CONSTRUCTION, EF_SEARCH};

    #[test]
    fn encode_follows_the_projection_rule() {
        let space = SearchSpace::hnsw_fine((10, 400), (10, 200)).unwrap();
        let lattice = Lattice::new(&space);
        let p = space.default_params().with("m", 16);
        let point = lattice.encode(&p).unwrap();
        assert_eq!(lattice.decode(&point), space.project(&p).unwrap());
        assert!(lattice.encode(&Params::new().with(EF_SEARCH, 20)).is_none());
        let off = Params::new()
            .with(EF_CONSTRUCTION, 1000)
            .with(EF_SEARCH, 20);
        assert!(lattice.encode(&off).is_none());
    }

    /// Encoding gives the same points whether or not the specs are declared in name
    /// order (the walk appends in the first case and fills a zeroed point in the
    /// other), and follows the projection rule in both.
    #[test]
    fn encode_is_the_same_in_either_declaration_order() {
        use hnswtune_core::Phase::{Build, Search};
        let specs = || {
            vec![
                ParamSpec::int("b_steps", 10, 100, 10, Build),
                ParamSpec::categorical("c_kind", ["x", "y"], Search),
                ParamSpec::levels("a_levels", vec![2, 4, 8], Search),
            ]
        };
        let unsorted = SearchSpace::new(specs()).unwrap();
        let mut sorted_specs = specs();
        sorted_specs.sort_by(|a, b| a.name.cmp(&b.name));
        let sorted = SearchSpace::new(sorted_specs).unwrap();
        let (lu, ls) = (Lattice::new(&unsorted), Lattice::new(&sorted));
        assert!(ls.declared_by_name && !lu.declared_by_name);
        for params in [
            unsorted.default_params(),
            unsorted.default_params().with("b_steps", 70).with("zz", 1),
            unsorted.default_params().with("a_levels", 8).with("aa", 3),
            unsorted.default_params().with("b_steps", 75),
            unsorted.default_params().with("c_kind", "z"),
            Params::new().with("b_steps", 20).with("c_kind", "y"),
        ] {
            let (pu, ps) = (lu.encode(&params), ls.encode(&params));
            assert_eq!(
                pu.is_some(),
                unsorted.project(&params).is_some(),
                "{params:?}"
            );
            assert_eq!(
                ps.is_some(),
                sorted.project(&params).is_some(),
                "{params:?}"
            );
            if let (Some(pu), Some(ps)) = (pu, ps) {
                assert_eq!(lu.decode(&pu), unsorted.project(&params).unwrap());
                assert_eq!(ls.decode(&ps), sorted.project(&params).unwrap());
                // The same indices, in each space's own spec order.
                assert_eq!(pu, vec![ps[1], ps[2], ps[0]]);
            }
        }
    }

    /// The fast path of encoding (unit ladders declared in name order, as many names as
    /// specs) gives what the general walk gives, and follows the projection rule, on entries with unknown,
    /// missing, renamed, off-ladder and mistyped parameters; spaces it does not apply to
    /// (a categorical spec, specs not in name order, a stepped ladder) take the walk.
    #[test]
    fn the_encoding_fast_path_matches_the_general_walk() {
        use hnswtune_core::Phase::{Build, Search};
        let spaces = [
            SearchSpace::hnsw_fine((10, 400), (10, 200)).unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int("a_unit", -5, 5, 1, Build),
                ParamSpec::int("b_unit_longer_than_16", 0, 3, 1, Search),
                ParamSpec::int("c", 7, 9, 1, Search),
            ])
            .unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int(EF_SEARCH, 10, 200, 1, Search),
                ParamSpec::int(EF_CONSTRUCTION, 10, 400, 1, Build),
            ])
            .unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int(EF_CONSTRUCTION, 10, 400, 1, Build),
                ParamSpec::categorical(EF_SEARCH, ["x", "y"], Search),
            ])
            .unwrap(),
            SearchSpace::new(vec![
                ParamSpec::int(EF_CONSTRUCTION, 10, 400, 10, Build),
                ParamSpec::int(EF_SEARCH, 10, 200, 1, Search),
            ])
            .unwrap(),
        ];
        let fast = [true, true, false, false, false];
        for (space, fast) in spaces.iter().zip(fast) {
            let lattice = Lattice::new(space);
            assert_eq!(lattice.unit_ladders, fast, "{space:?}");
            let names: Vec<&str> = space.specs().iter().map(|s| s.name.as_str()).collect();
            let mut cases = vec![space.default_params(), Params::new()];
            for &name in &names {
                let base = space.default_params();
                let renamed = base.filtered(|n| n != name);
                cases.extend([
                    renamed.clone(),
                    renamed.clone().with(format!("{name}_"), 12),
                    renamed.clone().with(&name[..name.len() - 1], 12),
                    renamed.clone().with("", 12),
                    base.clone().with(name, 11),
                    base.clone().with(name, -6),
                    base.clone().with(name, 3),
                    base.clone().with(name, 9),
                    base.clone().with(name, 401),
                    base.clone().with(name, 201),
                    base.clone().with(name, "x"),
                    base.clone().with(name, "y"),
                    base.clone().with("0_unknown", 1),
                    base.clone().with("zz_unknown", 1),
                    base.clone().with("m", 16),
                ]);
            }
            for params in cases {
                let mut walked = vec![7];
                let walk = lattice
                    .walk_into(&params, &mut walked)
                    .map(|()| walked[1..].to_vec());
                let encoded = lattice.encode(&params);
                assert_eq!(encoded, walk, "{params:?} in {space:?}");
                assert_eq!(
                    encoded.map(|p| lattice.decode(&p)),
                    space.project(&params),
                    "{params:?} in {space:?}"
                );
                // Appending after earlier points leaves them alone.
                let mut out = vec![1, 2];
                if lattice.encode_into(&params, &mut out) {
                    assert_eq!(out[..2], [1, 2]);
                    assert_eq!(Some(out[2..].to_vec()), lattice.encode(&params));
                }
            }
        }
    }

    /// `Lattice::int_value` is the number of `spec.value_at`, clamped the same way
    /// past the end of the ladder.
    #[test]
    fn int_value_matches_the_specs_values() {
        use hnswtune_core::Phase::{Build, Search};
        let space = SearchSpace::new(vec![
            ParamSpec::int("a", 10, 400, 1, Build).log_scale(),
            ParamSpec::int("h", -50, 77, 3, Search),
            ParamSpec::levels("j", vec![4, 8, 16, 32, 64, 100], Build),
            ParamSpec::categorical("l", ["x", "y", "z"], Search),
        ])
        .unwrap();
        let lattice = Lattice::new(&space);
        for d in 0..lattice.dims() {
            let spec = lattice.spec(d);
            for i in 0..lattice.cards[d] + 2 {
                let value = match spec.value_at(i) {
                    ParamValue::Int(v) => Some(v),
                    ParamValue::Cat(_) => None,
                };
                assert_eq!(lattice.int_value(d, i), value, "{} index {i}", spec.name);
            }
        }
    }
}
