//! Lambda runtime identifiers.

use std::fmt;

use crate::validation::ValidationError;

/// A runtime a function can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `python3.<minor>`, run by rayo's built-in Python runtime.
    Python {
        /// The minor version: 12 for `python3.12`.
        minor: u8,
    },
    /// `provided.al2023`: the package's executable `bootstrap` drives the Runtime API.
    ProvidedAl2023,
    /// `provided.al2`: as `provided.al2023`.
    ProvidedAl2,
    /// `provided`: the original custom runtime; as `provided.al2023`.
    Provided,
}

/// Python minor versions that Lambda names as runtimes.
pub const PYTHON_MINORS: std::ops::RangeInclusive<u8> = 8..=14;

/// Every runtime identifier Lambda defines, for the wording of errors.
const LAMBDA_RUNTIMES: &str = "[nodejs18.x, nodejs20.x, nodejs22.x, python3.9, python3.10, python3.11, python3.12, python3.13, python3.14, java11, java17, java21, dotnet8, ruby3.3, ruby3.4, provided, provided.al2, provided.al2023]";

impl Runtime {
    /// Parses a runtime identifier such as `python3.12` or `provided.al2023`.
    pub fn parse(s: &str) -> Result<Runtime, ValidationError> {
        match s {
            "provided.al2023" => return Ok(Runtime::ProvidedAl2023),
            "provided.al2" => return Ok(Runtime::ProvidedAl2),
            "provided" => return Ok(Runtime::Provided),
            _ => {}
        }
        if let Some(minor_text) = s.strip_prefix("python3.")
            && !minor_text.starts_with('0')
            && let Ok(minor) = minor_text.parse::<u8>()
            && PYTHON_MINORS.contains(&minor)
        {
            return Ok(Runtime::Python { minor });
        }
        let known = LAMBDA_RUNTIMES
            .trim_matches(['[', ']'])
            .split(", ")
            .any(|r| r == s);
        if known {
            Err(ValidationError::invalid(format!(
                "The runtime parameter of {s} is not supported by rayo: it runs python3.x and provided runtimes"
            )))
        } else {
            Err(ValidationError::invalid(format!(
                "Value {s} at 'runtime' failed to satisfy constraint: Member must satisfy enum value set: {LAMBDA_RUNTIMES} or be a valid ARN"
            )))
        }
    }

    /// Whether the package's own `bootstrap` executable is the runtime.
    pub fn is_provided(self) -> bool {
        !matches!(self, Runtime::Python { .. })
    }
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Runtime::Python { minor } => write!(f, "python3.{minor}"),
            Runtime::ProvidedAl2023 => f.write_str("provided.al2023"),
            Runtime::ProvidedAl2 => f.write_str("provided.al2"),
            Runtime::Provided => f.write_str("provided"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<Runtime>) {
        assert_eq!(Runtime::parse(input).ok(), expected, "input: {input}");
        if let Some(runtime) = expected {
            assert_eq!(runtime.to_string(), input);
        }
    }

    #[test]
    fn parses_runtimes() {
        check("python3.12", Some(Runtime::Python { minor: 12 }));
        check("python3.9", Some(Runtime::Python { minor: 9 }));
        check("provided.al2023", Some(Runtime::ProvidedAl2023));
        check("provided.al2", Some(Runtime::ProvidedAl2));
        check("provided", Some(Runtime::Provided));
        check("python3.012", None);
        check("python2.7", None);
        check("python3", None);
        check("nodejs20.x", None);
        check("", None);
    }
}
