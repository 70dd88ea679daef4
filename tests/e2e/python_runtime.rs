//! The built-in Python runtime behaves as Lambda's: handler lookup, the
//! context object, event and response marshalling, errors, init errors,
//! warm state and logging.

use rayo_tests::Server;

#[test]
fn handler_in_a_subfolder_sees_the_whole_context() {
    let server = Server::start();
    server.python(
        r#"
        create("ctx", {
            "helper.py": "VALUE = 42\n",
            "src/app.py": '''
import os
import helper

def handler(event, context):
    identity = context.identity
    client_context = context.client_context
    client = client_context.client if client_context else None
    return {
        "helper": helper.VALUE,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "identity": None if identity is None else [identity.cognito_identity_id, identity.cognito_identity_pool_id],
        "client_context": None if client_context is None else {
            "custom": client_context.custom,
            "env": client_context.env,
            "client": None if client is None else {
                name: getattr(client, name)
                for name in ("installation_id", "app_title", "app_version_name", "app_version_code", "app_package_name")
            },
        },
        "remaining": context.get_remaining_time_in_millis(),
        "stream_env": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
        "cwd": os.getcwd(),
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "environment": dict(os.environ),
    }
'''}, handler="src/app.handler", Timeout=30, MemorySize=256)

        client_context = {
            "client": {
                "installation_id": "install-1",
                "app_title": "Rayo Test",
                "app_version_name": "1.2.3",
                "app_version_code": "123",
                "app_package_name": "dev.rayo.test",
            },
            "custom": {"tenant": "blue", "n": 7},
            "env": {"platform": "linux", "locale": "en_GB"},
        }
        encoded = base64.b64encode(json.dumps(client_context).encode()).decode()
        run = invoke("ctx", {"k": "v"}, ClientContext=encoded)
        got = run.ok()
        assert got["helper"] == 42
        assert got["function_name"] == "ctx"
        assert got["function_version"] == "$LATEST"
        assert got["invoked_function_arn"] == function_arn("ctx"), got
        # Lambda's Python runtime passes the memory size through as a string.
        assert got["memory_limit_in_mb"] == "256", got
        assert re.fullmatch(UUID, got["aws_request_id"]), got
        assert got["aws_request_id"] == run.log_request_id(), (got, run.log)
        assert got["log_group_name"] == "/aws/lambda/ctx"
        assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", got["log_stream_name"]), got
        assert got["stream_env"] == got["log_stream_name"]
        assert got["identity"] == [None, None], got
        assert got["client_context"] == client_context, got["client_context"]
        assert 0 < got["remaining"] <= 30000, got
        assert got["cwd"] == got["task_root"], got
        environment = got["environment"]
        for key, value in {
            "AWS_LAMBDA_FUNCTION_NAME": "ctx",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
            "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/ctx",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
            "_HANDLER": "src/app.handler",
        }.items():
            assert environment.get(key) == value, (key, environment.get(key), value)
        assert environment.get("AWS_LAMBDA_RUNTIME_API"), environment
        assert environment.get("AWS_ACCESS_KEY_ID") and environment.get("AWS_SECRET_ACCESS_KEY"), environment

        # Without a client context there is none; a qualified ARN is passed through.
        got = invoke(function_arn("ctx") + ":$LATEST").ok()
        assert got["client_context"] is None, got
        assert got["invoked_function_arn"] == function_arn("ctx") + ":$LATEST", got
        got = invoke("ctx", Qualifier="$LATEST").ok()
        assert got["invoked_function_arn"] == function_arn("ctx") + ":$LATEST", got
        "#,
    );
}

#[test]
fn invoke_answers_with_the_invocations_request_id() {
    // Lambda's Invoke response carries the invocation's request id in
    // `x-amzn-RequestId` (boto3's ResponseMetadata.RequestId): the id in the
    // function's context and in its START line, so callers can find the log.
    let server = Server::start();
    server.python(
        r#"
        create("rid", {"app.py": "def handler(event, context):\n    return context.aws_request_id\n"})
        for _ in range(2):
            run = invoke("rid")
            request_id = run.ok()
            assert request_id == run.log_request_id(), (request_id, run.log)
            assert run.request_id == request_id, (run.request_id, request_id)
            assert run.response["ResponseMetadata"]["HTTPHeaders"].get("x-amzn-requestid") == request_id
        "#,
    );
}

#[test]
fn events_of_every_json_type_round_trip() {
    let server = Server::start();
    server.python(
        r#"
        create("echo", {"app.py": "def handler(event, context):\n    return event\n"})
        events = [
            {"nested": {"list": [1, 2.5, "three", None, True]}, "unicode": "żółć ☃"},
            [1, "two", {"three": 3}],
            "a string",
            "",
            42,
            -7.25,
            True,
            False,
            None,
            {},
            [],
        ]
        for event in events:
            run = invoke("echo", event)
            assert run.status == 200 and run.error is None, run
            assert run.payload == event, (event, run.raw)
            assert type(run.payload) is type(event), (event, run.raw)
        "#,
    );
}

#[test]
fn function_errors_come_back_as_lambda_reports_them() {
    let server = Server::start();
    server.python(
        r#"
        create("errors", {"app.py": '''
def handler(event, context):
    if event["kind"] == "set":
        return {1, 2, 3}
    if event["kind"] == "raise":
        raise ValueError("bad value: " + str(event["n"]))
    return "fine"
'''})
        run = invoke("errors", {"kind": "set"})
        assert run.status == 200 and run.error == "Unhandled", run
        assert run.payload["errorType"] == "Runtime.MarshalError", run.payload
        assert run.payload["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable", run.payload

        run = invoke("errors", {"kind": "raise", "n": 7})
        assert run.status == 200 and run.error == "Unhandled", run
        assert run.payload["errorType"] == "ValueError", run.payload
        assert run.payload["errorMessage"] == "bad value: 7", run.payload
        trace = run.payload["stackTrace"]
        assert isinstance(trace, list) and trace, run.payload
        assert any("app.py" in frame and "in handler" in frame and "raise ValueError" in frame for frame in trace), trace
        # The error is logged too, with its type and traceback in one event,
        # as Lambda's runtime does.
        assert "[ERROR] ValueError: bad value: 7" in run.log, run.log
        error_id = run.log_request_id()
        messages = wait_for_log("errors", lambda m: m.startswith("[ERROR] ValueError: bad value: 7"), "the error event")
        event = next(m for m in messages if m.startswith("[ERROR] ValueError: bad value: 7"))
        assert "\nTraceback (most recent call last):\n" in event and 'raise ValueError' in event, event
        # A function's own error is not a platform failure: the REPORT line
        # is the plain one (no Status or Error Type fields).
        report = [l for l in run.log.splitlines() if l.startswith("REPORT ")]
        plain = (rf"REPORT RequestId: {error_id}\tDuration: \d+\.\d{{2}} ms\tBilled Duration: \d+ ms\t"
                 rf"Memory Size: 128 MB\tMax Memory Used: \d+ MB\t(Init Duration: \d+\.\d{{2}} ms\t)?")
        assert len(report) == 1 and re.fullmatch(plain, report[0]), report

        # The instance survives its function's errors.
        assert invoke("errors", {"kind": "none"}).ok() == "fine"
        "#,
    );
}

#[test]
fn init_errors_are_reported_with_lambdas_error_types() {
    let server = Server::start();
    server.python(
        r#"
        create("no-module", {"app.py": "def handler(e, c):\n    return 1\n"}, handler="nosuch.handler")
        create("syntax", {"app.py": "def handler(event, context)\n    return 1\n"})
        create("no-handler", {"app.py": "def other(e, c):\n    return 1\n"}, handler="app.nope")
        expected = {
            "no-module": ("Runtime.ImportModuleError", "Unable to import module 'nosuch': No module named 'nosuch'"),
            "syntax": ("Runtime.UserCodeSyntaxError", "Syntax error in module 'app': "),
            "no-handler": ("Runtime.HandlerNotFound", "Handler 'nope' missing on module 'app'"),
        }
        for name, (error_type, message) in expected.items():
            # Every invocation retries the init, and fails the same way.
            for _ in range(2):
                run = invoke(name)
                assert run.status == 200 and run.error == "Unhandled", (name, run)
                assert run.payload["errorType"] == error_type, (name, run.payload)
                assert run.payload["errorMessage"].startswith(message), (name, run.payload)
                assert re.search(rf"^START RequestId: {UUID} Version: \$LATEST$", run.log, re.M), run.log
                assert re.search(rf"^REPORT RequestId: {UUID}\t", run.log, re.M), run.log
        assert server_healthy()
        "#,
    );
}

#[test]
fn warm_instances_keep_module_state_and_log_like_lambda() {
    let server = Server::start();
    server.python(
        r#"
        create("warm", {"app.py": '''
import logging
logger = logging.getLogger()
logger.setLevel(logging.INFO)
count = 0

def handler(event, context):
    global count
    count += 1
    print("printed", event["marker"], count)
    logger.info("logged %s %d", event["marker"], count)
    logger.warning("warned %s", event["marker"])
    return count
'''})
        marker = "m-" + uuid.uuid4().hex
        runs = [invoke("warm", {"marker": marker}) for _ in range(3)]
        assert [r.ok() for r in runs] == [1, 2, 3], runs

        for n, run in enumerate(runs, start=1):
            request_id = run.log_request_id()
            lines = run.log.splitlines()
            assert f"printed {marker} {n}" in lines, run.log
            timestamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
            info = rf"^\[INFO\]\t{timestamp}\t{re.escape(request_id)}\tlogged {marker} {n}$"
            assert re.search(info, run.log, re.M), (info, run.log)
            warning = rf"^\[WARNING\]\t{timestamp}\t{re.escape(request_id)}\twarned {marker}$"
            assert re.search(warning, run.log, re.M), (warning, run.log)

        # The same lines reach CloudWatch Logs.
        messages = wait_for_log("warm", lambda m: m == f"printed {marker} 3", "the third print")
        for n, run in enumerate(runs, start=1):
            request_id = run.log_request_id()
            assert f"printed {marker} {n}" in messages
            assert any(m.startswith("[INFO]\t") and m.endswith(f"\t{request_id}\tlogged {marker} {n}") for m in messages), messages
        "#,
    );
}
