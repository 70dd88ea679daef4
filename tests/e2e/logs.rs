//! Function logs: START/END/REPORT lines, the log group and streams, the
//! Logs API, the 4 KB tail, and the CLIs that print logs.

use rayo_tests::Server;

#[test]
fn invocations_write_start_end_report_and_the_logs_api_returns_them() {
    let server = Server::start();
    server.python(
        r#"
        create("logged", {"app.py": '''
def handler(event, context):
    print("marker", event["marker"], context.aws_request_id)
    return context.log_stream_name
'''})
        marker = "mark" + uuid.uuid4().hex
        cold = invoke("logged", {"marker": marker})
        warm = invoke("logged", {"marker": marker})
        stream = cold.ok()
        assert warm.ok() == stream, "the second invocation runs on the warm instance"

        def check_tail(run, cold_start):
            request_id = run.log_request_id()
            assert re.fullmatch(UUID, request_id), request_id
            lines = run.log.split("\n")
            assert lines[-1] == "", "the tail ends with a newline"
            start = [l for l in lines if l.startswith("START ")]
            end = [l for l in lines if l.startswith("END ")]
            report = [l for l in lines if l.startswith("REPORT ")]
            assert len(start) == len(end) == len(report) == 1, run.log
            assert re.fullmatch(rf"START RequestId: {UUID} Version: \$LATEST", start[0]), start
            assert re.fullmatch(rf"END RequestId: {UUID}", end[0]), end
            report_re = (rf"REPORT RequestId: {UUID}\tDuration: \d+\.\d{{2}} ms\tBilled Duration: \d+ ms\t"
                         rf"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{{2}} ms\t)?")
            assert re.fullmatch(report_re, report[0]), report
            assert ("Init Duration:" in report[0]) == cold_start, (cold_start, report)
            assert all(request_id in l for l in start + end + report), run.log
            assert f"marker {marker} {request_id}" in lines, run.log
            assert lines.index(start[0]) < lines.index(f"marker {marker} {request_id}") < lines.index(end[0]) < lines.index(report[0])
            return request_id

        cold_id = check_tail(cold, cold_start=True)
        warm_id = check_tail(warm, cold_start=False)
        assert cold_id != warm_id

        groups = cwl.describe_log_groups(logGroupNamePrefix="/aws/lambda/logged")["logGroups"]
        assert [g["logGroupName"] for g in groups] == ["/aws/lambda/logged"], groups
        streams = cwl.describe_log_streams(logGroupName="/aws/lambda/logged")["logStreams"]
        assert [s["logStreamName"] for s in streams] == [stream], (streams, stream)
        assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", stream), stream

        def all_lines_present():
            events = cwl.get_log_events(logGroupName="/aws/lambda/logged", logStreamName=stream,
                                        startFromHead=True)["events"]
            messages = [e["message"] for e in events]
            return messages if sum(m.startswith("REPORT ") for m in messages) == 2 else None
        messages = poll(all_lines_present, "both REPORT lines in GetLogEvents")
        for request_id in (cold_id, warm_id):
            start = messages.index(f"START RequestId: {request_id} Version: $LATEST")
            printed = messages.index(f"marker {marker} {request_id}")
            end = messages.index(f"END RequestId: {request_id}")
            report = next(i for i, m in enumerate(messages) if m.startswith(f"REPORT RequestId: {request_id}\t"))
            assert start < printed < end < report, messages
        # Events carry no trailing newline; the tail's lines are the events.
        assert not any(m.endswith("\n") for m in messages), messages

        filtered = cwl.filter_log_events(logGroupName="/aws/lambda/logged", filterPattern=marker)
        assert [e["message"] for e in filtered["events"]] == [
            f"marker {marker} {cold_id}", f"marker {marker} {warm_id}"], filtered["events"]
        assert all(e["logStreamName"] == stream for e in filtered["events"])
        only_warm = cwl.filter_log_events(logGroupName="/aws/lambda/logged", filterPattern=f'"{warm_id}" END')
        assert [e["message"] for e in only_warm["events"]] == [f"END RequestId: {warm_id}"], only_warm["events"]
        "#,
    );
}

#[test]
fn log_tail_is_the_last_4_kb() {
    let server = Server::start();
    server.python(
        r#"
        create("chatty", {"app.py": '''
def handler(event, context):
    for i in range(100):
        print(f"line {i:03d} " + "x" * 91)
    return "done"
'''})
        run = invoke("chatty")
        assert run.ok() == "done"
        raw = base64.b64decode(run.response["LogResult"])
        assert 0 < len(raw) <= 4096, len(raw)
        assert len(raw) > 3000, "the tail is the last 4 KB, not less"
        lines = raw.decode().rstrip("\n").split("\n")
        assert re.fullmatch(rf"REPORT RequestId: {UUID}\t.*", lines[-1]), lines[-1]
        assert lines[-2].startswith("END RequestId: "), lines[-2:]
        assert f"line 099 {'x' * 91}" in lines, lines
        assert not any(l.startswith("line 000 ") for l in lines), lines

        # CloudWatch Logs has every line.
        messages = wait_for_log("chatty", lambda m: m.startswith("line 099 "), "the last printed line")
        assert sum(m.startswith("line ") for m in messages) == 100, len(messages)
        "#,
    );
}

/// Creates and invokes a function that prints a line; returns the request id.
fn invoke_a_printing_function(server: &Server) -> String {
    let request_id = server.python(
        r#"
        create("tailed", {"app.py": '''
def handler(event, context):
    print("hello from tailed")
    return 1
'''})
        run = invoke("tailed")
        assert run.ok() == 1
        print(run.log_request_id())
        "#,
    );
    request_id.trim().to_string()
}

#[test]
fn rayo_logs_prints_the_lines() {
    let server = Server::start();
    let request_id = invoke_a_printing_function(&server);

    let rayo = server.rayo(&["logs", "tailed", "--endpoint", server.url()]);
    assert!(rayo.success(), "rayo logs failed: {rayo:?}");
    let lines: Vec<&str> = rayo.stdout.lines().collect();
    let start = format!("START RequestId: {request_id} Version: $LATEST");
    let end = format!("END RequestId: {request_id}");
    for expected in [start.as_str(), "hello from tailed", end.as_str()] {
        assert!(
            lines.contains(&expected),
            "rayo logs lacks {expected:?}:\n{}",
            rayo.stdout
        );
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("REPORT RequestId: {request_id}\t"))),
        "{}",
        rayo.stdout
    );

    let filtered = server.rayo(&[
        "logs",
        "tailed",
        "--filter",
        "hello",
        "--endpoint",
        server.url(),
    ]);
    assert!(filtered.success(), "{filtered:?}");
    assert_eq!(filtered.stdout, "hello from tailed\n");

    let missing = server.rayo(&["logs", "never-ran", "--endpoint", server.url()]);
    assert!(!missing.success(), "{missing:?}");
}

#[test]
fn aws_logs_tail_prints_the_lines() {
    let server = Server::start();
    let request_id = invoke_a_printing_function(&server);
    let start = format!("START RequestId: {request_id} Version: $LATEST");
    let end = format!("END RequestId: {request_id}");

    // `aws logs tail` is in AWS CLI v2 only; it prints `<time> <stream> <message>`.
    let tail = server.aws_v2(&["logs", "tail", "/aws/lambda/tailed"]);
    assert!(tail.success(), "aws logs tail failed: {tail:?}");
    for expected in [start.as_str(), "hello from tailed", end.as_str()] {
        assert!(
            tail.stdout
                .lines()
                .any(|line| line.contains("[$LATEST]") && line.ends_with(expected)),
            "aws logs tail lacks {expected:?}:\n{}",
            tail.stdout
        );
    }
}
