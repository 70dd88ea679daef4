//! EventBridge schedules through boto3 and the aws CLI: rules and targets,
//! the scheduled event a function receives, Input, DisableRule, and AWS's
//! errors. Schedules run on a clock sixty times faster than real time
//! (`--schedule-time-scale 60`, a test-only option), so `rate(1 minute)`
//! fires every second and no test waits a real minute.

use rayo_tests::Server;

/// A server whose schedules' minutes last a second.
fn fast_server() -> Server {
    Server::start_with(&["--schedule-time-scale", "60"])
}

/// Python helpers: a function that logs every event it gets, and a reader
/// of those events from its log.
const HELPERS: &str = r#"
        events = boto3.client("events", config=CONFIG)
        RECORDER = '''
import json
def handler(event, context):
    print("EVENT " + json.dumps(event))
'''

        def received(name):
            return [json.loads(m.split("EVENT ", 1)[1]) for m in log_messages(name) if m.startswith("EVENT ")]

        def wait_for_events(name, n):
            return poll(lambda: (lambda got: got if len(got) >= n else None)(received(name)),
                        f"{n} events for {name}", deadline_seconds=120)
"#;

fn snippet(body: &str) -> String {
    format!("{HELPERS}{body}")
}

#[test]
fn scheduled_rule_invokes_its_targets_with_eventbridge_s_event_or_their_input() {
    let server = fast_server();
    server.python(&snippet(
        r#"
        create("ticker", {"app.py": RECORDER})
        create("custom", {"app.py": RECORDER})
        rule_arn = events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"]
        assert rule_arn == f"arn:aws:events:{REGION}:{ACCOUNT}:rule/every-minute", rule_arn
        # No AddPermission for events.amazonaws.com: rayo does not enforce it.
        out = events.put_targets(Rule="every-minute", Targets=[
            {"Id": "plain", "Arn": function_arn("ticker")},
            {"Id": "with-input", "Arn": function_arn("custom"), "Input": '{"b": 1, "a": [true, null, "x"]}'},
        ])
        assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == [], out

        got = wait_for_events("ticker", 2)
        for event in got:
            assert list(event) == ["version", "id", "detail-type", "source", "account",
                                   "time", "region", "resources", "detail"], event
            assert event["version"] == "0"
            assert re.fullmatch(UUID, event["id"]), event
            assert event["detail-type"] == "Scheduled Event"
            assert event["source"] == "aws.events"
            assert event["account"] == ACCOUNT
            assert event["region"] == REGION
            assert event["resources"] == [rule_arn]
            assert event["detail"] == {}
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"]), event
        assert len({event["id"] for event in got}) == len(got), "event ids repeat"
        # Ticks of rate(1 minute) are whole (scheduled) minutes apart. A busy
        # machine may run two at once, or skip one it woke too late for.
        import calendar
        ticks = sorted(calendar.timegm(time.strptime(e["time"], "%Y-%m-%dT%H:%M:%SZ")) for e in got)
        gaps = [later - earlier for earlier, later in zip(ticks, ticks[1:])]
        assert all(gap > 0 and gap % 60 == 0 for gap in gaps), [e["time"] for e in got]

        # A target with Input gets it verbatim instead of the event.
        custom = wait_for_events("custom", 1)
        assert custom[0] == {"b": 1, "a": [True, None, "x"]}, custom
        "#,
    ));
}

#[test]
fn disable_rule_stops_firing_and_enable_rule_resumes() {
    let server = fast_server();
    server.python(&snippet(
        r#"
        create("paused", {"app.py": RECORDER})
        create("metronome", {"app.py": RECORDER})
        for name, expression in (("pausing", "cron(* * * * ? *)"), ("beating", "rate(1 minute)")):
            events.put_rule(Name=name, ScheduleExpression=expression)
        events.put_targets(Rule="pausing", Targets=[{"Id": "1", "Arn": function_arn("paused")}])
        events.put_targets(Rule="beating", Targets=[{"Id": "1", "Arn": function_arn("metronome")}])
        wait_for_events("paused", 1)

        events.disable_rule(Name="pausing")
        assert events.describe_rule(Name="pausing")["State"] == "DISABLED"
        # Ticks handed over before DisableRule may still arrive; after the
        # other rule has ticked three more times, nothing more does.
        beats = len(received("metronome"))
        wait_for_events("metronome", beats + 3)
        settled = len(received("paused"))
        beats = len(received("metronome"))
        wait_for_events("metronome", beats + 3)
        assert len(received("paused")) == settled, "a disabled rule fired"

        events.enable_rule(Name="pausing")
        assert events.describe_rule(Name="pausing")["State"] == "ENABLED"
        wait_for_events("paused", settled + 1)

        # A rule created DISABLED does not fire either.
        create("never", {"app.py": RECORDER})
        events.put_rule(Name="off", ScheduleExpression="rate(1 minute)", State="DISABLED")
        events.put_targets(Rule="off", Targets=[{"Id": "1", "Arn": function_arn("never")}])
        beats = len(received("metronome"))
        wait_for_events("metronome", beats + 3)
        assert received("never") == []
        "#,
    ));
}

#[test]
fn rules_and_targets_answer_in_eventbridge_s_shapes() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        out = events.put_rule(Name="nightly", ScheduleExpression="cron(0 2 * * ? *)",
                              Description="every night", State="DISABLED")
        rule_arn = f"arn:aws:events:{REGION}:{ACCOUNT}:rule/nightly"
        assert out["RuleArn"] == rule_arn
        described = events.describe_rule(Name="nightly")
        described.pop("ResponseMetadata")
        assert described == {
            "Name": "nightly",
            "Arn": rule_arn,
            "ScheduleExpression": "cron(0 2 * * ? *)",
            "State": "DISABLED",
            "Description": "every night",
            "EventBusName": "default",
            "CreatedBy": ACCOUNT,
        }, described

        # PutRule again replaces the rule; omitted fields are not kept.
        events.put_rule(Name="nightly", ScheduleExpression="cron(0 3 * * ? *)")
        described = events.describe_rule(Name="nightly")
        assert described["ScheduleExpression"] == "cron(0 3 * * ? *)"
        assert described["State"] == "ENABLED"
        assert "Description" not in described, described

        # A pattern rule is stored (it matches nothing yet).
        pattern = '{"source": ["my.app"]}'
        events.put_rule(Name="pattern-rule", EventPattern=pattern)
        assert events.describe_rule(Name="pattern-rule")["EventPattern"] == pattern
        message = expect_error("InvalidEventPatternException", 400, events.put_rule,
                               Name="bad-pattern", EventPattern="not json")
        assert message.startswith("Event pattern is not valid."), message

        for i in range(3):
            events.put_rule(Name=f"batch-{i}", ScheduleExpression=f"rate({i + 2} hours)")
        listed = events.list_rules(NamePrefix="batch-")["Rules"]
        assert [r["Name"] for r in listed] == ["batch-0", "batch-1", "batch-2"], listed
        assert listed[1] == {
            "Name": "batch-1",
            "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/batch-1",
            "State": "ENABLED",
            "ScheduleExpression": "rate(3 hours)",
            "EventBusName": "default",
        }, listed[1]
        page = events.list_rules(NamePrefix="batch-", Limit=2)
        assert [r["Name"] for r in page["Rules"]] == ["batch-0", "batch-1"] and page["NextToken"], page
        rest = events.list_rules(NamePrefix="batch-", Limit=2, NextToken=page["NextToken"])
        assert [r["Name"] for r in rest["Rules"]] == ["batch-2"] and "NextToken" not in rest, rest
        everything = [r["Name"] for r in events.list_rules()["Rules"]]
        assert everything == ["batch-0", "batch-1", "batch-2", "nightly", "pattern-rule"], everything

        # Targets: added, replaced by id, listed in order, paged.
        target = lambda i, **kw: {"Id": f"t{i}", "Arn": function_arn(f"fn-{i}"), **kw}
        out = events.put_targets(Rule="nightly", Targets=[target(1), target(2, Input='{"k": 2}')])
        assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == [], out
        events.put_targets(Rule="nightly", Targets=[target(1, Input='{"k": 1}')])
        listed = events.list_targets_by_rule(Rule="nightly")["Targets"]
        assert listed == [target(1, Input='{"k": 1}'), target(2, Input='{"k": 2}')], listed
        page = events.list_targets_by_rule(Rule="nightly", Limit=1)
        assert page["Targets"] == [target(1, Input='{"k": 1}')] and page["NextToken"], page
        rest = events.list_targets_by_rule(Rule="nightly", Limit=1, NextToken=page["NextToken"])
        assert rest["Targets"] == [target(2, Input='{"k": 2}')] and "NextToken" not in rest, rest

        # Targets rayo cannot deliver to are refused one by one.
        out = events.put_targets(Rule="nightly", Targets=[
            target(3), {"Id": "queue", "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"}])
        assert out["FailedEntryCount"] == 1, out
        assert out["FailedEntries"][0]["TargetId"] == "queue", out
        assert [t["Id"] for t in events.list_targets_by_rule(Rule="nightly")["Targets"]] == ["t1", "t2", "t3"]
        message = expect_error("ValidationException", 400, events.put_targets,
                               Rule="nightly", Targets=[target(9, Input="{not json")])
        assert message == "Input for target t9 is not a valid JSON text.", message
        expect_error("LimitExceededException", 400, events.put_targets,
                     Rule="nightly", Targets=[target(i) for i in range(4, 7)])
        expect_error("ResourceNotFoundException", 400, events.put_targets,
                     Rule="absent", Targets=[target(1)])
        expect_error("ResourceNotFoundException", 400, events.list_targets_by_rule, Rule="absent")

        # A rule with targets cannot be deleted, as in AWS.
        message = expect_error("ValidationException", 400, events.delete_rule, Name="nightly")
        assert message == "Rule can't be deleted since it has targets.", message
        out = events.remove_targets(Rule="nightly", Ids=["t1", "t2", "t3", "never-there"])
        assert out["FailedEntryCount"] == 0 and out["FailedEntries"] == [], out
        assert events.list_targets_by_rule(Rule="nightly")["Targets"] == []
        events.delete_rule(Name="nightly")
        message = expect_error("ResourceNotFoundException", 400, events.describe_rule, Name="nightly")
        assert message == "Rule nightly does not exist on EventBus default.", message
        expect_error("ResourceNotFoundException", 400, events.enable_rule, Name="nightly")
        expect_error("ResourceNotFoundException", 400, events.disable_rule, Name="nightly")
        expect_error("ResourceNotFoundException", 400, events.describe_rule,
                     Name="batch-0", EventBusName="custom-bus")
        "#,
    ));
}

#[test]
fn bad_schedule_expressions_are_validation_exceptions() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        bad = [
            "cron(0 12 * * * *)",          # both day fields set
            "cron(0 12 * * ?)",            # five fields
            "cron(0 0 12 * * ? *)",        # seven fields
            "cron(0 12 ? MON * *)",        # a day name in the month field
            "cron(60 12 * * ? *)",         # minute out of range
            "cron(0 12 * * ? 2300)",       # year out of range
            "rate(1 minutes)",             # plural for 1
            "rate(5 minute)",              # singular for 5
            "rate(0 minutes)",
            "rate(5 seconds)",
            "every 5 minutes",
        ]
        for expression in bad:
            message = expect_error("ValidationException", 400, events.put_rule,
                                   Name="bad", ScheduleExpression=expression)
            assert message.startswith("Parameter ScheduleExpression is not valid."), (expression, message)
        expect_error("ResourceNotFoundException", 400, events.describe_rule, Name="bad")
        message = expect_error("ValidationException", 400, events.put_rule, Name="neither")
        assert "EventPattern or ScheduleExpression" in message, message

        good = ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)", "rate(1 day)",
                "rate(7 days)", "cron(0 10 * * ? *)", "cron(0/15 * * * ? *)", "cron(0 18 ? * MON-FRI *)",
                "cron(0 9 ? * 2#1 *)", "cron(0 0 L * ? *)", "cron(0 0 15W * ? *)", "cron(0 0 ? * 6L *)",
                "cron(0 8 1 JAN,JUL ? 2027-2030)"]
        for i, expression in enumerate(good):
            events.put_rule(Name=f"good-{i}", ScheduleExpression=expression)
            assert events.describe_rule(Name=f"good-{i}")["ScheduleExpression"] == expression
        "#,
    ));
}

#[test]
fn aws_cli_creates_a_scheduled_rule() {
    let server = Server::start();
    let created = server
        .aws(&[
            "events",
            "put-rule",
            "--name",
            "from-cli",
            "--schedule-expression",
            "rate(5 minutes)",
        ])
        .expect("aws events put-rule");
    assert_eq!(
        created["RuleArn"],
        "arn:aws:events:us-east-1:000000000000:rule/from-cli"
    );
    let described = server
        .aws(&["events", "describe-rule", "--name", "from-cli"])
        .expect("aws events describe-rule");
    assert_eq!(described["ScheduleExpression"], "rate(5 minutes)");
    assert_eq!(described["State"], "ENABLED");
    let targets = server
        .aws(&[
            "events",
            "put-targets",
            "--rule",
            "from-cli",
            "--targets",
            "Id=1,Arn=arn:aws:lambda:us-east-1:000000000000:function:job",
        ])
        .expect("aws events put-targets");
    assert_eq!(targets["FailedEntryCount"], 0, "{targets}");
    let listed = server
        .aws(&["events", "list-targets-by-rule", "--rule", "from-cli"])
        .expect("aws events list-targets-by-rule");
    assert_eq!(
        listed["Targets"],
        serde_json::json!([{"Id": "1", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:job"}])
    );
    let refused = server
        .aws(&[
            "events",
            "put-rule",
            "--name",
            "bad",
            "--schedule-expression",
            "rate(1 minutes)",
        ])
        .expect_err("a plural unit for 1 is refused");
    assert!(
        refused.stderr.contains("ValidationException")
            && refused
                .stderr
                .contains("Parameter ScheduleExpression is not valid."),
        "{}",
        refused.stderr
    );
}

#[test]
fn schedules_survive_a_restart() {
    let mut server = fast_server();
    server.python(&snippet(
        r#"
        create("survivor", {"app.py": RECORDER})
        events.put_rule(Name="durable", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="durable", Targets=[{"Id": "1", "Arn": function_arn("survivor")}])
        wait_for_events("survivor", 1)
        "#,
    ));
    server.restart();
    server.python(&snippet(
        r#"
        assert events.describe_rule(Name="durable")["State"] == "ENABLED"
        before = len(received("survivor"))
        wait_for_events("survivor", before + 2)
        "#,
    ));
}
