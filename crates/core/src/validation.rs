//! Validation failures, worded the way AWS words them.

use thiserror::Error;

/// Why a request's parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ValidationError {
    /// A value broke a modelled constraint (length, range, pattern); AWS
    /// answers these as `ValidationException`.
    #[error("1 validation error detected: {0}")]
    Constraint(String),
    /// A value is well-formed but not acceptable; AWS answers these as
    /// `InvalidParameterValueException`.
    #[error("{0}")]
    InvalidParameter(String),
}

impl ValidationError {
    /// A constraint failure on `field` in AWS's wording.
    pub fn constraint(field: &str, value: &str, rule: &str) -> ValidationError {
        ValidationError::Constraint(format!(
            "Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
        ))
    }

    /// An invalid parameter value with a free-form message.
    pub fn invalid(message: impl Into<String>) -> ValidationError {
        ValidationError::InvalidParameter(message.into())
    }
}
