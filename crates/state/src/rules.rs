//! EventBridge rules, their targets and their schedules' ticks.

use std::time::{SystemTime, UNIX_EPOCH};

use rayo_core::rule::{
    DeleteRuleOutcome, MAX_TARGETS_PER_RULE, PutTargetsOutcome, Rule, RuleState, RuleTarget,
    ScheduledRule,
};
use rayo_core::store::{RuleStore, StoreError};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::db::{SqliteState, backend, sql_limit};

impl RuleStore for SqliteState {
    fn put_rule(&self, rule: &Rule) -> Result<(), StoreError> {
        // A rule put again with the same schedule and state keeps its ticks,
        // so that redeploying a stack does not push its schedule back.
        self.connection()
            .prepare_cached(
                "INSERT INTO rules
                     (name, schedule_expression, event_pattern, state, description, role_arn, created_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (name) DO UPDATE SET
                     revision = CASE
                         WHEN rules.schedule_expression IS excluded.schedule_expression
                              AND rules.state = excluded.state
                         THEN rules.revision ELSE rules.revision + 1 END,
                     next_fire_ms = CASE
                         WHEN rules.schedule_expression IS excluded.schedule_expression
                              AND rules.state = excluded.state
                         THEN rules.next_fire_ms ELSE NULL END,
                     schedule_expression = excluded.schedule_expression,
                     event_pattern = excluded.event_pattern,
                     state = excluded.state,
                     description = excluded.description,
                     role_arn = excluded.role_arn",
            )
            .and_then(|mut statement| {
                statement.execute(params![
                    rule.name,
                    rule.schedule_expression,
                    rule.event_pattern,
                    rule.state.as_str(),
                    rule.description,
                    rule.role_arn,
                    now_ms(),
                ])
            })
            .map_err(backend)?;
        Ok(())
    }

    fn get_rule(&self, name: &str) -> Result<Option<Rule>, StoreError> {
        self.connection()
            .prepare_cached(&format!("SELECT {RULE_COLUMNS} FROM rules WHERE name = ?1"))
            .and_then(|mut statement| statement.query_row([name], rule_from_row).optional())
            .map_err(backend)
    }

    fn list_rules(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Rule>, StoreError> {
        // `substr` rather than LIKE: names may hold `_`, LIKE's wildcard.
        self.connection()
            .prepare_cached(&format!(
                "SELECT {RULE_COLUMNS} FROM rules
                 WHERE (?1 IS NULL OR substr(name, 1, length(?1)) = ?1)
                   AND (?2 IS NULL OR name > ?2)
                 ORDER BY name LIMIT ?3"
            ))
            .and_then(|mut statement| {
                statement
                    .query_map(params![prefix, after, sql_limit(limit)], rule_from_row)?
                    .collect()
            })
            .map_err(backend)
    }

    fn set_rule_state(&self, name: &str, state: RuleState) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .prepare_cached(
                "UPDATE rules SET
                     revision = CASE WHEN state = ?2 THEN revision ELSE revision + 1 END,
                     next_fire_ms = CASE WHEN state = ?2 THEN next_fire_ms ELSE NULL END,
                     state = ?2
                 WHERE name = ?1",
            )
            .and_then(|mut statement| statement.execute(params![name, state.as_str()]))
            .map_err(backend)?;
        Ok(changed > 0)
    }

    fn delete_rule(&self, name: &str) -> Result<DeleteRuleOutcome, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        if !rule_exists(&transaction, name)? {
            return Ok(DeleteRuleOutcome::NotFound);
        }
        if count_targets(&transaction, name)? > 0 {
            return Ok(DeleteRuleOutcome::HasTargets);
        }
        transaction
            .execute("DELETE FROM rules WHERE name = ?1", [name])
            .map_err(backend)?;
        transaction.commit().map_err(backend)?;
        Ok(DeleteRuleOutcome::Deleted)
    }

    fn put_targets(
        &self,
        rule_name: &str,
        targets: &[RuleTarget],
    ) -> Result<PutTargetsOutcome, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        if !rule_exists(&transaction, rule_name)? {
            return Ok(PutTargetsOutcome::RuleNotFound);
        }
        {
            let mut statement = transaction
                .prepare_cached(
                    "INSERT INTO rule_targets (rule_name, id, arn, input) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (rule_name, id) DO UPDATE SET
                         arn = excluded.arn, input = excluded.input",
                )
                .map_err(backend)?;
            for target in targets {
                statement
                    .execute(params![rule_name, target.id, target.arn, target.input])
                    .map_err(backend)?;
            }
        }
        // Dropping the transaction without committing rolls the targets back.
        if count_targets(&transaction, rule_name)? > MAX_TARGETS_PER_RULE {
            return Ok(PutTargetsOutcome::TooManyTargets);
        }
        transaction.commit().map_err(backend)?;
        Ok(PutTargetsOutcome::Done)
    }

    fn remove_targets(&self, rule_name: &str, ids: &[String]) -> Result<bool, StoreError> {
        let mut connection = self.connection();
        let transaction = connection.transaction().map_err(backend)?;
        if !rule_exists(&transaction, rule_name)? {
            return Ok(false);
        }
        {
            let mut statement = transaction
                .prepare_cached("DELETE FROM rule_targets WHERE rule_name = ?1 AND id = ?2")
                .map_err(backend)?;
            for id in ids {
                statement.execute(params![rule_name, id]).map_err(backend)?;
            }
        }
        transaction.commit().map_err(backend)?;
        Ok(true)
    }

    fn list_targets(&self, rule_name: &str) -> Result<Option<Vec<RuleTarget>>, StoreError> {
        let connection = self.connection();
        if !rule_exists(&connection, rule_name)? {
            return Ok(None);
        }
        targets_of(&connection, rule_name).map(Some)
    }

    fn scheduled_rules(&self) -> Result<Vec<ScheduledRule>, StoreError> {
        let connection = self.connection();
        let mut rules: Vec<ScheduledRule> = connection
            .prepare_cached(
                "SELECT name, schedule_expression, revision, next_fire_ms, last_fire_ms
                 FROM rules
                 WHERE schedule_expression IS NOT NULL AND state != 'DISABLED'
                 ORDER BY name",
            )
            .and_then(|mut statement| {
                statement
                    .query_map([], |row| {
                        Ok(ScheduledRule {
                            name: row.get(0)?,
                            schedule_expression: row.get(1)?,
                            revision: row.get(2)?,
                            next_fire_ms: row.get(3)?,
                            last_fire_ms: row.get(4)?,
                            targets: Vec::new(),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(backend)?;
        for rule in &mut rules {
            rule.targets = targets_of(&connection, &rule.name)?;
        }
        Ok(rules)
    }

    fn record_ticks(
        &self,
        name: &str,
        revision: i64,
        last_fire_ms: Option<i64>,
        next_fire_ms: Option<i64>,
    ) -> Result<bool, StoreError> {
        let changed = self
            .connection()
            .prepare_cached(
                "UPDATE rules SET last_fire_ms = COALESCE(?3, last_fire_ms), next_fire_ms = ?4
                 WHERE name = ?1 AND revision = ?2",
            )
            .and_then(|mut statement| {
                statement.execute(params![name, revision, last_fire_ms, next_fire_ms])
            })
            .map_err(backend)?;
        Ok(changed > 0)
    }
}

const RULE_COLUMNS: &str = "name, schedule_expression, event_pattern, state, description, role_arn";

fn rule_from_row(row: &Row<'_>) -> rusqlite::Result<Rule> {
    let state: String = row.get(3)?;
    Ok(Rule {
        name: row.get(0)?,
        schedule_expression: row.get(1)?,
        event_pattern: row.get(2)?,
        // Only `RuleState::as_str` writes this column.
        state: RuleState::parse(&state).unwrap_or(RuleState::Disabled),
        description: row.get(4)?,
        role_arn: row.get(5)?,
    })
}

fn rule_exists(connection: &Connection, name: &str) -> Result<bool, StoreError> {
    connection
        .prepare_cached("SELECT 1 FROM rules WHERE name = ?1")
        .and_then(|mut statement| statement.exists([name]))
        .map_err(backend)
}

fn count_targets(connection: &Connection, rule_name: &str) -> Result<usize, StoreError> {
    connection
        .prepare_cached("SELECT COUNT(*) FROM rule_targets WHERE rule_name = ?1")
        .and_then(|mut statement| statement.query_row([rule_name], |row| row.get::<_, i64>(0)))
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .map_err(backend)
}

fn targets_of(connection: &Connection, rule_name: &str) -> Result<Vec<RuleTarget>, StoreError> {
    connection
        .prepare_cached(
            "SELECT id, arn, input FROM rule_targets WHERE rule_name = ?1 ORDER BY rowid",
        )
        .and_then(|mut statement| {
            statement
                .query_map([rule_name], |row| {
                    Ok(RuleTarget {
                        id: row.get(0)?,
                        arn: row.get(1)?,
                        input: row.get(2)?,
                    })
                })?
                .collect()
        })
        .map_err(backend)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(name: &str, schedule: &str) -> Rule {
        Rule {
            name: name.to_string(),
            schedule_expression: Some(schedule.to_string()),
            event_pattern: None,
            state: RuleState::Enabled,
            description: None,
            role_arn: None,
        }
    }

    fn target(id: &str) -> RuleTarget {
        RuleTarget {
            id: id.to_string(),
            arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{id}"),
            input: None,
        }
    }

    fn names(rules: &[Rule]) -> Vec<&str> {
        rules.iter().map(|r| r.name.as_str()).collect()
    }

    #[test]
    fn put_get_list_and_replace_rules() {
        let state = SqliteState::open_in_memory().unwrap();
        assert_eq!(state.get_rule("a").unwrap(), None);
        for name in ["b_x", "a", "bax", "c"] {
            state.put_rule(&rule(name, "rate(1 minute)")).unwrap();
        }
        let mut described = rule("a", "cron(0 10 * * ? *)");
        described.description = Some("ten o'clock".to_string());
        described.state = RuleState::Disabled;
        state.put_rule(&described).unwrap();
        assert_eq!(state.get_rule("a").unwrap(), Some(described));
        assert_eq!(
            names(&state.list_rules(None, None, 10).unwrap()),
            ["a", "b_x", "bax", "c"]
        );
        // `_` is a plain character in a prefix, not a wildcard.
        assert_eq!(
            names(&state.list_rules(Some("b_"), None, 10).unwrap()),
            ["b_x"]
        );
        assert_eq!(
            names(&state.list_rules(None, Some("b_x"), 1).unwrap()),
            ["bax"]
        );
    }

    #[test]
    fn targets_keep_their_order_and_a_rule_with_targets_stays() {
        let state = SqliteState::open_in_memory().unwrap();
        assert_eq!(
            state.put_targets("r", &[target("t")]).unwrap(),
            PutTargetsOutcome::RuleNotFound
        );
        assert_eq!(state.list_targets("r").unwrap(), None);
        state.put_rule(&rule("r", "rate(1 minute)")).unwrap();
        let outcome = state.put_targets("r", &[target("z"), target("a")]).unwrap();
        assert_eq!(outcome, PutTargetsOutcome::Done);
        let mut replaced = target("z");
        replaced.input = Some(r#"{"k":1}"#.to_string());
        state.put_targets("r", &[replaced.clone()]).unwrap();
        assert_eq!(
            state.list_targets("r").unwrap(),
            Some(vec![replaced, target("a")])
        );
        assert_eq!(
            state.delete_rule("r").unwrap(),
            DeleteRuleOutcome::HasTargets
        );
        // Six targets are one too many; none of the request is kept.
        let many: Vec<RuleTarget> = ["b", "c", "d", "e"].map(target).to_vec();
        assert_eq!(
            state.put_targets("r", &many).unwrap(),
            PutTargetsOutcome::TooManyTargets
        );
        assert_eq!(state.list_targets("r").unwrap().unwrap().len(), 2);
        assert!(
            state
                .remove_targets("r", &["z".to_string(), "a".to_string(), "gone".to_string()])
                .unwrap()
        );
        assert!(!state.remove_targets("nope", &["z".to_string()]).unwrap());
        assert_eq!(state.delete_rule("r").unwrap(), DeleteRuleOutcome::Deleted);
        assert_eq!(state.delete_rule("r").unwrap(), DeleteRuleOutcome::NotFound);
    }

    #[test]
    fn ticks_are_kept_until_the_schedule_or_state_changes() {
        let state = SqliteState::open_in_memory().unwrap();
        state.put_rule(&rule("r", "rate(1 minute)")).unwrap();
        state.put_targets("r", &[target("f")]).unwrap();
        let mut off = rule("off", "rate(1 minute)");
        off.state = RuleState::Disabled;
        state.put_rule(&off).unwrap();
        let mut pattern = rule("pattern", "");
        pattern.schedule_expression = None;
        pattern.event_pattern = Some(r#"{"source":["x"]}"#.to_string());
        state.put_rule(&pattern).unwrap();

        let scheduled = state.scheduled_rules().unwrap();
        assert_eq!(scheduled.len(), 1);
        let first = &scheduled[0];
        assert_eq!(first.name, "r");
        assert_eq!(first.next_fire_ms, None);
        assert_eq!(first.targets, vec![target("f")]);
        assert!(
            state
                .record_ticks("r", first.revision, None, Some(60_000))
                .unwrap()
        );
        assert!(
            state
                .record_ticks("r", first.revision, Some(60_000), Some(120_000))
                .unwrap()
        );

        // The same rule put again keeps its ticks.
        state.put_rule(&rule("r", "rate(1 minute)")).unwrap();
        let again = &state.scheduled_rules().unwrap()[0];
        assert_eq!(again.revision, first.revision);
        assert_eq!(
            (again.last_fire_ms, again.next_fire_ms),
            (Some(60_000), Some(120_000))
        );

        // A new schedule forgets the next tick, and a tick worked out from
        // the old one is not written.
        state.put_rule(&rule("r", "rate(5 minutes)")).unwrap();
        let changed = &state.scheduled_rules().unwrap()[0];
        assert_ne!(changed.revision, first.revision);
        assert_eq!(changed.next_fire_ms, None);
        assert!(
            !state
                .record_ticks("r", first.revision, None, Some(1))
                .unwrap()
        );

        // Disabling hides the rule from the scheduler; enabling starts it afresh.
        assert!(state.set_rule_state("r", RuleState::Disabled).unwrap());
        assert!(state.scheduled_rules().unwrap().is_empty());
        assert!(state.set_rule_state("r", RuleState::Enabled).unwrap());
        let enabled = &state.scheduled_rules().unwrap()[0];
        assert!(enabled.revision > changed.revision);
        assert!(!state.set_rule_state("absent", RuleState::Enabled).unwrap());
    }
}
