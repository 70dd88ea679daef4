//! Lambda ARNs and the forms a `FunctionName` parameter may take.

use crate::validation::ValidationError;

/// The region and account under which rayo names its resources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Region {
    /// AWS region name, such as `us-east-1`.
    pub name: String,
    /// Twelve-digit account id.
    pub account_id: String,
}

impl Region {
    /// The ARN of a function, unqualified.
    pub fn function_arn(&self, function_name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:function:{}",
            self.name, self.account_id, function_name
        )
    }

    /// The ARN of a function with a qualifier (version or alias).
    pub fn qualified_function_arn(&self, function_name: &str, qualifier: &str) -> String {
        format!("{}:{}", self.function_arn(function_name), qualifier)
    }
}

/// A function named the way the Lambda API accepts it: a bare name, a partial
/// ARN (`123456789012:function:name`) or a full ARN, each optionally followed
/// by `:qualifier`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRef {
    /// The function's name.
    pub name: String,
    /// `$LATEST`, a version number or an alias, when one was given.
    pub qualifier: Option<String>,
}

const FUNCTION_NAME_PATTERN: &str = "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?";

impl FunctionRef {
    /// Parses a `FunctionName` path parameter.
    pub fn parse(input: &str) -> Result<FunctionRef, ValidationError> {
        let invalid = || {
            ValidationError::constraint(
                "functionName",
                input,
                &format!("Member must satisfy regular expression pattern: {FUNCTION_NAME_PATTERN}"),
            )
        };
        if input.is_empty() || input.len() > 170 {
            return Err(invalid());
        }
        let parts: Vec<&str> = input.split(':').collect();
        let (name, qualifier) = if parts[0] == "arn" {
            // arn:aws:lambda:region:account:function:name[:qualifier]
            if parts.len() < 7 || parts.len() > 8 {
                return Err(invalid());
            }
            if !parts[1].starts_with("aws") || parts[2] != "lambda" || parts[5] != "function" {
                return Err(invalid());
            }
            if !is_account_id(parts[4]) {
                return Err(invalid());
            }
            (parts[6], parts.get(7).copied())
        } else if parts.len() >= 3 && is_account_id(parts[0]) && parts[1] == "function" {
            if parts.len() > 4 {
                return Err(invalid());
            }
            (parts[2], parts.get(3).copied())
        } else {
            match parts.len() {
                1 => (parts[0], None),
                2 => (parts[0], Some(parts[1])),
                _ => return Err(invalid()),
            }
        };
        if !is_function_name(name) {
            return Err(invalid());
        }
        if let Some(qualifier) = qualifier
            && !is_qualifier(qualifier)
        {
            return Err(invalid());
        }
        Ok(FunctionRef {
            name: name.to_string(),
            qualifier: qualifier.map(str::to_string),
        })
    }
}

/// Whether `name` is a valid bare function name (1–64 of `[a-zA-Z0-9-_]`).
pub fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_qualifier(qualifier: &str) -> bool {
    qualifier == "$LATEST"
        || (!qualifier.is_empty()
            && qualifier.len() <= 128
            && qualifier
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<(&str, Option<&str>)>) {
        let actual = FunctionRef::parse(input)
            .ok()
            .map(|r| (r.name, r.qualifier));
        let expected = expected.map(|(n, q)| (n.to_string(), q.map(str::to_string)));
        assert_eq!(actual, expected, "input: {input}");
    }

    #[test]
    fn parses_function_names() {
        check("hello", Some(("hello", None)));
        check("hello:$LATEST", Some(("hello", Some("$LATEST"))));
        check("hello:prod", Some(("hello", Some("prod"))));
        check(
            "arn:aws:lambda:us-east-1:000000000000:function:hello",
            Some(("hello", None)),
        );
        check(
            "arn:aws:lambda:us-east-1:000000000000:function:hello:7",
            Some(("hello", Some("7"))),
        );
        check("000000000000:function:hello", Some(("hello", None)));
        check("000000000000:function:hello:1", Some(("hello", Some("1"))));
        check("", None);
        check("a b", None);
        check("a:b:c", None);
        check("../etc", None);
        check("arn:aws:s3:us-east-1:000000000000:function:hello", None);
        check(&"x".repeat(65), None);
    }
}
