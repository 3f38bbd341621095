//! The error of a search space or of a config checked against one.
//!
//! It lives apart from `space.rs` so that `params.rs`, which reports a missing or
//! mistyped parameter with it, does not import the space module, which imports the
//! parameter names from `params.rs`.

/// What is wrong with a space or a config.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpaceError {
    /// The space has no parameters.
    #[error("the search space has no parameters")]
    Empty,
    /// Two specs share a name.
    #[error("parameter {name:?} is declared twice")]
    DuplicateName {
        /// The repeated name.
        name: String,
    },
    /// `low > high`.
    #[error("parameter {name:?} has inverted bounds {low}..={high}")]
    InvertedBounds {
        /// The parameter.
        name: String,
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
    },
    /// A step of zero or less.
    #[error("parameter {name:?} has step {step}; the step must be at least 1")]
    ZeroStep {
        /// The parameter.
        name: String,
        /// The rejected step.
        step: i64,
    },
    /// A log scale whose lower bound is not positive.
    #[error("parameter {name:?} uses a log scale but its lower bound {low} is not positive")]
    NonPositiveLogBound {
        /// The parameter.
        name: String,
        /// Lower bound.
        low: i64,
    },
    /// A geometric ladder's ratio that is not a finite number above 1.
    #[error("a geometric ladder needs a ratio above 1, got {ratio}")]
    BadRatio {
        /// The rejected ratio, as written.
        ratio: String,
    },
    /// A level or category list that is empty or repeats a value.
    #[error("parameter {name:?} has an empty or repeating list of values")]
    BadValueList {
        /// The parameter.
        name: String,
    },
    /// A config names a parameter the space does not have.
    #[error("unknown parameter {name:?}")]
    Unknown {
        /// The unknown name.
        name: String,
    },
    /// A config lacks a parameter of the space.
    #[error("missing parameter {name:?}")]
    Missing {
        /// The missing name.
        name: String,
    },
    /// An integer outside the bounds.
    #[error("parameter {name:?} = {value} is outside {low}..={high}")]
    OutOfBounds {
        /// The parameter.
        name: String,
        /// The rejected value.
        value: i64,
        /// Lower bound.
        low: i64,
        /// Upper bound.
        high: i64,
    },
    /// An integer inside the bounds but not on the ladder.
    #[error("parameter {name:?} = {value} is not one of its allowed levels")]
    OffStep {
        /// The parameter.
        name: String,
        /// The rejected value.
        value: i64,
    },
    /// A label that is not one of the categories.
    #[error("parameter {name:?} = {value:?} is not one of {choices:?}")]
    UnknownChoice {
        /// The parameter.
        name: String,
        /// The rejected label.
        value: String,
        /// The allowed labels.
        choices: Vec<String>,
    },
    /// An integer where a label was expected, or the reverse.
    #[error("parameter {name:?} expected a {expected}, found {found:?}")]
    WrongType {
        /// The parameter.
        name: String,
        /// What the spec expects.
        expected: &'static str,
        /// What was given.
        found: String,
    },
}
