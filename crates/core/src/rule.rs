//! EventBridge rules and their targets, as PutRule and PutTargets store them,
//! and the checks on their names.

use crate::arn::{FunctionRef, Region};
use crate::validation::ValidationError;

/// The only event bus rayo has.
pub const DEFAULT_EVENT_BUS: &str = "default";
/// Targets a rule may have, as EventBridge allows.
pub const MAX_TARGETS_PER_RULE: usize = 5;

const NAME_PATTERN: &str = "[\\.\\-_A-Za-z0-9]+";

/// Whether a rule fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleState {
    /// It fires.
    Enabled,
    /// It does not.
    Disabled,
    /// Enabled, and matching CloudTrail management events too (pattern rules).
    EnabledWithAllCloudtrailManagementEvents,
}

impl RuleState {
    /// Parses AWS's name of a state.
    pub fn parse(text: &str) -> Option<RuleState> {
        match text {
            "ENABLED" => Some(RuleState::Enabled),
            "DISABLED" => Some(RuleState::Disabled),
            "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" => {
                Some(RuleState::EnabledWithAllCloudtrailManagementEvents)
            }
            _ => None,
        }
    }

    /// AWS's name of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleState::Enabled => "ENABLED",
            RuleState::Disabled => "DISABLED",
            RuleState::EnabledWithAllCloudtrailManagementEvents => {
                "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
            }
        }
    }

    /// Whether a rule in this state fires.
    pub fn is_enabled(self) -> bool {
        self != RuleState::Disabled
    }
}

/// A rule on the default event bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Its name, unique on the bus.
    pub name: String,
    /// `rate(...)` or `cron(...)`, already checked, for a scheduled rule.
    pub schedule_expression: Option<String>,
    /// The event pattern (JSON) of a pattern rule; stored, not yet matched.
    pub event_pattern: Option<String>,
    /// Whether it fires.
    pub state: RuleState,
    /// Free text.
    pub description: Option<String>,
    /// The role EventBridge would assume; stored, not used.
    pub role_arn: Option<String>,
}

/// Where a rule sends its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleTarget {
    /// Unique within the rule.
    pub id: String,
    /// The target's ARN: a Lambda function, optionally qualified.
    pub arn: String,
    /// JSON sent instead of the event, verbatim, when set.
    pub input: Option<String>,
}

/// An enabled scheduled rule as the scheduler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledRule {
    /// The rule's name.
    pub name: String,
    /// Its schedule expression.
    pub schedule_expression: String,
    /// Changes whenever the schedule or the state changes, so that the
    /// scheduler never writes a tick computed from an older schedule.
    pub revision: i64,
    /// When it fires next, once the scheduler has worked it out.
    pub next_fire_ms: Option<i64>,
    /// When it last fired.
    pub last_fire_ms: Option<i64>,
    /// Its targets, in the order they were added.
    pub targets: Vec<RuleTarget>,
}

/// What [`crate::store::RuleStore::put_targets`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutTargetsOutcome {
    /// The targets were added or replaced.
    Done,
    /// The rule does not exist.
    RuleNotFound,
    /// The rule would have more than [`MAX_TARGETS_PER_RULE`] targets.
    TooManyTargets,
}

/// What [`crate::store::RuleStore::delete_rule`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteRuleOutcome {
    /// The rule is gone.
    Deleted,
    /// There was no such rule.
    NotFound,
    /// The rule still has targets, so it was kept.
    HasTargets,
}

impl RuleTarget {
    /// The function a target names, when its ARN is a Lambda function's
    /// (`arn:aws:lambda:<region>:<account>:function:<name>[:qualifier]`);
    /// rayo delivers to nothing else yet.
    pub fn function(&self) -> Option<FunctionRef> {
        let mut parts = self.arn.split(':');
        let is_lambda = parts.next() == Some("arn")
            && parts.next().is_some_and(|p| p.starts_with("aws"))
            && parts.next() == Some("lambda");
        if !is_lambda {
            return None;
        }
        FunctionRef::parse(&self.arn).ok()
    }
}

impl Region {
    /// The ARN of a rule on the default event bus.
    pub fn rule_arn(&self, rule_name: &str) -> String {
        format!(
            "arn:aws:events:{}:{}:rule/{}",
            self.name, self.account_id, rule_name
        )
    }
}

/// Checks a rule name (1–64 of `[.-_A-Za-z0-9]`); `field` is the parameter's
/// name as the error names it.
pub fn validate_rule_name(field: &str, name: &str) -> Result<(), ValidationError> {
    validate_name(field, name)
}

/// Checks a target id, which follows the rule name's pattern.
pub fn validate_target_id(field: &str, id: &str) -> Result<(), ValidationError> {
    validate_name(field, id)
}

fn validate_name(field: &str, name: &str) -> Result<(), ValidationError> {
    if name.is_empty() || name.len() > 64 {
        return Err(ValidationError::constraint(
            field,
            name,
            "Member must have length less than or equal to 64",
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
    {
        return Err(ValidationError::constraint(
            field,
            name,
            &format!("Member must satisfy regular expression pattern: {NAME_PATTERN}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["a", "my-rule.v2_x", &"r".repeat(64)] {
            assert_eq!(validate_rule_name("name", ok), Ok(()), "{ok}");
        }
        let error = validate_rule_name("name", "bad name").unwrap_err();
        assert_eq!(
            error.to_string(),
            "1 validation error detected: Value 'bad name' at 'name' failed to satisfy constraint: \
             Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+"
        );
        assert!(validate_target_id("targets.1.member.id", &"t".repeat(65)).is_err());
        assert!(validate_rule_name("name", "").is_err());
    }

    #[test]
    fn states_round_trip() {
        for state in [
            RuleState::Enabled,
            RuleState::Disabled,
            RuleState::EnabledWithAllCloudtrailManagementEvents,
        ] {
            assert_eq!(RuleState::parse(state.as_str()), Some(state));
        }
        assert_eq!(RuleState::parse("enabled"), None);
        assert!(!RuleState::Disabled.is_enabled());
    }

    #[test]
    fn lambda_targets() {
        let function = |arn: &str| {
            RuleTarget {
                id: "t".to_string(),
                arn: arn.to_string(),
                input: None,
            }
            .function()
            .map(|f| (f.name, f.qualifier))
        };
        assert_eq!(
            function("arn:aws:lambda:us-east-1:000000000000:function:tick"),
            Some(("tick".to_string(), None))
        );
        assert_eq!(
            function("arn:aws:lambda:us-east-1:000000000000:function:tick:$LATEST"),
            Some(("tick".to_string(), Some("$LATEST".to_string())))
        );
        assert_eq!(function("arn:aws:sqs:us-east-1:000000000000:queue"), None);
        assert_eq!(function("tick"), None);
        assert_eq!(
            function("arn:aws:lambda:us-east-1:000000000000:function:bad name"),
            None
        );
    }

    #[test]
    fn rule_arns() {
        let region = Region {
            name: "eu-west-1".to_string(),
            account_id: "123456789012".to_string(),
        };
        assert_eq!(
            region.rule_arn("nightly"),
            "arn:aws:events:eu-west-1:123456789012:rule/nightly"
        );
    }
}
