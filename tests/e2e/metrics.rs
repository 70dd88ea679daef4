//! Metrics: `/metrics` scraped and parsed by the `prometheus_client`
//! package's OpenMetrics parser, the console's JSON over per-minute history,
//! and that history across a restart.

use rayo_tests::Server;

/// Python helpers: a scrape parsed into `{(name, labels): value}`, and the
/// console's metrics API.
const HELPERS: &str = r#"
        import urllib.error
        from prometheus_client.openmetrics.parser import text_string_to_metric_families

        def scrape(path="/metrics"):
            with urllib.request.urlopen(ENDPOINT + path) as response:
                assert response.status == 200, response.status
                content_type = response.headers["Content-Type"]
                assert content_type.startswith("application/openmetrics-text"), content_type
                text = response.read().decode()
            samples = {}
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            return samples

        def value(samples, name, **labels):
            return samples.get((name, tuple(sorted(labels.items()))))

        import http.cookiejar
        # The metrics JSON is the console's: it needs a console session,
        # which a server on a loopback address opens without signing in.
        BROWSER = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        with BROWSER.open(ENDPOINT + "/_rayo/console/api/session") as response:
            assert json.loads(response.read())["signedIn"] is True
        try:
            urllib.request.urlopen(ENDPOINT + "/_rayo/console/api/metrics/summary")
            raise AssertionError("the console's metrics answered without a session")
        except urllib.error.HTTPError as error:
            assert error.code == 401, error.code

        def console(path):
            """(status, error type header, JSON body) of a console metrics request."""
            url = ENDPOINT + "/_rayo/console/api/metrics" + path
            try:
                with BROWSER.open(url) as response:
                    return response.status, None, json.loads(response.read())
            except urllib.error.HTTPError as error:
                return error.code, error.headers.get("x-amzn-ErrorType"), json.loads(error.read())

        def series(name, range="1h"):
            status, _, body = console(f"/functions/{name}?range={range}")
            assert status == 200, (status, body)
            return body

        def totals(points):
            return {
                key: sum(p[key] for p in points)
                for key in ("invocations", "errors", "throttles", "cold_starts")
            }

        FN = '''
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
'''
"#;

fn snippet(body: &str) -> String {
    format!("{HELPERS}{body}")
}

#[test]
fn metrics_count_invocations_errors_and_throttles_and_history_survives_a_restart() {
    let mut server = Server::start();
    let before = server.python_json(&snippet(
        r#"
        create("counted", {"app.py": FN})
        create("stopped", {"app.py": FN})
        for _ in range(5):
            assert invoke("counted").ok() == {"ok": True}
        for _ in range(2):
            run = invoke("counted", {"fail": True})
            assert run.error == "Unhandled", run
        # A timeout and a runtime that exits are errors of their own kinds.
        create("slow", {"app.py": "import time\ndef handler(event, context):\n    time.sleep(30)\n"}, Timeout=1)
        run = invoke("slow")
        assert run.error == "Unhandled" and "Task timed out" in run.raw.decode(), run
        create("crashing", {"app.py": "import os\ndef handler(event, context):\n    os._exit(3)\n"})
        run = invoke("crashing")
        assert run.error == "Unhandled" and "Runtime.ExitError" in run.raw.decode(), run
        lam.put_function_concurrency(FunctionName="stopped", ReservedConcurrentExecutions=0)
        for _ in range(3):
            error = client_error(lam.invoke, FunctionName="stopped", Payload=b"{}")
            assert error.response["Error"]["Code"] == "TooManyRequestsException", error.response
        sqs = boto3.client("sqs", config=CONFIG)
        queue_url = sqs.create_queue(QueueName="waiting")["QueueUrl"]
        for body in ("a", "b"):
            sqs.send_message(QueueUrl=queue_url, MessageBody=body)

        samples = scrape()
        expected = {
            ("rayo_invocations_total", "counted", "success"): 5,
            ("rayo_invocations_total", "counted", "function_error"): 2,
            ("rayo_invocations_total", "counted", "timeout"): 0,
            ("rayo_invocations_total", "counted", "runtime_error"): 0,
            ("rayo_invocations_total", "stopped", "success"): 0,
            ("rayo_invocations_total", "slow", "timeout"): 1,
            ("rayo_invocations_total", "slow", "success"): 0,
            ("rayo_invocations_total", "crashing", "runtime_error"): 1,
            ("rayo_invocations_total", "crashing", "function_error"): 0,
        }
        for (name, function, outcome), count in expected.items():
            got = value(samples, name, function=function, outcome=outcome)
            assert got == count, (name, function, outcome, got, count)
        assert value(samples, "rayo_invocation_duration_seconds_count", function="counted") == 7
        assert value(samples, "rayo_invocation_duration_seconds_bucket", function="counted", le="+Inf") == 7
        assert 0 < value(samples, "rayo_invocation_duration_seconds_sum", function="counted")
        assert value(samples, "rayo_invocation_duration_seconds_count", function="stopped") == 0
        assert value(samples, "rayo_cold_starts_total", function="counted") == 1
        assert value(samples, "rayo_throttles_total", function="stopped") == 3
        assert value(samples, "rayo_throttles_total", function="counted") == 0
        assert value(samples, "rayo_concurrent_executions", function="counted") == 0
        assert value(samples, "rayo_instances", function="counted", state="idle") == 1
        assert value(samples, "rayo_instances", function="counted", state="busy") == 0
        assert value(samples, "rayo_queue_messages", queue="waiting", state="visible") == 2
        assert value(samples, "rayo_queue_messages", queue="waiting", state="in_flight") == 0
        assert value(samples, "rayo_async_invocations", state="waiting") == 0
        assert [k for k in samples if k[0] == "rayo_build_info"], sorted(samples)
        # The same figures under rayo's own prefix.
        assert scrape("/_rayo/metrics") == samples

        # The console's view of the same invocations, per minute.
        body = series("counted")
        assert (body["function"], body["range"], body["step_seconds"]) == ("counted", "1h", 60), body
        points = body["points"]
        assert len(points) == 60, len(points)
        assert totals(points) == {"invocations": 7, "errors": 2, "throttles": 0, "cold_starts": 1}, totals(points)
        times = [p["time"] for p in points]
        assert all(b - a == 60_000 for a, b in zip(times, times[1:])), times
        assert times[-1] <= time.time() * 1000 < times[-1] + 60_000 + 5_000, times[-1]
        for p in points:
            if p["invocations"]:
                assert 0 <= p["success_rate"] <= 100, p
                assert 0 < p["duration_p50_ms"] <= p["duration_p99_ms"] <= p["duration_max_ms"], p
                assert p["concurrent_max"] == 1, p
            else:
                assert p["success_rate"] is None and p["duration_p50_ms"] is None, p
                assert p["duration_max_ms"] is None and p["errors"] == 0, p

        stopped = series("stopped", "3h")
        assert len(stopped["points"]) == 180, len(stopped["points"])
        assert totals(stopped["points"]) == {"invocations": 0, "errors": 0, "throttles": 3, "cold_starts": 0}

        day = series("counted", "1d")
        assert (day["step_seconds"], len(day["points"])) == (300, 288), day
        assert totals(day["points"]) == totals(points)

        status, _, summary = console("/summary?range=1h")
        assert status == 200, summary
        assert summary == {"functions": [
            {"name": "counted", "invocations": 7, "errors": 2, "throttles": 0},
            {"name": "crashing", "invocations": 1, "errors": 1, "throttles": 0},
            {"name": "slow", "invocations": 1, "errors": 1, "throttles": 0},
            {"name": "stopped", "invocations": 0, "errors": 0, "throttles": 3},
        ]}, summary
        slow = [p for p in series("slow")["points"] if p["invocations"]]
        assert len(slow) == 1 and slow[0]["success_rate"] == 0 and slow[0]["errors"] == 1, slow
        assert slow[0]["duration_max_ms"] >= 1000, slow

        status, error_type, error = console("/functions/missing?range=1h")
        assert (status, error_type) == (404, "ResourceNotFoundException"), (status, error_type, error)
        assert error["Message"] == "Function not found: " + function_arn("missing"), error
        status, error_type, error = console("/functions/counted?range=2h")
        assert (status, error_type) == (400, "InvalidParameterValueException"), (status, error_type, error)
        assert "1h, 3h or 1d" in error["message"], error
        status, error_type, error = console("/summary?range=1w")
        assert status == 400, (status, error)

        print(json.dumps({"counted": points}))
        "#,
    ));

    // SIGTERM: the server writes what it gathered in memory before exiting.
    server.restart();
    let after = server.python_json(&snippet(
        r#"
        points = series("counted")["points"]
        assert totals(points) == {"invocations": 7, "errors": 2, "throttles": 0, "cold_starts": 1}, totals(points)
        assert totals(series("stopped")["points"])["throttles"] == 3

        # Prometheus' counters start again with the process.
        samples = scrape()
        assert value(samples, "rayo_invocations_total", function="counted", outcome="success") == 0
        assert value(samples, "rayo_throttles_total", function="stopped") == 0
        assert value(samples, "rayo_instances", function="counted", state="idle") == 0

        # New invocations add to the history.
        assert invoke("counted").ok()
        assert totals(series("counted")["points"])["invocations"] == 8
        print(json.dumps({"counted": points}))
        "#,
    ));
    // Every minute that had invocations reads the same after the restart.
    let busy = |value: &serde_json::Value| -> Vec<serde_json::Value> {
        value["counted"]
            .as_array()
            .expect("points")
            .iter()
            .filter(|p| p["invocations"].as_u64() != Some(0))
            .cloned()
            .collect()
    };
    assert!(!busy(&before).is_empty());
    assert_eq!(busy(&before), busy(&after));
}

#[test]
fn metrics_show_executions_in_flight_async_invocations_and_a_bucket_named_metrics_stays_s3_s() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        GATED = GATE_CLIENT + '''
def handler(event, context):
    pass_gate(event["gate"], context.aws_request_id)
    return {"ok": True}
'''
        create("parallel", {"app.py": GATED}, Timeout=600)
        gate = Gate()
        runs = [background(invoke, "parallel", {"gate": gate.url}) for _ in range(2)]
        gate.wait_for(2)
        samples = scrape()
        assert value(samples, "rayo_concurrent_executions", function="parallel") == 2
        assert value(samples, "rayo_instances", function="parallel", state="busy") == 2
        assert value(samples, "rayo_invocations_total", function="parallel", outcome="success") == 0
        points = series("parallel")["points"]
        assert max(p["concurrent_max"] for p in points) == 2, points
        assert totals(points)["invocations"] == 0
        gate.open()
        for run in runs:
            assert run.result().ok() == {"ok": True}

        samples = scrape()
        assert value(samples, "rayo_concurrent_executions", function="parallel") == 0
        assert value(samples, "rayo_instances", function="parallel", state="idle") == 2
        assert value(samples, "rayo_instances", function="parallel", state="busy") == 0
        assert value(samples, "rayo_cold_starts_total", function="parallel") == 2
        assert value(samples, "rayo_invocations_total", function="parallel", outcome="success") == 2
        points = series("parallel")["points"]
        assert totals(points) == {"invocations": 2, "errors": 0, "throttles": 0, "cold_starts": 2}, points

        # Asynchronous invocations are counted when the dispatcher runs them.
        create("later", {"app.py": FN})
        for _ in range(2):
            assert lam.invoke(FunctionName="later", InvocationType="Event", Payload=b"{}")["StatusCode"] == 202
        poll(
            lambda: value(scrape(), "rayo_invocations_total", function="later", outcome="success") == 2,
            "two asynchronous invocations counted",
            deadline_seconds=LONG_WAIT,
        )
        samples = scrape()
        assert value(samples, "rayo_async_invocations", state="waiting") == 0
        assert value(samples, "rayo_async_invocations", state="running") == 0
        assert totals(series("later")["points"])["invocations"] == 2

        # A bucket named `metrics`: signed requests are S3's.
        s3 = boto3.client("s3", config=CONFIG)
        s3.create_bucket(Bucket="metrics")
        s3.put_object(Bucket="metrics", Key="k", Body=b"v")
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="metrics")["Contents"]] == ["k"]
        assert s3.get_object(Bucket="metrics", Key="k")["Body"].read() == b"v"
        # Unsigned, GET /metrics is the scrape; anything else is S3's refusal.
        assert value(scrape("/metrics"), "rayo_cold_starts_total", function="parallel") == 2
        for method, path in (("PUT", "/metrics"), ("GET", "/metrics/k")):
            try:
                urllib.request.urlopen(urllib.request.Request(ENDPOINT + path, method=method, data=b"" if method == "PUT" else None))
                raise AssertionError(f"an unsigned {method} {path} was accepted")
            except urllib.error.HTTPError as error:
                body = error.read().decode()
                assert error.code == 403 and "<Code>AccessDenied</Code>" in body, (method, path, error.code, body)
        "#,
    ));
}
