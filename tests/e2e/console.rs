//! The web console in a real Chromium (Debian's, driven by playwright-core;
//! see `tests/console/console.cjs`): a person's ways through it, checked in
//! the page and, independently, through boto3. Screenshots of each step go
//! to `target/console-screenshots/`.

use rayo_tests::{Server, run_browser_scenario};
use serde_json::{Value, json};

/// Runs a scenario; its checks must pass, it must load nothing from
/// anywhere but rayo and raise no script errors.
fn scenario(server: &Server, name: &str, options: Value) -> Value {
    let run = run_browser_scenario(name, server.url(), &options);
    assert!(
        run.success,
        "the console's {name} scenario failed:\n{}\nseen so far: {}\nserver log:\n{}",
        run.stderr,
        run.seen,
        server.stderr_text()
    );
    assert_eq!(run.seen.get("foreignRequests"), None, "{}", run.seen);
    assert_eq!(run.seen.get("pageErrors"), None, "{}", run.seen);
    run.seen
}

const EDITED_CODE: &str = r#"import json

def lambda_handler(event, context):
    print("console-marker", event.get("rawPath"))
    return {"statusCode": 200, "body": "edited-in-console"}
"#;

/// Creates a function from the starter handler, edits its code in the
/// editor and saves it, saves a test event from a template and runs it,
/// reads the result and the REPORT summary, and finds the run in the logs.
#[test]
fn console_creates_edits_and_tests_a_function() {
    let server = Server::start();
    // A bucket for the S3 trigger the scenario adds.
    server.python(
        r#"
        boto3.client("s3", config=CONFIG).create_bucket(Bucket="console-uploads")
        "#,
    );
    let seen = scenario(
        &server,
        "main",
        json!({
            "name": "hello-console",
            "code": EDITED_CODE,
            "event": {"rawPath": "/from-test-event"},
            "eventName": "api-v2",
            "logNeedle": "console-marker",
            "triggerBucket": "console-uploads",
        }),
    );
    assert!(
        seen["runtimes"].as_array().is_some_and(|r| r
            .iter()
            .any(|r| r.as_str().is_some_and(|r| r.starts_with("python3.")))),
        "the create page offers the server's Python runtimes: {seen}"
    );

    // The run: the edited code's answer, and the summary from its REPORT line.
    assert_eq!(
        seen["resultHeading"], "Execution result: succeeded",
        "{seen}"
    );
    let response: Value = serde_json::from_str(seen["response"].as_str().unwrap()).unwrap();
    assert_eq!(
        response,
        json!({"statusCode": 200, "body": "edited-in-console"})
    );
    let log = seen["log"].as_str().unwrap();
    assert!(log.contains("console-marker /from-test-event\n"), "{log}");
    let summary = &seen["summary"];
    let request_id = summary["Request ID"].as_str().unwrap();
    assert_eq!(request_id.len(), 36, "{summary}");
    assert!(
        log.contains(&format!("REPORT RequestId: {request_id}\t")),
        "{log}"
    );
    for (field, unit) in [
        ("Duration", " ms"),
        ("Billed duration", " ms"),
        ("Max memory used", " MB"),
        // The first run of a new function is a cold start.
        ("Init duration", " ms"),
    ] {
        let value = summary[field].as_str().unwrap();
        let number = value
            .strip_suffix(unit)
            .unwrap_or_else(|| panic!("{field}: {value}"));
        assert!(number.parse::<f64>().is_ok(), "{field}: {value}");
        assert!(
            log.contains(&format!("{}: {value}", report_name(field))),
            "{field} {value} in {log}"
        );
    }
    assert_eq!(summary["Resources configured"], "128 MB");

    // The saved event came back from the server after a reload.
    assert_eq!(
        seen["savedEvents"],
        json!(["— choose a saved event —", "api-v2"])
    );
    assert_eq!(
        seen["reloadedEvent"],
        json!({"rawPath": "/from-test-event"})
    );
    // The log search found the line, and the stream is listed.
    assert_eq!(
        seen["logMatches"],
        json!(["console-marker /from-test-event"]),
        "{seen}"
    );
    assert!(
        seen["streams"][1].as_str().unwrap().contains("[$LATEST]"),
        "{seen}"
    );
    assert_eq!(seen["listRow"][0], "hello-console");

    let triggers = seen["triggers"].to_string();
    assert!(
        triggers.contains("Function URL")
            && triggers.contains("rate(1 day)")
            && triggers.contains("console-uploads")
            && triggers.contains("incoming/"),
        "{triggers}"
    );

    // Independently of the page: the function runs the code saved in the
    // editor, with the configuration and triggers set in the page.
    let function_url = seen["functionUrl"].as_str().unwrap();
    server.python(&format!(
        r#"
        out = lam.invoke(FunctionName="hello-console", Payload=b'{{"rawPath": "/boto3"}}')
        assert json.loads(out["Payload"].read()) == {{"statusCode": 200, "body": "edited-in-console"}}
        config = lam.get_function_configuration(FunctionName="hello-console")
        assert config["Handler"] == "lambda_function.lambda_handler", config
        assert config["MemorySize"] == 256, config
        assert config["Environment"]["Variables"] == {{"GREETING": "hola"}}, config
        url = lam.get_function_url_config(FunctionName="hello-console")
        assert url["FunctionUrl"] == "{function_url}", url
        # The URL's path form on this server (its host name needs DNS).
        url_id = "{function_url}".split("//")[1].split(".")[0]
        with urllib.request.urlopen(f"{{ENDPOINT}}/_rayo/url/{{url_id}}/") as response:
            assert response.read() == b"edited-in-console"
        events = boto3.client("events", config=CONFIG)
        rules = events.list_rules()["Rules"]
        assert [r["ScheduleExpression"] for r in rules] == ["rate(1 day)"], rules
        targets = events.list_targets_by_rule(Rule=rules[0]["Name"])["Targets"]
        assert targets[0]["Arn"] == config["FunctionArn"], targets
        # The S3 trigger: the bucket's notification, and an upload under
        # its prefix runs the function.
        s3 = boto3.client("s3", config=CONFIG)
        notification = s3.get_bucket_notification_configuration(Bucket="console-uploads")
        [lambda_config] = notification["LambdaFunctionConfigurations"]
        assert lambda_config["LambdaFunctionArn"] == config["FunctionArn"], lambda_config
        assert lambda_config["Events"] == ["s3:ObjectCreated:*"], lambda_config
        rules = lambda_config["Filter"]["Key"]["FilterRules"]
        assert [(r["Name"].lower(), r["Value"]) for r in rules] == [("prefix", "incoming/")], rules
        s3.put_object(Bucket="console-uploads", Key="incoming/a.txt", Body=b"a")
        logs = boto3.client("logs", config=CONFIG)
        poll(
            lambda: logs.filter_log_events(logGroupName="/aws/lambda/hello-console",
                                           filterPattern="console-marker None")["events"],
            "the upload's notification invoked the function",
            deadline_seconds=LONG_WAIT,
        )
        "#
    ));
}

/// The REPORT line's name of a summary field.
fn report_name(field: &str) -> &str {
    match field {
        "Billed duration" => "Billed Duration",
        "Max memory used" => "Max Memory Used",
        "Init duration" => "Init Duration",
        other => other,
    }
}

/// The Monitor tab and the list count the function's invocations, from the
/// metrics endpoints (`/_rayo/console/api/metrics/…`).
#[test]
fn console_monitor_counts_invocations() {
    let server = Server::start();
    server.python(
        r#"
        lam.create_function(FunctionName="watched", Runtime="python3.11", Role=ROLE,
            Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
        for _ in range(3):
            assert lam.invoke(FunctionName="watched")["StatusCode"] == 200
        "#,
    );
    let seen = scenario(&server, "monitor", json!({"name": "watched"}));
    assert_eq!(
        seen["metricsMissing"], false,
        "the Monitor tab needs the metrics endpoints: {seen}"
    );
    assert!(seen["invocations"].as_u64() >= Some(3), "{seen}");
    assert!(
        seen["listRow"][4].as_str().unwrap().parse::<u64>().unwrap() >= 3,
        "{seen}"
    );
}

/// The function page's tabs are reached with Tab and moved between with
/// the arrow keys, Home and End; the focused tab shows a visible outline.
#[test]
fn console_tabs_work_by_keyboard() {
    let server = Server::start();
    server.python(
        r#"
        lam.create_function(FunctionName="keys", Runtime="python3.11", Role=ROLE,
            Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
        "#,
    );
    let seen = scenario(&server, "keyboard", json!({"name": "keys"}));
    assert_eq!(
        seen["steps"],
        json!(["Test", "Monitor", "Configuration", "Code", "Configuration"])
    );
    assert_eq!(seen["focusOutline"], "solid");
    assert_eq!(seen["afterTab"], "tabpanel");
}

/// Bound to an address other machines can reach, the console asks for an
/// access key: nothing of the API answers without a session, a wrong
/// secret is refused, the right one opens it, in an HttpOnly,
/// SameSite=Strict cookie that scripts cannot read.
#[test]
fn console_requires_sign_in_off_loopback() {
    let server = Server::start_listening(
        "0.0.0.0:0",
        &["--console-credentials", "admin:admin-secret"],
    );
    server.python(
        r#"
        for path in ["/_rayo/console/api/aws/2015-03-31/functions", "/_rayo/console/api/runtimes"]:
            try:
                urllib.request.urlopen(ENDPOINT + path)
                raise AssertionError("answered without a session: " + path)
            except urllib.error.HTTPError as e:
                assert e.code == 401, e.code
                assert json.loads(e.read())["__type"] == "UnauthorizedException"
        session = json.loads(urllib.request.urlopen(ENDPOINT + "/_rayo/console/api/session").read())
        assert session == {"signedIn": False, "open": False}, session
        "#,
    );
    let seen = scenario(
        &server,
        "signin",
        json!({"key": "admin", "secret": "admin-secret"}),
    );
    assert!(
        seen["wrongSecret"]
            .as_str()
            .unwrap()
            .contains("UnrecognizedClientException"),
        "{seen}"
    );
    assert!(seen["header"].as_str().unwrap().contains("admin"), "{seen}");
    assert_eq!(seen["createButtons"], 1);
    assert_eq!(
        seen["cookie"],
        json!([{"name": "rayo_console", "httpOnly": true, "sameSite": "Strict"}])
    );
    assert_eq!(seen["cookieVisibleToScript"], "");
}

/// A read-only key sees the console but the server refuses every change:
/// the page offers none, and a request made anyway gets a 403.
#[test]
fn console_read_only_role_is_refused_changes() {
    let server = Server::start_listening(
        "0.0.0.0:0",
        &[
            "--console-credentials",
            "admin:admin-secret,viewer:viewer-secret:read-only",
        ],
    );
    server.python(
        r#"
        lam.create_function(FunctionName="existing", Runtime="python3.11", Role=ROLE,
            Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
        "#,
    );
    let seen = scenario(
        &server,
        "signin",
        json!({"key": "viewer", "secret": "viewer-secret", "tryCreate": "sneaky", "existing": "existing"}),
    );
    assert!(
        seen["header"].as_str().unwrap().contains("read-only"),
        "{seen}"
    );
    assert_eq!(seen["createButtons"], 0);
    assert_eq!(seen["testButtons"], 0);
    assert_eq!(seen["createAttempt"]["status"], 403, "{seen}");
    assert_eq!(
        seen["createAttempt"]["body"]["__type"],
        "AccessDeniedException"
    );
    server.python(
        r#"
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == ["existing"], names
        "#,
    );
}

/// Saved test events are the server's, validated there: ten per function,
/// names and JSON checked, only for functions that exist, and every change
/// needs the session's token.
#[test]
fn console_keeps_at_most_ten_test_events_per_function() {
    let server = Server::start();
    server.python(
        r#"
        import http.cookiejar
        lam.create_function(FunctionName="evented", Runtime="python3.11", Role=ROLE,
            Handler="app.handler", Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})})
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        session = json.loads(opener.open(ENDPOINT + "/_rayo/console/api/session").read())
        assert session["signedIn"] and session["role"] == "admin", session

        def call(method, path, body=None, token=session["csrfToken"]):
            data = None if body is None else json.dumps(body).encode()
            request = urllib.request.Request(ENDPOINT + "/_rayo/console/api" + path, data=data, method=method)
            if token:
                request.add_header("X-Rayo-Console-Token", token)
            try:
                with opener.open(request) as response:
                    text = response.read()
                    return response.status, json.loads(text) if text else None
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        base = "/functions/evented/test-events/"
        for i in range(10):
            status, body = call("PUT", base + f"event-{i}", {"Event": {"n": i}})
            assert status == 200, (status, body)
        status, body = call("PUT", base + "event-10", {"Event": {}})
        assert (status, body["__type"]) == (400, "LimitExceededException"), (status, body)
        # Replacing one of the ten is allowed.
        assert call("PUT", base + "event-3", {"Event": {"n": "three"}})[0] == 200
        status, body = call("GET", "/functions/evented/test-events")
        assert status == 200
        assert [e["Name"] for e in body["TestEvents"]] == [f"event-{i}" for i in range(10)], body
        assert body["TestEvents"][3]["Event"] == {"n": "three"}, body

        for path, payload, expected in [
            (base + "has%20space", {"Event": {}}, (400, "ValidationException")),
            (base + "x" * 26, {"Event": {}}, (400, "ValidationException")),
            (base + "ok", {"NotEvent": 1}, (400, "ValidationException")),
        ]:
            status, body = call("PUT", path, payload)
            assert (status, body["__type"]) == expected, (path, status, body)
        # Lambda's own answer for a function that does not exist.
        status, body = call("PUT", "/functions/missing/test-events/ok", {"Event": {}})
        assert status == 404 and "Function not found" in body["Message"], (status, body)
        status, body = call("PUT", base + "ok", {"Event": "x" * 300000})
        assert (status, body["__type"]) == (413, "RequestEntityTooLargeException"), (status, body)

        # Without the session's token nothing changes.
        status, body = call("DELETE", base + "event-0", token=None)
        assert (status, body["__type"]) == (403, "AccessDeniedException"), (status, body)
        assert call("DELETE", base + "event-0")[0] == 204
        assert call("DELETE", base + "event-0")[0] == 404
        assert call("PUT", base + "event-10", {"Event": [1, 2]})[0] == 200
        "#,
    );
}

/// A function from an uploaded .zip and one from a bucket object, each
/// opened in the editor with its files; a missing object is Lambda's error.
#[test]
fn console_creates_functions_from_a_zip_and_from_a_bucket() {
    let server = Server::start();
    let zip_path = server.work_dir().join("upload.zip");
    server.python(&format!(
        r#"
        with open("{}", "wb") as f:
            f.write(make_zip({{"app.py": "def handler(e, c):\n    return 'from-zip'\n", "lib/helper.py": "X = 1\n"}}))
        s3 = boto3.client("s3", config=CONFIG)
        s3.create_bucket(Bucket="deployments")
        s3.put_object(Bucket="deployments", Key="v1/fn.zip",
                      Body=make_zip({{"app.py": "def handler(e, c):\n    return 'from-bucket'\n"}}))
        "#,
        zip_path.display()
    ));
    let seen = scenario(
        &server,
        "sources",
        json!({"zipPath": zip_path, "bucket": "deployments", "key": "v1/fn.zip"}),
    );
    assert_eq!(
        seen["zip"]["files"],
        json!(["app.py", "lib/helper.py"]),
        "{seen}"
    );
    assert!(
        seen["zip"]["text"]
            .as_str()
            .unwrap()
            .contains("return 'from-zip'"),
        "{seen}"
    );
    assert_eq!(seen["bucket"]["files"], json!(["app.py"]), "{seen}");
    assert!(
        seen["bucket"]["text"]
            .as_str()
            .unwrap()
            .contains("return 'from-bucket'"),
        "{seen}"
    );
    assert!(
        seen["missing"]
            .as_str()
            .unwrap()
            .contains("InvalidParameterValueException"),
        "{seen}"
    );
    server.python(
        r#"
        assert json.loads(lam.invoke(FunctionName="from-zip")["Payload"].read()) == "from-zip"
        assert json.loads(lam.invoke(FunctionName="from-bucket")["Payload"].read()) == "from-bucket"
        names = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])
        assert names == ["from-bucket", "from-zip"], names
        "#,
    );
}
