//! Published versions, aliases, layers and provisioned concurrency: names,
//! ARNs, Lambda's checks on them, and how a weighted alias picks a version.

use time::OffsetDateTime;

use crate::arn::Region;
use crate::function::CodeRef;
use crate::validation::ValidationError;

/// Most layers one function may use.
pub const LAYERS_PER_FUNCTION_MAX: usize = 5;

/// A function alias: a name pointing at a version, and optionally a second
/// version that gets a share of the invocations.
#[derive(Debug, Clone, PartialEq)]
pub struct Alias {
    /// The function it belongs to.
    pub function_name: String,
    /// The alias name.
    pub name: String,
    /// The version it points at (`$LATEST` or a number).
    pub function_version: String,
    /// Free-form description.
    pub description: String,
    /// `RoutingConfig.AdditionalVersionWeights`: at most one version and the
    /// share (0 to 1) of invocations it gets.
    pub additional_version_weights: Vec<(String, f64)>,
    /// Changes with every update.
    pub revision_id: String,
}

impl Alias {
    /// The version an invocation runs, given `roll`, a number drawn
    /// uniformly from `[0, 1)`: the additional version when `roll` falls
    /// under its weight, the alias's own version otherwise.
    pub fn pick_version(&self, roll: f64) -> &str {
        let mut threshold = 0.0;
        for (version, weight) in &self.additional_version_weights {
            threshold += weight;
            if roll < threshold {
                return version;
            }
        }
        &self.function_version
    }
}

/// A version or alias kept initialized ahead of invocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedConcurrencyConfig {
    /// The function.
    pub function_name: String,
    /// A version number or an alias, never `$LATEST`.
    pub qualifier: String,
    /// How many instances to keep ready.
    pub requested: u32,
    /// When it last changed.
    pub last_modified: OffsetDateTime,
}

/// One published version of a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerVersion {
    /// The layer's name.
    pub layer_name: String,
    /// Its number, from 1, never reused.
    pub version: u64,
    /// Free-form description.
    pub description: String,
    /// Runtimes it says it suits, kept as given.
    pub compatible_runtimes: Vec<String>,
    /// Architectures it says it suits, kept as given.
    pub compatible_architectures: Vec<String>,
    /// License, kept as given.
    pub license_info: Option<String>,
    /// The archive.
    pub code: CodeRef,
    /// When it was published.
    pub created: OffsetDateTime,
}

/// What PublishVersion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// A new version, numbered after the last one.
    New(crate::function::FunctionConfig),
    /// `$LATEST` had not changed since the last version, which is returned.
    Unchanged(crate::function::FunctionConfig),
}

/// Whether `qualifier` names a published version: digits only.
pub fn is_version_number(qualifier: &str) -> bool {
    !qualifier.is_empty() && qualifier.bytes().all(|b| b.is_ascii_digit())
}

/// Checks an alias name: 1–128 of `[a-zA-Z0-9-_]`, not all digits.
pub fn validate_alias_name(name: &str) -> Result<(), ValidationError> {
    let valid = !name.is_empty()
        && name.len() <= 128
        && !is_version_number(name)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(ValidationError::constraint(
            "name",
            name,
            "Member must satisfy regular expression pattern: (?!^[0-9]+$)([a-zA-Z0-9-_]+)",
        ))
    }
}

/// Checks a `FunctionVersion` an alias points at: `$LATEST` or a number.
pub fn validate_alias_version(version: &str) -> Result<(), ValidationError> {
    if version == crate::function::LATEST || is_version_number(version) {
        Ok(())
    } else {
        Err(ValidationError::constraint(
            "functionVersion",
            version,
            "Member must satisfy regular expression pattern: (\\$LATEST|[0-9]+)",
        ))
    }
}

/// Checks a routing configuration as Lambda does: at most one additional
/// version, a published one other than the alias's, weighted 0 to 1.
pub fn validate_routing(
    function_version: &str,
    weights: &[(String, f64)],
) -> Result<(), ValidationError> {
    if weights.len() > 1 {
        return Err(ValidationError::invalid(
            "Number of items in AdditionalVersionWeights cannot be greater than 1",
        ));
    }
    for (version, weight) in weights {
        if !(0.0..=1.0).contains(weight) || weight.is_nan() {
            return Err(ValidationError::constraint(
                "routingConfig.additionalVersionWeights",
                &weight.to_string(),
                "Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]",
            ));
        }
        if !is_version_number(version) {
            return Err(ValidationError::invalid(format!(
                "Invalid function version {version}. Function version {version} is not a published version."
            )));
        }
        if function_version == crate::function::LATEST {
            return Err(ValidationError::invalid(
                "$LATEST is not supported for an alias pointing to more than 1 version",
            ));
        }
        if version == function_version {
            return Err(ValidationError::invalid(format!(
                "Invalid function version {version}. Function version {version} is already included in routing configuration."
            )));
        }
    }
    Ok(())
}

/// Checks a layer name: 1–140 of `[a-zA-Z0-9-_]`.
pub fn is_layer_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 140
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Region {
    /// The ARN of a layer, without a version.
    pub fn layer_arn(&self, layer_name: &str) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{}",
            self.name, self.account_id, layer_name
        )
    }

    /// The ARN of a layer version.
    pub fn layer_version_arn(&self, layer_name: &str, version: u64) -> String {
        format!("{}:{version}", self.layer_arn(layer_name))
    }
}

/// A layer named by its ARN: `(name, version)`, or `None` when `arn` is not
/// a layer ARN of this region and account. `version` is `None` for a layer
/// ARN without one.
pub fn parse_layer_arn(region: &Region, arn: &str) -> Option<(String, Option<u64>)> {
    // arn:aws:lambda:<region>:<account>:layer:<name>[:<version>]
    let parts: Vec<&str> = arn.split(':').collect();
    if !(7..=8).contains(&parts.len())
        || parts[0] != "arn"
        || !parts[1].starts_with("aws")
        || parts[2] != "lambda"
        || parts[3] != region.name
        || parts[4] != region.account_id
        || parts[5] != "layer"
        || !is_layer_name(parts[6])
    {
        return None;
    }
    let version = match parts.get(7) {
        Some(v) => Some(v.parse::<u64>().ok()?),
        None => None,
    };
    Some((parts[6].to_string(), version))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(version: &str, weights: &[(&str, f64)]) -> Alias {
        Alias {
            function_name: "f".to_string(),
            name: "live".to_string(),
            function_version: version.to_string(),
            description: String::new(),
            additional_version_weights: weights.iter().map(|(v, w)| (v.to_string(), *w)).collect(),
            revision_id: String::new(),
        }
    }

    #[test]
    fn weighted_aliases_pick_by_roll() {
        let check = |a: &Alias, roll: f64, expected: &str| {
            assert_eq!(a.pick_version(roll), expected, "roll {roll}");
        };
        let plain = alias("1", &[]);
        check(&plain, 0.0, "1");
        check(&plain, 0.99, "1");
        let split = alias("1", &[("2", 0.3)]);
        check(&split, 0.0, "2");
        check(&split, 0.29, "2");
        check(&split, 0.3, "1");
        check(&split, 0.99, "1");
        let none = alias("1", &[("2", 0.0)]);
        check(&none, 0.0, "1");
        let all = alias("1", &[("2", 1.0)]);
        check(&all, 0.999, "2");
    }

    #[test]
    fn alias_names_and_routing() {
        assert!(validate_alias_name("live").is_ok());
        assert!(validate_alias_name("blue-green_2").is_ok());
        assert!(validate_alias_name("12").is_err());
        assert!(validate_alias_name("").is_err());
        assert!(validate_alias_name("a:b").is_err());
        assert!(validate_alias_version("$LATEST").is_ok());
        assert!(validate_alias_version("3").is_ok());
        assert!(validate_alias_version("live").is_err());
        let w = |v: &str, x: f64| vec![(v.to_string(), x)];
        assert!(validate_routing("1", &w("2", 0.5)).is_ok());
        assert!(validate_routing("1", &w("2", 1.5)).is_err());
        assert!(validate_routing("1", &w("2", -0.1)).is_err());
        assert!(validate_routing("1", &w("1", 0.5)).is_err());
        assert!(validate_routing("$LATEST", &w("2", 0.5)).is_err());
        assert!(validate_routing("1", &w("$LATEST", 0.5)).is_err());
        let two = vec![("2".to_string(), 0.1), ("3".to_string(), 0.1)];
        assert!(validate_routing("1", &two).is_err());
    }

    #[test]
    fn layer_arns() {
        let region = Region {
            name: "us-east-1".to_string(),
            account_id: "000000000000".to_string(),
        };
        let check = |arn: &str, expected: Option<(&str, Option<u64>)>| {
            assert_eq!(
                parse_layer_arn(&region, arn),
                expected.map(|(n, v)| (n.to_string(), v)),
                "{arn}"
            );
        };
        check(
            "arn:aws:lambda:us-east-1:000000000000:layer:pandas:3",
            Some(("pandas", Some(3))),
        );
        check(
            "arn:aws:lambda:us-east-1:000000000000:layer:pandas",
            Some(("pandas", None)),
        );
        check("arn:aws:lambda:us-east-1:000000000000:layer:pandas:x", None);
        check("arn:aws:lambda:eu-west-1:000000000000:layer:pandas:1", None);
        check("arn:aws:lambda:us-east-1:000000000000:function:f:1", None);
        check("pandas", None);
        assert_eq!(
            region.layer_version_arn("pandas", 2),
            "arn:aws:lambda:us-east-1:000000000000:layer:pandas:2"
        );
    }
}
