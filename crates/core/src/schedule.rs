//! Schedule expressions as EventBridge writes them — `rate(5 minutes)` and
//! `cron(0 12 * * ? *)` — and when they fire, in UTC.
//!
//! Times are milliseconds since the epoch. A rate schedule ticks every period
//! from the moment it takes effect, to the second; a cron schedule ticks on
//! the minutes its six fields (minutes, hours, day-of-month, month,
//! day-of-week, year) match. Cron matching is croner's, behind an adapter that
//! speaks AWS's dialect: days of the week count from `1` (Sunday) to `7`,
//! exactly one of the two day fields is `?`, names are checked field by field,
//! and a lone `L` in the day-of-week field means Saturday.

use std::cmp::Ordering;

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::time::{CivilDate, CivilDateTime, CivilTime, CronDateTime, Resolution, Weekday};
use thiserror::Error;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// A parsed `ScheduleExpression`.
#[derive(Debug, Clone)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone)]
enum Kind {
    /// `rate(value unit)`: a fixed period, in milliseconds.
    Rate { period_ms: i64 },
    /// `cron(...)`: the parsed pattern, with seconds fixed at 0.
    Cron(Box<croner::Cron>),
}

/// Why a schedule expression was refused. The edge words the whole message
/// as AWS does ("Parameter ScheduleExpression is not valid.") and adds this
/// as the reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct ScheduleError(String);

/// Lowest year a cron expression's year field accepts, as EventBridge's.
const YEAR_MIN: u32 = 1970;
/// Highest year a cron expression's year field accepts, as EventBridge's.
const YEAR_MAX: u32 = 2199;
/// The longest rate period accepted; longer ones would overflow the clock.
const RATE_MAX_MS: i64 = 100 * 366 * 86_400_000;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
/// Day names in AWS's numbering: SUN is 1, SAT is 7.
const DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Schedule {
    /// Parses `rate(...)` or `cron(...)` as EventBridge accepts them.
    pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
        if let Some(inner) = strip_call(expression, "rate") {
            let period_ms = parse_rate(inner)?;
            Ok(Schedule {
                kind: Kind::Rate { period_ms },
            })
        } else if let Some(inner) = strip_call(expression, "cron") {
            Ok(Schedule {
                kind: Kind::Cron(Box::new(parse_cron(inner)?)),
            })
        } else {
            Err(ScheduleError(
                "an expression is rate(value unit) or cron(minutes hours day-of-month month day-of-week year)"
                    .to_string(),
            ))
        }
    }

    /// The period of a rate schedule, in milliseconds; `None` for cron.
    pub fn rate_period_ms(&self) -> Option<i64> {
        match &self.kind {
            Kind::Rate { period_ms } => Some(*period_ms),
            Kind::Cron(_) => None,
        }
    }

    /// The first tick of a schedule that takes effect at `start_ms`: one
    /// period after it (to the second) for a rate, the first matching minute
    /// after it for cron. `None` when the schedule never fires again.
    pub fn first_after(&self, start_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Rate { period_ms } => Some(floor_second(start_ms) + period_ms),
            Kind::Cron(cron) => cron_next(cron, start_ms, false),
        }
    }

    /// The tick after the tick at `tick_ms`.
    pub fn next_after(&self, tick_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Rate { period_ms } => Some(tick_ms + period_ms),
            Kind::Cron(cron) => cron_next(cron, tick_ms, false),
        }
    }

    /// Where a schedule whose next tick was `due_ms` resumes at `now_ms`,
    /// without catching up on ticks it missed: its first tick at or after
    /// `now_ms`. A rate keeps its phase (a tick every period counted from
    /// `due_ms`); a `due_ms` more than a period ahead of `now_ms`, which no
    /// clock running forward can have written, restarts it from `now_ms`.
    pub fn resume(&self, due_ms: i64, now_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Rate { period_ms } => {
                let period_ms = *period_ms;
                if due_ms >= now_ms {
                    if due_ms - now_ms <= period_ms {
                        Some(due_ms)
                    } else {
                        Some(floor_second(now_ms) + period_ms)
                    }
                } else {
                    let missed = (now_ms - due_ms + period_ms - 1) / period_ms;
                    Some(due_ms + missed * period_ms)
                }
            }
            Kind::Cron(cron) => cron_next(cron, now_ms, true),
        }
    }
}

/// `name(inner)` → `inner`.
fn strip_call<'a>(expression: &'a str, name: &str) -> Option<&'a str> {
    expression
        .strip_prefix(name)?
        .strip_prefix('(')?
        .strip_suffix(')')
}

fn parse_rate(inner: &str) -> Result<i64, ScheduleError> {
    let invalid = |why: &str| ScheduleError(format!("rate({inner}): {why}"));
    let mut parts = inner.split(' ');
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(
            "a rate is a positive whole number and a unit, such as rate(5 minutes)",
        ));
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("the value must be a positive whole number"));
    }
    let value: i64 = value
        .parse()
        .map_err(|_| invalid("the value is too large"))?;
    if value == 0 {
        return Err(invalid("the value must be a positive whole number"));
    }
    let (unit_ms, singular) = match unit {
        "minute" => (60_000, true),
        "minutes" => (60_000, false),
        "hour" => (3_600_000, true),
        "hours" => (3_600_000, false),
        "day" => (86_400_000, true),
        "days" => (86_400_000, false),
        _ => return Err(invalid("the unit must be minute(s), hour(s) or day(s)")),
    };
    if value == 1 && !singular {
        return Err(invalid("the unit must be singular when the value is 1"));
    }
    if value > 1 && singular {
        return Err(invalid(
            "the unit must be plural when the value is greater than 1",
        ));
    }
    value
        .checked_mul(unit_ms)
        .filter(|period| *period <= RATE_MAX_MS)
        .ok_or_else(|| invalid("the period is longer than 100 years"))
}

fn parse_cron(inner: &str) -> Result<croner::Cron, ScheduleError> {
    let invalid = |why: String| ScheduleError(format!("cron({inner}): {why}"));
    let fields: Vec<&str> = inner.split_whitespace().collect();
    if fields.len() != 6 {
        return Err(invalid(format!(
            "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {}",
            fields.len()
        )));
    }
    let upper: Vec<String> = fields.iter().map(|f| f.to_ascii_uppercase()).collect();
    let [minutes, hours, day_of_month, month, day_of_week, year] =
        <[String; 6]>::try_from(upper).expect("six fields were counted");
    match (day_of_month == "?", day_of_week == "?") {
        (true, true) => {
            return Err(invalid(
                "only one of day-of-month and day-of-week may be ?".to_string(),
            ));
        }
        (false, false) => {
            return Err(invalid(
                "day-of-month and day-of-week cannot both be set: one of them must be ?"
                    .to_string(),
            ));
        }
        _ => {}
    }
    for (name, field, extra) in [
        ("minutes", &minutes, ""),
        ("hours", &hours, ""),
        ("day-of-month", &day_of_month, "?LW"),
        ("month", &month, ""),
        ("day-of-week", &day_of_week, "?L#"),
        ("year", &year, ""),
    ] {
        let names: &[&str] = match name {
            "month" => &MONTH_NAMES,
            "day-of-week" => &DAY_NAMES,
            _ => &[],
        };
        check_characters(name, field, extra, names).map_err(invalid)?;
    }
    let month = replace_names(&month, &MONTH_NAMES);
    let mut day_of_week = replace_names(&day_of_week, &DAY_NAMES);
    // In AWS's dialect a lone `L` is the last day of the week, Saturday.
    if day_of_week == "L" {
        day_of_week = "7".to_string();
    }
    check_years(&year).map_err(invalid)?;
    let pattern = format!("0 {minutes} {hours} {day_of_month} {month} {day_of_week} {year}");
    CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .alternative_weekdays(true)
        .sloppy_ranges(true)
        .build()
        .parse(&pattern)
        .map_err(|error| invalid(describe_cron_error(&error)))
}

/// Refuses characters a field cannot hold, and names of another field.
fn check_characters(name: &str, field: &str, extra: &str, names: &[&str]) -> Result<(), String> {
    let mut rest = field;
    while let Some(c) = rest.chars().next() {
        if c.is_ascii_alphabetic() {
            let word_len = rest
                .find(|c: char| !c.is_ascii_alphabetic())
                .unwrap_or(rest.len());
            let word = &rest[..word_len];
            let special = word.chars().all(|c| extra.contains(c));
            if !special && !names.contains(&word) {
                return Err(format!("'{word}' is not valid in the {name} field"));
            }
            rest = &rest[word_len..];
        } else {
            if !(c.is_ascii_digit() || "*,-/".contains(c) || extra.contains(c)) {
                return Err(format!("'{c}' is not valid in the {name} field"));
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    if field.contains('?') && field != "?" {
        return Err(format!("? must stand alone in the {name} field"));
    }
    Ok(())
}

/// Turns month or day names into numbers counted from 1.
fn replace_names(field: &str, names: &[&str]) -> String {
    let mut out = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(c) = rest.chars().next() {
        let name = names
            .iter()
            .position(|name| rest.starts_with(name))
            .filter(|_| c.is_ascii_alphabetic());
        match name {
            Some(index) => {
                out.push_str(&(index + 1).to_string());
                rest = &rest[3..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Years are 1970–2199, as EventBridge accepts them.
fn check_years(field: &str) -> Result<(), String> {
    for number in field
        .split(|c: char| !c.is_ascii_digit())
        .filter(|n| !n.is_empty())
    {
        let n: u32 = number.parse().unwrap_or(u32::MAX);
        // Steps (`2026/2`) are small numbers, not years.
        let is_step = field.contains(&format!("/{number}"));
        if !is_step && !(YEAR_MIN..=YEAR_MAX).contains(&n) {
            return Err(format!(
                "the year {number} is outside {YEAR_MIN}-{YEAR_MAX}"
            ));
        }
    }
    Ok(())
}

fn describe_cron_error(error: &CronError) -> String {
    // croner's messages start with a capital and end with a period; ours do not.
    let text = error.to_string();
    text.trim_end_matches('.').to_string()
}

/// Whole seconds: ticks and event times have no fraction.
fn floor_second(ms: i64) -> i64 {
    ms.div_euclid(1000) * 1000
}

/// The first minute the pattern matches after `after_ms` (or at it, when
/// `inclusive` and `after_ms` falls on a whole second).
fn cron_next(cron: &croner::Cron, after_ms: i64, inclusive: bool) -> Option<i64> {
    let inclusive = inclusive && after_ms.rem_euclid(1000) == 0;
    let start = UtcSecond::from_unix(after_ms.div_euclid(1000))?;
    let next = cron.find_next_occurrence(&start, inclusive).ok()?;
    Some(next.0.unix_timestamp() * 1000)
}

/// A UTC instant to the second, as croner searches over it.
#[derive(Debug, Clone, Copy)]
struct UtcSecond(OffsetDateTime);

impl UtcSecond {
    fn from_unix(seconds: i64) -> Option<UtcSecond> {
        OffsetDateTime::from_unix_timestamp(seconds)
            .ok()
            .map(UtcSecond)
    }
}

impl CronDateTime for UtcSecond {
    fn to_civil(&self) -> CivilDateTime {
        let at = self.0;
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(
                at.year(),
                u32::from(u8::from(at.month())),
                u32::from(at.day()),
            ),
            CivilTime::from_parts_unchecked(
                u32::from(at.hour()),
                u32::from(at.minute()),
                u32::from(at.second()),
            ),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(u32::from(self.0.weekday().number_days_from_sunday()))
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let month = u8::try_from(civil.month())
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(CronError::InvalidDate)?;
        let day = u8::try_from(civil.day()).map_err(|_| CronError::InvalidDate)?;
        let date = Date::from_calendar_date(civil.year(), month, day)
            .map_err(|_| CronError::InvalidDate)?;
        let time = Time::from_hms(
            civil.hour() as u8,
            civil.minute() as u8,
            civil.second() as u8,
        )
        .map_err(|_| CronError::InvalidTime)?;
        Ok(Resolution::Single(UtcSecond(
            PrimitiveDateTime::new(date, time).assume_utc(),
        )))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(time::Duration::seconds(seconds))
            .map(UtcSecond)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use time::format_description::well_known::Rfc3339;

    use super::*;

    fn ms(text: &str) -> i64 {
        (OffsetDateTime::parse(text, &Rfc3339)
            .unwrap()
            .unix_timestamp_nanos()
            / 1_000_000) as i64
    }

    fn text(ms: i64) -> String {
        OffsetDateTime::from_unix_timestamp(ms / 1000)
            .unwrap()
            .format(&Rfc3339)
            .unwrap()
    }

    /// The first tick of `expression` after `after` is `expected`.
    #[track_caller]
    fn check(expression: &str, after: &str, expected: &str) {
        let schedule = Schedule::parse(expression)
            .unwrap_or_else(|e| panic!("{expression} should parse: {e}"));
        let next = schedule.first_after(ms(after)).map(text);
        assert_eq!(
            next.as_deref(),
            Some(expected),
            "{expression} after {after}"
        );
    }

    /// The ticks of `expression` after `after`, in order.
    #[track_caller]
    fn check_series(expression: &str, after: &str, expected: &[&str]) {
        let schedule = Schedule::parse(expression).unwrap();
        let mut ticks = Vec::new();
        let mut at = schedule.first_after(ms(after));
        while let Some(tick) = at {
            if ticks.len() == expected.len() {
                break;
            }
            ticks.push(text(tick));
            at = schedule.next_after(tick);
        }
        assert_eq!(ticks, expected, "{expression} after {after}");
    }

    #[track_caller]
    fn check_invalid(expression: &str, reason: &str) {
        match Schedule::parse(expression) {
            Ok(schedule) => panic!("{expression} should be refused, got {schedule:?}"),
            Err(error) => assert!(
                error.to_string().contains(reason),
                "{expression}: {error} should say {reason:?}"
            ),
        }
    }

    #[test]
    fn rates_tick_every_period_from_the_start_to_the_second() {
        check(
            "rate(1 minute)",
            "2026-01-01T12:00:00Z",
            "2026-01-01T12:01:00Z",
        );
        check(
            "rate(5 minutes)",
            "2026-01-01T12:00:07.900Z",
            "2026-01-01T12:05:07Z",
        );
        check(
            "rate(1 hour)",
            "2026-01-01T23:30:00Z",
            "2026-01-02T00:30:00Z",
        );
        check(
            "rate(5 hours)",
            "2026-01-01T12:00:00Z",
            "2026-01-01T17:00:00Z",
        );
        check(
            "rate(1 day)",
            "2026-02-28T08:00:00Z",
            "2026-03-01T08:00:00Z",
        );
        check(
            "rate(7 days)",
            "2026-01-01T00:00:00Z",
            "2026-01-08T00:00:00Z",
        );
        check_series(
            "rate(2 minutes)",
            "2026-01-01T12:00:00Z",
            &[
                "2026-01-01T12:02:00Z",
                "2026-01-01T12:04:00Z",
                "2026-01-01T12:06:00Z",
            ],
        );
    }

    #[test]
    fn aws_documented_cron_examples() {
        // 10:00 every day.
        check(
            "cron(0 10 * * ? *)",
            "2026-01-01T09:59:59Z",
            "2026-01-01T10:00:00Z",
        );
        check(
            "cron(0 10 * * ? *)",
            "2026-01-01T10:00:00Z",
            "2026-01-02T10:00:00Z",
        );
        // 12:15 every day.
        check(
            "cron(15 12 * * ? *)",
            "2026-01-01T12:15:30Z",
            "2026-01-02T12:15:00Z",
        );
        // 18:00 Monday to Friday: 2026-01-02 is a Friday, 01-03 a Saturday.
        check(
            "cron(0 18 ? * MON-FRI *)",
            "2026-01-02T17:00:00Z",
            "2026-01-02T18:00:00Z",
        );
        check(
            "cron(0 18 ? * MON-FRI *)",
            "2026-01-02T18:00:00Z",
            "2026-01-05T18:00:00Z",
        );
        // 08:00 on the first day of every month.
        check(
            "cron(0 8 1 * ? *)",
            "2026-01-01T08:00:00Z",
            "2026-02-01T08:00:00Z",
        );
        // Every 15 minutes.
        check_series(
            "cron(0/15 * * * ? *)",
            "2026-01-01T12:07:00Z",
            &[
                "2026-01-01T12:15:00Z",
                "2026-01-01T12:30:00Z",
                "2026-01-01T12:45:00Z",
                "2026-01-01T13:00:00Z",
            ],
        );
        // Every 10 minutes, Monday to Friday: from Friday night to Monday.
        check(
            "cron(0/10 * ? * MON-FRI *)",
            "2026-01-02T23:55:00Z",
            "2026-01-05T00:00:00Z",
        );
        check(
            "cron(0/10 * ? * MON-FRI *)",
            "2026-01-05T00:00:00Z",
            "2026-01-05T00:10:00Z",
        );
        // Every 5 minutes between 08:00 and 17:55, Monday to Friday.
        check(
            "cron(0/5 8-17 ? * MON-FRI *)",
            "2026-01-05T17:55:00Z",
            "2026-01-06T08:00:00Z",
        );
        check(
            "cron(0/5 8-17 ? * MON-FRI *)",
            "2026-01-05T07:00:00Z",
            "2026-01-05T08:00:00Z",
        );
        check(
            "cron(0/5 8-17 ? * MON-FRI *)",
            "2026-01-05T12:01:00Z",
            "2026-01-05T12:05:00Z",
        );
        // 09:00 on the first Monday of every month (2 is Monday: 1 is Sunday).
        check_series(
            "cron(0 9 ? * 2#1 *)",
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-05T09:00:00Z",
                "2026-02-02T09:00:00Z",
                "2026-03-02T09:00:00Z",
            ],
        );
        // Midnight on the last day of the month.
        check_series(
            "cron(0 0 L * ? *)",
            "2026-01-15T00:00:00Z",
            &[
                "2026-01-31T00:00:00Z",
                "2026-02-28T00:00:00Z",
                "2026-03-31T00:00:00Z",
            ],
        );
        check(
            "cron(0 0 L * ? *)",
            "2028-02-01T00:00:00Z",
            "2028-02-29T00:00:00Z",
        );
        // The weekday nearest the 15th: 2026-02-15 is a Sunday, 2026-08-15 a Saturday.
        check(
            "cron(0 0 15W * ? *)",
            "2026-01-01T00:00:00Z",
            "2026-01-15T00:00:00Z",
        );
        check(
            "cron(0 0 15W * ? *)",
            "2026-02-01T00:00:00Z",
            "2026-02-16T00:00:00Z",
        );
        check(
            "cron(0 0 15W * ? *)",
            "2026-08-01T00:00:00Z",
            "2026-08-14T00:00:00Z",
        );
        // Midnight on the last Friday of the month (6 is Friday).
        check_series(
            "cron(0 0 ? * 6L *)",
            "2026-01-01T00:00:00Z",
            &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z"],
        );
        // AWS's example of a year range: 2002-2005 has passed, so never again.
        let passed = Schedule::parse("cron(0 10 * * ? 2002-2005)").unwrap();
        assert_eq!(passed.first_after(ms("2026-01-01T00:00:00Z")), None);
    }

    #[test]
    fn cron_fields_in_aws_syntax() {
        // Year ranges, lists and steps.
        check(
            "cron(0 0 1 1 ? 2027-2029)",
            "2026-06-01T00:00:00Z",
            "2027-01-01T00:00:00Z",
        );
        check(
            "cron(0 0 1 1 ? 2027-2029)",
            "2028-01-01T00:00:00Z",
            "2029-01-01T00:00:00Z",
        );
        check_never("cron(0 0 1 1 ? 2027-2029)", "2029-01-01T00:00:00Z");
        check(
            "cron(0 0 1 1 ? 2026,2030)",
            "2026-01-01T00:00:00Z",
            "2030-01-01T00:00:00Z",
        );
        check(
            "cron(30 6 1 1 ? 2026/2)",
            "2026-01-01T07:00:00Z",
            "2028-01-01T06:30:00Z",
        );
        // Month names, ranges and lists; lowercase works too.
        check(
            "cron(0 0 1 JAN,JUL ? *)",
            "2026-01-01T00:00:00Z",
            "2026-07-01T00:00:00Z",
        );
        check(
            "cron(0 0 1 mar-may ? *)",
            "2026-01-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
        );
        check(
            "cron(0 0 1 2-3 ? *)",
            "2026-02-01T00:00:00Z",
            "2026-03-01T00:00:00Z",
        );
        // Days of the week by number: 1 is Sunday, 7 Saturday.
        check(
            "cron(0 12 ? * 1 *)",
            "2026-01-01T00:00:00Z",
            "2026-01-04T12:00:00Z",
        );
        check(
            "cron(0 12 ? * 7 *)",
            "2026-01-01T00:00:00Z",
            "2026-01-03T12:00:00Z",
        );
        check(
            "cron(0 12 ? * SUN,SAT *)",
            "2026-01-03T12:00:00Z",
            "2026-01-04T12:00:00Z",
        );
        // A lone L in day-of-week is Saturday.
        check(
            "cron(0 12 ? * L *)",
            "2026-01-01T00:00:00Z",
            "2026-01-03T12:00:00Z",
        );
        // The last weekday of the month: 2026-01-31 is a Saturday.
        check(
            "cron(0 0 LW * ? *)",
            "2026-01-01T00:00:00Z",
            "2026-01-30T00:00:00Z",
        );
        // Hour lists and ranges with steps, minute lists.
        check_series(
            "cron(0,30 9-17/4 * * ? *)",
            "2026-01-01T00:00:00Z",
            &[
                "2026-01-01T09:00:00Z",
                "2026-01-01T09:30:00Z",
                "2026-01-01T13:00:00Z",
                "2026-01-01T13:30:00Z",
                "2026-01-01T17:00:00Z",
            ],
        );
        check(
            "cron(*/20 * * * ? *)",
            "2026-01-01T00:41:00Z",
            "2026-01-01T01:00:00Z",
        );
        check(
            "cron(5/20 * * * ? *)",
            "2026-01-01T00:26:00Z",
            "2026-01-01T00:45:00Z",
        );
        // Every minute, and the wildcard day-of-week beside a ?.
        check(
            "cron(* * * * ? *)",
            "2026-01-01T00:00:30Z",
            "2026-01-01T00:01:00Z",
        );
        check(
            "cron(0 12 ? * * *)",
            "2026-01-01T12:00:00Z",
            "2026-01-02T12:00:00Z",
        );
        // Whitespace between fields, as AWS tolerates it.
        check(
            "cron(0  12 * * ? *)",
            "2026-01-01T00:00:00Z",
            "2026-01-01T12:00:00Z",
        );
    }

    #[test]
    fn invalid_expressions_say_what_is_wrong() {
        check_invalid("cron(0 12 * * * *)", "one of them must be ?");
        check_invalid("cron(0 12 1 * MON *)", "one of them must be ?");
        check_invalid("cron(0 12 ? * ? *)", "only one of");
        check_invalid("cron(0 12 * * ?)", "6 fields");
        check_invalid("cron(0 0 12 * * ? *)", "6 fields");
        check_invalid("cron()", "6 fields");
        check_invalid("cron(60 12 * * ? *)", "cron(60 12 * * ? *)");
        check_invalid("cron(0 24 * * ? *)", "cron(0 24 * * ? *)");
        check_invalid("cron(0 12 32 * ? *)", "cron(0 12 32 * ? *)");
        check_invalid("cron(0 12 ? 13 * *)", "cron(0 12 ? 13 * *)");
        check_invalid("cron(0 12 ? * 8 *)", "cron(0 12 ? * 8 *)");
        check_invalid("cron(0 12 ? * 2#6 *)", "cron(0 12 ? * 2#6 *)");
        check_invalid(
            "cron(0 12 ? MON * *)",
            "'MON' is not valid in the month field",
        );
        check_invalid(
            "cron(0 12 ? * JAN *)",
            "'JAN' is not valid in the day-of-week field",
        );
        check_invalid("cron(0 12 ? * FUNDAY *)", "'FUNDAY' is not valid");
        check_invalid("cron(0 12 W * ? *)", "cron(0 12 W * ? *)");
        check_invalid("cron(0 ? * * ? *)", "'?' is not valid in the hours field");
        check_invalid("cron(0 12 1,? * ? *)", "? must stand alone");
        check_invalid("cron(0 12 * * ? 1969)", "outside 1970-2199");
        check_invalid("cron(0 12 * * ? 2200)", "outside 1970-2199");
        check_invalid("cron(0 12 * * ? *", "rate(value unit) or cron(");
        check_invalid("rate(1 minutes)", "singular");
        check_invalid("rate(5 minute)", "plural");
        check_invalid("rate(0 minutes)", "positive whole number");
        check_invalid("rate(-1 minutes)", "positive whole number");
        check_invalid("rate(1.5 hours)", "positive whole number");
        check_invalid("rate(5 seconds)", "minute(s), hour(s) or day(s)");
        check_invalid("rate(5minutes)", "a positive whole number and a unit");
        check_invalid("rate(5  minutes)", "a positive whole number and a unit");
        check_invalid("rate(99999999999999999999 days)", "too large");
        check_invalid("rate(100000 days)", "longer than 100 years");
        check_invalid("RATE(5 minutes)", "rate(value unit) or cron(");
        check_invalid("every 5 minutes", "rate(value unit) or cron(");
        check_invalid("", "rate(value unit) or cron(");
    }

    #[test]
    fn resuming_skips_missed_ticks() {
        let rate = Schedule::parse("rate(5 minutes)").unwrap();
        let due = ms("2026-01-01T12:05:00Z");
        // Not missed: due now or later within a period stays.
        assert_eq!(rate.resume(due, due), Some(due));
        assert_eq!(rate.resume(due, ms("2026-01-01T12:01:00Z")), Some(due));
        // Missed: the next tick in phase, not a burst of the missed ones.
        assert_eq!(
            rate.resume(due, ms("2026-01-01T12:05:00.001Z"))
                .map(text)
                .as_deref(),
            Some("2026-01-01T12:10:00Z")
        );
        assert_eq!(
            rate.resume(due, ms("2026-01-01T13:07:30Z"))
                .map(text)
                .as_deref(),
            Some("2026-01-01T13:10:00Z")
        );
        // A tick further ahead than a period (a clock that ran fast) restarts.
        assert_eq!(
            rate.resume(ms("2026-01-02T00:00:00Z"), ms("2026-01-01T12:00:00Z"))
                .map(text)
                .as_deref(),
            Some("2026-01-01T12:05:00Z")
        );
        let cron = Schedule::parse("cron(0 10 * * ? *)").unwrap();
        assert_eq!(
            cron.resume(ms("2026-01-01T10:00:00Z"), ms("2026-01-03T09:00:00Z"))
                .map(text)
                .as_deref(),
            Some("2026-01-03T10:00:00Z")
        );
        // A tick due exactly now is not missed.
        assert_eq!(
            cron.resume(ms("2026-01-03T10:00:00Z"), ms("2026-01-03T10:00:00Z"))
                .map(text)
                .as_deref(),
            Some("2026-01-03T10:00:00Z")
        );
    }

    #[test]
    fn rate_periods() {
        let period = |e: &str| Schedule::parse(e).unwrap().rate_period_ms();
        assert_eq!(period("rate(1 minute)"), Some(60_000));
        assert_eq!(period("rate(2 hours)"), Some(7_200_000));
        assert_eq!(period("rate(3 days)"), Some(259_200_000));
        assert_eq!(period("cron(0 10 * * ? *)"), None);
    }

    #[track_caller]
    fn check_never(expression: &str, after: &str) {
        let schedule = Schedule::parse(expression).unwrap();
        assert_eq!(
            schedule.first_after(ms(after)).map(text),
            None,
            "{expression}"
        );
    }
}
