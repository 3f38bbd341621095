//! Parameter values: the config a trial tried.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::space_error::SpaceError;

/// `ef_construction`: candidate-list size while building (build-time).
pub const EF_CONSTRUCTION: &str = "ef_construction";
/// `ef_search`: candidate-list size while searching (search-time).
pub const EF_SEARCH: &str = "ef_search";
/// `ml` × 1000 as an integer: the level multiplier (build-time). instant-distance's
/// default is 1/ln(32) ≈ 0.289, that is 289.
pub const ML_MILLI: &str = "ml_milli";
/// The neighbour-selection heuristic (build-time, categorical).
pub const NEIGHBOUR_HEURISTIC: &str = "neighbour_heuristic";
/// `M`, the graph's connectivity (build-time; only for backends that can tune it).
pub const M: &str = "m";

/// One parameter value: an integer or a category label.
///
/// It is stored as a bare JSON integer or string. Decoding is hand-written rather than
/// `#[serde(untagged)]`, which would buffer every value before trying each variant (the
/// journal decodes hundreds of thousands of params on a cold load).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(untagged)]
pub enum ParamValue {
    /// An integer parameter value.
    Int(i64),
    /// A categorical parameter value.
    Cat(String),
}

impl<'de> Deserialize<'de> for ParamValue {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ParamValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer or a category label")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ParamValue, E> {
                Ok(ParamValue::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ParamValue, E> {
                i64::try_from(v)
                    .map(ParamValue::Int)
                    .map_err(|_| E::custom(format!("parameter value {v} is out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ParamValue, E> {
                Ok(ParamValue::Cat(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<ParamValue, E> {
                Ok(ParamValue::Cat(v))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(v) => write!(f, "{v}"),
            ParamValue::Cat(v) => f.write_str(v),
        }
    }
}

impl From<i64> for ParamValue {
    fn from(v: i64) -> Self {
        ParamValue::Int(v)
    }
}

impl From<&str> for ParamValue {
    fn from(v: &str) -> Self {
        ParamValue::Cat(v.to_owned())
    }
}

impl From<String> for ParamValue {
    fn from(v: String) -> Self {
        ParamValue::Cat(v)
    }
}

/// A named set of parameter values, ordered by name so that equal configs serialise,
/// hash and compare equal.
///
/// ```
/// use hnswtune_core::{Params, EF_CONSTRUCTION, EF_SEARCH};
/// let p = Params::new().with(EF_CONSTRUCTION, 100).with(EF_SEARCH, 40);
/// assert_eq!(p.int(EF_SEARCH), Some(40));
/// assert_eq!(p.to_string(), "ef_construction=100 ef_search=40");
/// ```
///
/// It serialises as a JSON object with its names in order. In memory it is a vector of
/// `(name, value)` pairs sorted by name with unique names: a config has a handful of
/// parameters, and every trial carries one, so a flat vector (one allocation, a linear
/// walk) is read faster and held smaller than a `BTreeMap` (a node of eleven slots per
/// config). Equality, ordering and hashing are those of the pairs in name order, as a
/// `BTreeMap`'s were; a decoded object whose names repeat keeps the last value, as a
/// `BTreeMap` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Params(Vec<(String, ParamValue)>);

impl Params {
    /// An empty parameter set.
    pub fn new() -> Self {
        Params(Vec::new())
    }

    /// Pairs in any order; when a name repeats, the last value wins.
    fn from_pairs(mut pairs: Vec<(String, ParamValue)>) -> Self {
        // A stable sort keeps equal names in input order, so the last of a run is the
        // last given.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let mut unique: Vec<(String, ParamValue)> = Vec::with_capacity(pairs.len());
        for pair in pairs {
            match unique.last_mut() {
                Some(last) if last.0 == pair.0 => *last = pair,
                _ => unique.push(pair),
            }
        }
        Params(unique)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    /// Returns `self` with `name` set to `value`.
    pub fn with(mut self, name: impl Into<String>, value: impl Into<ParamValue>) -> Self {
        self.set(name, value);
        self
    }

    /// Sets `name` to `value`, returning the previous value.
    pub fn set(
        &mut self,
        name: impl Into<String>,
        value: impl Into<ParamValue>,
    ) -> Option<ParamValue> {
        let (name, value) = (name.into(), value.into());
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (name, value));
                None
            }
        }
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    /// The integer value of `name`, if present and an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.get(name) {
            Some(ParamValue::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// The category label of `name`, if present and categorical.
    pub fn cat(&self, name: &str) -> Option<&str> {
        match self.get(name) {
            Some(ParamValue::Cat(v)) => Some(v),
            _ => None,
        }
    }

    /// The integer value of `name`, or a typed error naming what is wrong.
    pub fn require_int(&self, name: &str) -> Result<i64, SpaceError> {
        match self.get(name) {
            Some(ParamValue::Int(v)) => Ok(*v),
            Some(other) => Err(SpaceError::WrongType {
                name: name.to_owned(),
                expected: "integer",
                found: other.to_string(),
            }),
            None => Err(SpaceError::Missing {
                name: name.to_owned(),
            }),
        }
    }

    /// The category label of `name`, or a typed error naming what is wrong.
    pub fn require_cat(&self, name: &str) -> Result<&str, SpaceError> {
        match self.get(name) {
            Some(ParamValue::Cat(v)) => Ok(v),
            Some(other) => Err(SpaceError::WrongType {
                name: name.to_owned(),
                expected: "category",
                found: other.to_string(),
            }),
            None => Err(SpaceError::Missing {
                name: name.to_owned(),
            }),
        }
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<ParamValue> {
        self.position(name).ok().map(|i| self.0.remove(i).1)
    }

    /// Iterates over `(name, value)` in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The number of parameters set.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no parameter is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The subset of parameters whose names satisfy `keep`.
    pub fn filtered(&self, mut keep: impl FnMut(&str) -> bool) -> Params {
        Params(self.0.iter().filter(|(k, _)| keep(k)).cloned().collect())
    }
}

impl Serialize for Params {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for Params {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;

        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = Params;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of parameter names to integers or labels")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Params, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some(pair) = map.next_entry::<String, ParamValue>()? {
                    pairs.push(pair);
                }
                // Written in name order (as `Serialize` does), nothing to sort.
                if pairs.windows(2).all(|w| w[0].0 < w[1].0) {
                    return Ok(Params(pairs));
                }
                Ok(Params::from_pairs(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor)
    }
}

impl fmt::Display for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (k, v)) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

/// When a name repeats, the last value wins (as for a `BTreeMap`).
impl<K: Into<String>, V: Into<ParamValue>> FromIterator<(K, V)> for Params {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Params::from_pairs(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::hash::{DefaultHasher, Hash, Hasher};

    use proptest::prelude::*;

    use super::*;

    fn value() -> impl Strategy<Value = ParamValue> {
        prop_oneof![
            (-5i64..5).prop_map(ParamValue::Int),
            "[ab]{0,2}".prop_map(ParamValue::Cat),
        ]
    }

    /// Pairs with few distinct names, so that names repeat.
    fn pairs() -> impl Strategy<Value = Vec<(String, ParamValue)>> {
        proptest::collection::vec(("[a-d]{1,2}", value()), 0..8)
    }

    fn hash(x: &impl Hash) -> u64 {
        let mut h = DefaultHasher::new();
        x.hash(&mut h);
        h.finish()
    }

    proptest! {
        /// The vector behaves exactly as the `BTreeMap` it replaced: the same pairs in
        /// the same order after inserts, overwrites and removals, the same JSON both
        /// ways (repeated names in the input included), the same ordering and hash.
        #[test]
        fn behaves_as_the_btreemap_it_replaced(a in pairs(), b in pairs(), drop in "[a-d]{1,2}") {
            let map_a: BTreeMap<String, ParamValue> = a.iter().cloned().collect();
            let map_b: BTreeMap<String, ParamValue> = b.iter().cloned().collect();
            let params_a: Params = a.iter().cloned().collect();
            let params_b: Params = b.iter().cloned().collect();
            let as_pairs = |m: &BTreeMap<String, ParamValue>| -> Vec<(String, ParamValue)> {
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
            };
            prop_assert_eq!(&params_a.0, &as_pairs(&map_a));
            prop_assert_eq!(params_a.cmp(&params_b), map_a.cmp(&map_b));
            prop_assert_eq!(hash(&params_a), hash(&map_a));
            prop_assert_eq!(serde_json::to_string(&params_a).unwrap(), serde_json::to_string(&map_a).unwrap());

            let mut set_map = map_a.clone();
            let mut set_params = params_a.clone();
            for (k, v) in &b {
                prop_assert_eq!(set_params.set(k.clone(), v.clone()), set_map.insert(k.clone(), v.clone()));
            }
            prop_assert_eq!(set_params.remove(&drop), set_map.remove(&drop));
            prop_assert_eq!(&set_params.0, &as_pairs(&set_map));
            prop_assert_eq!(set_params.get(&drop), None);

            // Hand-written JSON with the names in input order, repeats included.
            let body: Vec<String> = a
                .iter()
                .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), serde_json::to_string(v).unwrap()))
                .collect();
            let text = format!("{{{}}}", body.join(","));
            let decoded: Params = serde_json::from_str(&text).unwrap();
            let decoded_map: BTreeMap<String, ParamValue> = serde_json::from_str(&text).unwrap();
            prop_assert_eq!(&decoded.0, &as_pairs(&decoded_map));
        }
    }

    #[test]
    fn a_repeated_name_keeps_the_last_value() {
        let p: Params = [("a", 1), ("b", 2), ("a", 3)].into_iter().collect();
        assert_eq!(p.to_string(), "a=3 b=2");
        let q: Params = serde_json::from_str(r#"{"b":2,"a":1,"a":3}"#).unwrap();
        assert_eq!(p, q);
        assert!(serde_json::from_str::<Params>("[1]").is_err());
    }
}
