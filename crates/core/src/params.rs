//! Parameter values: the config a trial tried.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::space::SpaceError;

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
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(BTreeMap<String, ParamValue>);

impl Params {
    /// An empty parameter set.
    pub fn new() -> Self {
        Params(BTreeMap::new())
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
        self.0.insert(name.into(), value.into())
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&ParamValue> {
        self.0.get(name)
    }

    /// The integer value of `name`, if present and an integer.
    pub fn int(&self, name: &str) -> Option<i64> {
        match self.0.get(name) {
            Some(ParamValue::Int(v)) => Some(*v),
            _ => None,
        }
    }

    /// The category label of `name`, if present and categorical.
    pub fn cat(&self, name: &str) -> Option<&str> {
        match self.0.get(name) {
            Some(ParamValue::Cat(v)) => Some(v),
            _ => None,
        }
    }

    /// The integer value of `name`, or a typed error naming what is wrong.
    pub fn require_int(&self, name: &str) -> Result<i64, SpaceError> {
        match self.0.get(name) {
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
        match self.0.get(name) {
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
        self.0.remove(name)
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
        Params(
            self.0
                .iter()
                .filter(|(k, _)| keep(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
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

impl<K: Into<String>, V: Into<ParamValue>> FromIterator<(K, V)> for Params {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        Params(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }
}
