//! Runs EventBridge schedules: sleeps until the next enabled rule is due,
//! sends each of its targets the scheduled event (or the target's `Input`)
//! as an asynchronous invocation, which is durable from then on, and records
//! the rule's last and next tick in the store.
//!
//! Missed ticks are skipped, never replayed: a tick that came due while rayo
//! was stopped is dropped, and each rule resumes at its next tick in the
//! future (a rate keeps its phase). While running, a due rule fires once for
//! its tick even if the scheduler woke late, and ticks it slept through
//! beyond that one are skipped too, so that a suspended machine does not
//! wake to a burst of stale runs. A crash between handing a tick's events
//! to the queue and recording the tick cannot fire it twice: at the restart
//! that tick is in the past, and skipped.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rayo_core::Region;
use rayo_core::rule::ScheduledRule;
use rayo_core::schedule::Schedule;
use rayo_core::store::{RuleStore, StoreError};
use time::OffsetDateTime;
use time::macros::format_description;
use tokio::sync::{Notify, watch};

use crate::{InvokeRequest, Invoker};

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub struct ScheduleOptions {
    /// How much faster than real time the schedules' clock runs; 1 in
    /// production. Tests speed schedules up with it (at 60, `rate(1 minute)`
    /// fires every second); the clock starts at the real time when the
    /// scheduler starts, so event times run ahead of the wall clock.
    pub time_scale: f64,
}

impl Default for ScheduleOptions {
    fn default() -> ScheduleOptions {
        ScheduleOptions { time_scale: 1.0 }
    }
}

/// The running scheduler.
#[derive(Debug)]
pub struct Scheduler {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// The rules are read again at least this often (in real time), whatever
/// the next tick: a safety net, since every change through the API wakes the
/// scheduler anyway.
const REREAD: Duration = Duration::from_secs(60);

impl Scheduler {
    /// Starts running the schedules of `rules`; `rules_changed` wakes the
    /// scheduler after a rule changes.
    pub fn start(
        invoker: Invoker,
        rules: Arc<dyn RuleStore>,
        rules_changed: Arc<Notify>,
        options: ScheduleOptions,
    ) -> Scheduler {
        let (stop, stopped) = watch::channel(false);
        let clock = Clock::new(options.time_scale);
        let task = tokio::spawn(run(invoker, rules, rules_changed, clock, stopped));
        Scheduler { stop, task }
    }

    /// Stops firing; events already handed over stay in the durable queue.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn run(
    invoker: Invoker,
    rules: Arc<dyn RuleStore>,
    rules_changed: Arc<Notify>,
    clock: Clock,
    mut stopped: watch::Receiver<bool>,
) {
    let mut starting = true;
    loop {
        if *stopped.borrow() {
            break;
        }
        let now = clock.now_ms();
        let next_due = match run_due(&invoker, rules.as_ref(), now, starting).await {
            Ok(next_due) => {
                starting = false;
                next_due
            }
            Err(error) => {
                tracing::error!(%error, "could not read the schedules");
                None
            }
        };
        let wait = next_due
            .map(|due| clock.real_duration(due - clock.now_ms()))
            .unwrap_or(REREAD)
            .min(REREAD);
        tokio::select! {
            _ = rules_changed.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopped.changed() => {}
        }
    }
}

/// Fires every rule due at `now_ms` and returns when the next one is due.
/// At `starting`, ticks in the past were missed while rayo was stopped.
async fn run_due(
    invoker: &Invoker,
    rules: &dyn RuleStore,
    now_ms: i64,
    starting: bool,
) -> Result<Option<i64>, StoreError> {
    let mut earliest: Option<i64> = None;
    for rule in rules.scheduled_rules()? {
        let schedule = match Schedule::parse(&rule.schedule_expression) {
            Ok(schedule) => schedule,
            Err(error) => {
                tracing::warn!(rule = %rule.name, %error, "skipping a rule whose schedule no longer parses");
                continue;
            }
        };
        let (last, next) = advance(&schedule, &rule, now_ms, starting);
        if let Some(tick) = last {
            fire(invoker, &rule, tick).await;
        }
        if (last.is_some() || next != rule.next_fire_ms)
            && !rules.record_ticks(&rule.name, rule.revision, last, next)?
        {
            // The rule changed meanwhile: it is worked out again at once.
            earliest = Some(now_ms);
        }
        if let Some(next) = next {
            earliest = Some(earliest.map_or(next, |e| e.min(next)));
        }
    }
    Ok(earliest)
}

/// Where a rule stands at `now_ms`: the tick to fire now, if any, and the
/// next one.
fn advance(
    schedule: &Schedule,
    rule: &ScheduledRule,
    now_ms: i64,
    starting: bool,
) -> (Option<i64>, Option<i64>) {
    let due = match rule.next_fire_ms {
        None => return (None, schedule.first_after(now_ms)),
        Some(due) if starting && due < now_ms => {
            let resumed = schedule.resume(due, now_ms);
            tracing::info!(rule = %rule.name, "ticks were missed while rayo was stopped; the rule resumes at its next tick");
            return (None, resumed);
        }
        Some(due) if starting => return (None, schedule.resume(due, now_ms)),
        Some(due) => due,
    };
    if due > now_ms {
        return (None, Some(due));
    }
    let mut next = schedule.next_after(due);
    if let Some(following) = next
        && following <= now_ms
    {
        tracing::info!(rule = %rule.name, "the scheduler woke late; ticks it slept through are skipped");
        next = schedule.resume(following, now_ms + 1);
    }
    (Some(due), next)
}

/// Hands the tick's events to the durable asynchronous queue.
async fn fire(invoker: &Invoker, rule: &ScheduledRule, tick_ms: i64) {
    if rule.targets.is_empty() {
        return;
    }
    // One event per tick, the same for every target, as EventBridge sends it.
    let event_id = uuid::Uuid::new_v4().to_string();
    let event = scheduled_event(&invoker.region, &rule.name, &event_id, tick_ms);
    for target in &rule.targets {
        let Some(function) = target.function() else {
            tracing::warn!(rule = %rule.name, target = %target.id, arn = %target.arn,
                "rayo delivers scheduled events to Lambda functions only");
            continue;
        };
        let payload = target.input.clone().unwrap_or_else(|| event.clone());
        let request = InvokeRequest {
            function,
            payload: Bytes::from(payload),
            client_context: None,
            request_id: None,
        };
        match invoker.invoke_async(request).await {
            Ok(request_id) => {
                tracing::debug!(rule = %rule.name, target = %target.id, %request_id, %event_id, "scheduled event sent");
            }
            Err(error) => {
                tracing::warn!(rule = %rule.name, target = %target.id, %error, "could not send a scheduled event");
            }
        }
    }
}

/// The event EventBridge sends for a schedule's tick, its keys in
/// EventBridge's order.
fn scheduled_event(region: &Region, rule_name: &str, event_id: &str, tick_ms: i64) -> String {
    let quoted = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        r#"{{"version":"0","id":{},"detail-type":"Scheduled Event","source":"aws.events","account":{},"time":{},"region":{},"resources":[{}],"detail":{{}}}}"#,
        quoted(event_id),
        quoted(&region.account_id),
        quoted(&event_time(tick_ms)),
        quoted(&region.name),
        quoted(&region.rule_arn(rule_name)),
    )
}

/// `2026-01-01T12:00:00Z`.
fn event_time(tick_ms: i64) -> String {
    let at = OffsetDateTime::from_unix_timestamp(tick_ms.div_euclid(1000))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .expect("a UTC time formats")
}

/// The schedules' clock: real time, or faster for tests.
#[derive(Debug)]
struct Clock {
    scale: f64,
    started: Instant,
    started_ms: i64,
}

impl Clock {
    fn new(scale: f64) -> Clock {
        let scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        Clock {
            scale,
            started: Instant::now(),
            started_ms: crate::dispatcher::now_ms(),
        }
    }

    fn now_ms(&self) -> i64 {
        if self.scale == 1.0 {
            return crate::dispatcher::now_ms();
        }
        self.started_ms + (self.started.elapsed().as_secs_f64() * 1000.0 * self.scale) as i64
    }

    /// The real time `schedule_ms` of schedule time takes; never negative.
    fn real_duration(&self, schedule_ms: i64) -> Duration {
        Duration::from_secs_f64((schedule_ms.max(0) as f64 / 1000.0) / self.scale)
    }
}

#[cfg(test)]
mod tests {
    use rayo_core::rule::RuleTarget;

    use super::*;

    const MINUTE: i64 = 60_000;

    fn rule(expression: &str, next_fire_ms: Option<i64>) -> ScheduledRule {
        ScheduledRule {
            name: "nightly".to_string(),
            schedule_expression: expression.to_string(),
            revision: 1,
            next_fire_ms,
            last_fire_ms: None,
            targets: vec![RuleTarget {
                id: "t".to_string(),
                arn: "arn:aws:lambda:us-east-1:000000000000:function:f".to_string(),
                input: None,
            }],
        }
    }

    /// `(tick fired, next tick)` for a rule whose next tick is `next` at `now`.
    #[track_caller]
    fn check(
        expression: &str,
        next: Option<i64>,
        now: i64,
        starting: bool,
        expected: (Option<i64>, Option<i64>),
    ) {
        let schedule = Schedule::parse(expression).unwrap();
        assert_eq!(
            advance(&schedule, &rule(expression, next), now, starting),
            expected,
            "{expression}, next {next:?}, now {now}, starting {starting}"
        );
    }

    #[test]
    fn rules_fire_once_per_tick_and_skip_what_was_missed() {
        let rate = "rate(1 minute)";
        // A new rule is first due a period from now.
        check(rate, None, 1_000, false, (None, Some(61_000)));
        // Not yet due; due exactly now; due a little late.
        check(rate, Some(MINUTE), MINUTE - 1, false, (None, Some(MINUTE)));
        check(
            rate,
            Some(MINUTE),
            MINUTE,
            false,
            (Some(MINUTE), Some(2 * MINUTE)),
        );
        check(
            rate,
            Some(MINUTE),
            MINUTE + 900,
            false,
            (Some(MINUTE), Some(2 * MINUTE)),
        );
        // Woken very late: the due tick fires once, the ones slept through are skipped.
        check(
            rate,
            Some(MINUTE),
            5 * MINUTE + 1,
            false,
            (Some(MINUTE), Some(6 * MINUTE)),
        );
        // At start, ticks missed while stopped are skipped; the phase is kept.
        check(
            rate,
            Some(MINUTE),
            3 * MINUTE + 30_000,
            true,
            (None, Some(4 * MINUTE)),
        );
        check(rate, Some(MINUTE), 30_000, true, (None, Some(MINUTE)));
        // A cron rule missed at start resumes at its next matching minute.
        let cron = "cron(0 * * * ? *)";
        let hour = 60 * MINUTE;
        check(cron, Some(hour), 2 * hour + 1, true, (None, Some(3 * hour)));
        check(cron, Some(hour), hour, false, (Some(hour), Some(2 * hour)));
    }

    #[test]
    fn scheduled_event_is_eventbridge_s() {
        let region = Region {
            name: "eu-west-1".to_string(),
            account_id: "123456789012".to_string(),
        };
        // 2026-01-01T12:00:00Z.
        let event = scheduled_event(
            &region,
            "nightly",
            "6f6f2c5e-0000-4000-8000-000000000000",
            1_767_268_800_000,
        );
        assert_eq!(
            event,
            r#"{"version":"0","id":"6f6f2c5e-0000-4000-8000-000000000000","detail-type":"Scheduled Event","source":"aws.events","account":"123456789012","time":"2026-01-01T12:00:00Z","region":"eu-west-1","resources":["arn:aws:events:eu-west-1:123456789012:rule/nightly"],"detail":{}}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&event).unwrap();
        assert_eq!(parsed["detail"], serde_json::json!({}));
    }

    #[test]
    fn a_faster_clock_sleeps_less() {
        let clock = Clock::new(60.0);
        assert_eq!(clock.real_duration(60_000), Duration::from_secs(1));
        assert_eq!(clock.real_duration(-5), Duration::ZERO);
        let real = Clock::new(0.0);
        assert_eq!(real.real_duration(1_500), Duration::from_millis(1_500));
    }
}
