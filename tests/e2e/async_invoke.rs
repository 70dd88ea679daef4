//! Asynchronous invocation through boto3: `InvocationType=Event` and the
//! deprecated InvokeAsync, Lambda's retries, event invoke configs, the
//! invocation records destinations receive, payload limits, and an event
//! that survives the server being killed. What a function ran is read back
//! from its log through the Logs API; the server's retry delay is shortened
//! with `--async-retry-delay`.

use rayo_tests::Server;

/// Python helpers: a function that logs each event it runs with its request
/// id, one that fails after logging, and readers of those lines.
const HELPERS: &str = r#"
        RECORDER = '''
import json

def handler(event, context):
    print("RAN " + json.dumps({"request_id": context.aws_request_id, "event": event}))
    return {"ran": event}
'''
        FAILING = '''
import json

def handler(event, context):
    print("ATTEMPT " + json.dumps({"request_id": context.aws_request_id, "event": event}))
    raise ValueError("failing on purpose")
'''

        def runs(name, prefix="RAN "):
            return [json.loads(m[len(prefix):]) for m in log_messages(name) if m.startswith(prefix)]

        def wait_for_runs(name, n=1, prefix="RAN ", where=lambda run: True):
            def check():
                found = [run for run in runs(name, prefix) if where(run)]
                return found if len(found) >= n else None
            return poll(check, f"{n} run(s) logged by {name}", deadline_seconds=LONG_WAIT)

        def invoke_event(name, event):
            response = lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps(event))
            assert response["StatusCode"] == 202, response
            assert response["ResponseMetadata"]["HTTPStatusCode"] == 202, response
            assert response["Payload"].read() == b"", response
            assert "FunctionError" not in response, response
            request_id = response["ResponseMetadata"]["RequestId"]
            assert re.fullmatch(UUID, request_id), request_id
            return request_id

        def records(name):
            # What a destination function received: Lambda's invocation records.
            return [run["event"] for run in runs(name)]
"#;

fn snippet(body: &str) -> String {
    format!("{HELPERS}{body}")
}

/// A server whose retries come after 0.2 s (then 0.4 s), not minutes.
fn fast_retries() -> Server {
    Server::start_with(&["--async-retry-delay", "0.2"])
}

#[test]
fn an_event_invocation_is_accepted_then_runs_with_its_request_id() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("recorder", {"app.py": RECORDER})
        marker = uuid.uuid4().hex
        request_id = invoke_event("recorder", {"marker": marker})
        ran = wait_for_runs("recorder")
        assert ran == [{"request_id": request_id, "event": {"marker": marker}}], ran
        messages = log_messages("recorder")
        assert f"START RequestId: {request_id} Version: $LATEST" in messages, messages
        assert any(m.startswith(f"REPORT RequestId: {request_id}\t") for m in messages), messages

        # Events from boto3 with no payload are `{}`.
        response = lam.invoke(FunctionName="recorder", InvocationType="Event")
        assert response["StatusCode"] == 202, response
        empty_id = response["ResponseMetadata"]["RequestId"]
        assert wait_for_runs("recorder", where=lambda run: run["request_id"] == empty_id) == [
            {"request_id": empty_id, "event": {}}]

        # An unknown function is refused at once.
        expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="missing",
                     InvocationType="Event", Payload=b"{}")
        "#,
    ));
}

#[test]
fn a_failing_event_is_tried_three_times_with_the_same_request_id() {
    let server = fast_retries();
    server.python(&snippet(
        r#"
        create("failing", {"app.py": FAILING})
        create("failures", {"app.py": RECORDER})
        # The failure destination says when Lambda has given up.
        lam.put_function_event_invoke_config(
            FunctionName="failing",
            DestinationConfig={"OnFailure": {"Destination": function_arn("failures")}})
        request_id = invoke_event("failing", {"n": 1})
        record = wait_for_runs("failures")[0]["event"]
        assert record["requestContext"]["requestId"] == request_id, record
        assert record["requestContext"]["condition"] == "RetriesExhausted", record
        assert record["requestContext"]["approximateInvokeCount"] == 3, record

        attempts = runs("failing", "ATTEMPT ")
        assert attempts == [{"request_id": request_id, "event": {"n": 1}}] * 3, attempts
        messages = log_messages("failing")
        assert sum(m == f"START RequestId: {request_id} Version: $LATEST" for m in messages) == 3, messages
        "#,
    ));
}

#[test]
fn maximum_retry_attempts_zero_tries_once() {
    let server = fast_retries();
    server.python(&snippet(
        r#"
        create("failing", {"app.py": FAILING})
        create("failures", {"app.py": RECORDER})
        lam.put_function_event_invoke_config(
            FunctionName="failing", MaximumRetryAttempts=0,
            DestinationConfig={"OnFailure": {"Destination": function_arn("failures")}})
        request_id = invoke_event("failing", {"n": 1})
        record = wait_for_runs("failures")[0]["event"]
        assert record["requestContext"]["requestId"] == request_id, record
        assert record["requestContext"]["condition"] == "RetriesExhausted", record
        assert record["requestContext"]["approximateInvokeCount"] == 1, record
        assert runs("failing", "ATTEMPT ") == [{"request_id": request_id, "event": {"n": 1}}]
        "#,
    ));
}

#[test]
fn destinations_receive_lambda_s_invocation_records() {
    let server = fast_retries();
    server.python(&snippet(
        r#"
        create("succeeding", {"app.py": RECORDER})
        create("failing", {"app.py": FAILING})
        create("successes", {"app.py": RECORDER})
        create("failures", {"app.py": RECORDER})
        destinations = {"OnSuccess": {"Destination": function_arn("successes")},
                        "OnFailure": {"Destination": function_arn("failures")}}
        for name in ("succeeding", "failing"):
            lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig=destinations)

        ok_event = {"order": 1, "items": ["a", "b"]}
        ok_id = invoke_event("succeeding", ok_event)
        failed_event = {"order": 2}
        failed_id = invoke_event("failing", failed_event)

        [success] = [run["event"] for run in wait_for_runs("successes")]
        [failure] = [run["event"] for run in wait_for_runs("failures")]
        timestamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
        for record in (success, failure):
            assert set(record) == {"version", "timestamp", "requestContext", "requestPayload",
                                   "responseContext", "responsePayload"}, record
            assert record["version"] == "1.0", record
            assert re.fullmatch(timestamp, record["timestamp"]), record

        assert success["requestContext"] == {
            "requestId": ok_id,
            "functionArn": function_arn("succeeding") + ":$LATEST",
            "condition": "Success",
            "approximateInvokeCount": 1,
        }, success
        assert success["requestPayload"] == ok_event, success
        assert success["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}, success
        assert success["responsePayload"] == {"ran": ok_event}, success

        assert failure["requestContext"] == {
            "requestId": failed_id,
            "functionArn": function_arn("failing") + ":$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": 3,
        }, failure
        assert failure["requestPayload"] == failed_event, failure
        assert failure["responseContext"] == {
            "statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}, failure
        assert failure["responsePayload"]["errorType"] == "ValueError", failure
        assert failure["responsePayload"]["errorMessage"] == "failing on purpose", failure

        # Each outcome went to its own destination only, once.
        assert len(runs("successes")) == 1 and len(runs("failures")) == 1
        "#,
    ));
}

#[test]
fn event_invoke_config_operations_answer_in_lambda_s_shapes() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        import datetime
        create("configured", {"app.py": RECORDER})
        create("target", {"app.py": RECORDER})
        arn = function_arn("configured") + ":$LATEST"

        def without_metadata(response):
            response = dict(response)
            response.pop("ResponseMetadata")
            return response

        message = expect_error("ResourceNotFoundException", 404, lam.get_function_event_invoke_config,
                               FunctionName="configured")
        assert "configured" in message, message
        assert lam.list_function_event_invoke_configs(FunctionName="configured")["FunctionEventInvokeConfigs"] == []

        put = lam.put_function_event_invoke_config(FunctionName="configured", MaximumRetryAttempts=1,
                                                   MaximumEventAgeInSeconds=120)
        put = without_metadata(put)
        assert isinstance(put.pop("LastModified"), datetime.datetime), put
        assert put == {
            "FunctionArn": arn,
            "MaximumRetryAttempts": 1,
            "MaximumEventAgeInSeconds": 120,
            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}},
        }, put
        got = without_metadata(lam.get_function_event_invoke_config(FunctionName="configured"))
        got.pop("LastModified")
        assert got == put, got

        # Update changes only what it is given.
        updated = without_metadata(lam.update_function_event_invoke_config(
            FunctionName="configured",
            DestinationConfig={"OnFailure": {"Destination": function_arn("target")}}))
        updated.pop("LastModified")
        assert updated == {
            "FunctionArn": arn,
            "MaximumRetryAttempts": 1,
            "MaximumEventAgeInSeconds": 120,
            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": function_arn("target")}},
        }, updated
        listed = lam.list_function_event_invoke_configs(FunctionName="configured")["FunctionEventInvokeConfigs"]
        assert len(listed) == 1, listed
        listed[0].pop("LastModified")
        assert listed[0] == updated, listed

        # Put replaces the whole configuration.
        replaced = without_metadata(lam.put_function_event_invoke_config(FunctionName="configured",
                                                                        MaximumRetryAttempts=2))
        replaced.pop("LastModified")
        assert replaced == {"FunctionArn": arn, "MaximumRetryAttempts": 2,
                            "DestinationConfig": {"OnSuccess": {}, "OnFailure": {}}}, replaced

        # Out of range values; botocore would refuse them before sending.
        raw = unvalidated_lambda_client()
        for field, value in [("MaximumRetryAttempts", 3), ("MaximumRetryAttempts", -1),
                             ("MaximumEventAgeInSeconds", 59), ("MaximumEventAgeInSeconds", 21601)]:
            for call in (raw.put_function_event_invoke_config, raw.update_function_event_invoke_config):
                message = expect_error("ValidationException", 400, call, FunctionName="configured", **{field: value})
                member = field[0].lower() + field[1:]
                assert f"Value '{value}' at '{member}'" in message, message
        expect_error("InvalidParameterValueException", 400, lam.put_function_event_invoke_config,
                     FunctionName="configured", DestinationConfig={"OnSuccess": {"Destination": "not-an-arn"}})
        unchanged = lam.get_function_event_invoke_config(FunctionName="configured")
        assert unchanged["MaximumRetryAttempts"] == 2 and "MaximumEventAgeInSeconds" not in unchanged, unchanged
        expect_error("ResourceNotFoundException", 404, lam.put_function_event_invoke_config,
                     FunctionName="missing", MaximumRetryAttempts=1)

        deleted = lam.delete_function_event_invoke_config(FunctionName="configured")
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204, deleted
        expect_error("ResourceNotFoundException", 404, lam.get_function_event_invoke_config, FunctionName="configured")
        expect_error("ResourceNotFoundException", 404, lam.delete_function_event_invoke_config, FunctionName="configured")
        assert lam.list_function_event_invoke_configs(FunctionName="configured")["FunctionEventInvokeConfigs"] == []
        "#,
    ));
}

#[test]
fn event_payloads_are_limited_to_one_megabyte() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("sizes", {"app.py": '''
def handler(event, context):
    print("LENGTH", context.aws_request_id, len(event))
'''})
        limit = 1024 * 1024

        def payload(size):
            # A JSON string of exactly `size` bytes.
            return b'"' + b"x" * (size - 2) + b'"'

        expect_error("RequestEntityTooLargeException", 413, lam.invoke, FunctionName="sizes",
                     InvocationType="Event", Payload=payload(limit + 1))
        expect_error("RequestEntityTooLargeException", 413, lam.invoke, FunctionName="sizes",
                     InvocationType="Event", Payload=payload(2 * limit))
        response = lam.invoke(FunctionName="sizes", InvocationType="Event", Payload=payload(limit - 100))
        assert response["StatusCode"] == 202, response
        request_id = response["ResponseMetadata"]["RequestId"]
        wait_for_messages("sizes", lambda m: m == f"LENGTH {request_id} {limit - 102}", "the large event's run")

        # The synchronous limit is 6 MB: the same payload runs synchronously.
        assert invoke("sizes", raw=payload(limit + 1)).status == 200
        "#,
    ));
}

#[test]
fn invoke_async_queues_the_event() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("recorder", {"app.py": RECORDER})
        marker = uuid.uuid4().hex
        response = lam.invoke_async(FunctionName="recorder", InvokeArgs=json.dumps({"marker": marker}))
        assert response["Status"] == 202, response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 202, response
        request_id = response["ResponseMetadata"]["RequestId"]
        ran = wait_for_runs("recorder")
        assert ran == [{"request_id": request_id, "event": {"marker": marker}}], ran
        expect_error("ResourceNotFoundException", 404, lam.invoke_async, FunctionName="missing", InvokeArgs=b"{}")
        "#,
    ));
}

#[test]
fn an_event_accepted_before_the_server_is_killed_runs_after_its_restart() {
    let server = Server::start();
    let server_pid = server.pid();
    let rayo = rayo_tests::rayo_binary();
    server.python(&snippet(&format!(
        "        SERVER_PID = {server_pid}\n        RAYO = {rayo:?}\n{}",
        r#"
        create("durable", {"app.py": GATE_CLIENT + '''
def handler(event, context):
    print("STARTED", context.aws_request_id)
    pass_gate(event["gate"], context.aws_request_id)
    print("FINISHED", context.aws_request_id)
'''}, Timeout=600)
        gate = Gate()
        request_id = invoke_event("durable", {"gate": gate.url})
        # The invocation is running (waiting at the gate, its first line
        # stored) when the server dies.
        assert gate.wait_for(1) == [request_id]
        wait_for_messages("durable", lambda m: m == f"STARTED {request_id}", "the first attempt's log line")
        kill_and_wait(SERVER_PID)

        data_dir = os.environ["RAYO_TEST_SERVER_DATA_DIR"]
        with ServerProcess(RAYO, data_dir) as restarted:
            lam, cwl = use_endpoint(restarted.url)
            # Run again, with the same request id (at least once).
            assert gate.wait_for(2) == [request_id, request_id]
            gate.open()
            finished = wait_for_messages("durable", lambda m: m.startswith("FINISHED "), "the invocation to finish")
            assert finished == [f"FINISHED {request_id}"], finished
            messages = log_messages("durable")
            assert messages.count(f"STARTED {request_id}") == 2, messages
            assert still_serving()
        "#,
    )));
}
