//! Concurrency through boto3 (which is told not to retry, so a 429 reaches
//! the test): reserved concurrency and its throttles, the account limit,
//! scaling out to parallel instances and back to zero, and configuration
//! changes while an invocation runs. Overlap is made certain, not hoped
//! for: functions wait at a `Gate` (see `rayo_test.py`) until the test has
//! seen every invocation it needs in flight.

use rayo_tests::Server;

/// A function that waits at the gate named in its event (if any), then
/// returns an id drawn once per instance and its log stream.
const GATED: &str = r#"
        GATED = GATE_CLIENT + '''
import os, uuid
INSTANCE = uuid.uuid4().hex

def handler(event, context):
    if "gate" in event:
        pass_gate(event["gate"], context.aws_request_id)
    return {"instance": INSTANCE, "stream": context.log_stream_name, "value": os.environ.get("VALUE")}
'''

        def throttle_reason(error):
            assert error.response["Error"]["Code"] == "TooManyRequestsException", error.response
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 429, error.response
            return error.response.get("Reason")
"#;

fn snippet(body: &str) -> String {
    format!("{GATED}{body}")
}

#[test]
fn a_reservation_of_one_throttles_a_second_concurrent_invocation() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("single", {"app.py": GATED}, Timeout=600)
        out = lam.put_function_concurrency(FunctionName="single", ReservedConcurrentExecutions=1)
        assert out["ReservedConcurrentExecutions"] == 1, out

        gate = Gate()
        first = background(invoke, "single", {"gate": gate.url})
        gate.wait_for(1)
        # Without the gate: were it let through, it would end at once and fail the test.
        error = client_error(lam.invoke, FunctionName="single", Payload=b"{}")
        assert throttle_reason(error) == "ReservedFunctionConcurrentInvocationLimitExceeded", error.response
        assert error.response["Error"].get("Message"), error.response
        gate.open()
        assert first.result().ok()["instance"]
        assert len(gate.arrivals) == 1, "the throttled invocation never ran"

        # The slot is free again.
        assert invoke("single", {"gate": gate.url}).ok()
        "#,
    ));
}

#[test]
fn a_reservation_of_zero_throttles_every_invocation() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("stopped", {"app.py": GATED})
        assert invoke("stopped").ok()
        lam.put_function_concurrency(FunctionName="stopped", ReservedConcurrentExecutions=0)
        for _ in range(3):
            error = client_error(lam.invoke, FunctionName="stopped", Payload=b"{}")
            assert throttle_reason(error) == "ReservedFunctionConcurrentInvocationLimitExceeded", error.response
        # Other functions run.
        assert still_serving()
        lam.delete_function_concurrency(FunctionName="stopped")
        assert invoke("stopped").ok()
        "#,
    ));
}

#[test]
fn function_concurrency_operations_answer_in_lambda_s_shapes() {
    let server = Server::start_with(&["--concurrency-limit", "50"]);
    server.python(&snippet(
        r#"
        create("reserved", {"app.py": GATED})
        create("other", {"app.py": GATED})
        def account():
            limits = lam.get_account_settings()["AccountLimit"]
            return limits["ConcurrentExecutions"], limits["UnreservedConcurrentExecutions"]

        def without_metadata(response):
            response = dict(response)
            response.pop("ResponseMetadata")
            return response

        assert account() == (50, 50)
        assert without_metadata(lam.get_function_concurrency(FunctionName="reserved")) == {}
        assert "Concurrency" not in lam.get_function(FunctionName="reserved")

        put = lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=5)
        assert put["ResponseMetadata"]["HTTPStatusCode"] == 200, put
        assert without_metadata(put) == {"ReservedConcurrentExecutions": 5}, put
        assert without_metadata(lam.get_function_concurrency(FunctionName="reserved")) == {"ReservedConcurrentExecutions": 5}
        assert lam.get_function(FunctionName="reserved")["Concurrency"] == {"ReservedConcurrentExecutions": 5}
        assert account() == (50, 45)

        # Lambda keeps a tenth of a small account's limit unreserved (5 of 50).
        message = expect_error("InvalidParameterValueException", 400, lam.put_function_concurrency,
                               FunctionName="other", ReservedConcurrentExecutions=41)
        assert message == ("Specified ReservedConcurrentExecutions for function decreases account's "
                           "UnreservedConcurrentExecution below its minimum value of [5]."), message
        assert without_metadata(lam.put_function_concurrency(FunctionName="other", ReservedConcurrentExecutions=40)) \
            == {"ReservedConcurrentExecutions": 40}
        assert account() == (50, 5)
        # Raising a reservation counts the others'; lowering one is fine.
        expect_error("InvalidParameterValueException", 400, lam.put_function_concurrency,
                     FunctionName="reserved", ReservedConcurrentExecutions=6)
        lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=4)
        assert account() == (50, 6)
        expect_error("InvalidParameterValueException", 400, lam.put_function_concurrency,
                     FunctionName="reserved", ReservedConcurrentExecutions=100000)
        assert without_metadata(lam.get_function_concurrency(FunctionName="reserved")) == {"ReservedConcurrentExecutions": 4}

        deleted = lam.delete_function_concurrency(FunctionName="reserved")
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204, deleted
        assert without_metadata(lam.get_function_concurrency(FunctionName="reserved")) == {}
        assert "Concurrency" not in lam.get_function(FunctionName="reserved")
        assert account() == (50, 10)
        assert invoke("reserved").ok()

        for call, kwargs in [
            (lam.get_function_concurrency, {}),
            (lam.put_function_concurrency, {"ReservedConcurrentExecutions": 1}),
            (lam.delete_function_concurrency, {}),
        ]:
            expect_error("ResourceNotFoundException", 404, call, FunctionName="missing", **kwargs)
        "#,
    ));
}

#[test]
fn the_account_limit_throttles_unreserved_functions() {
    let server = Server::start_with(&["--concurrency-limit", "2"]);
    server.python(&snippet(
        r#"
        create("busy", {"app.py": GATED}, Timeout=600)
        gate = Gate()
        running = [background(invoke, "busy", {"gate": gate.url}) for _ in range(2)]
        gate.wait_for(2)
        error = client_error(lam.invoke, FunctionName="busy", Payload=b"{}")
        assert throttle_reason(error) == "ConcurrentInvocationLimitExceeded", error.response
        gate.open()
        instances = {run.result().ok()["instance"] for run in running}
        assert len(instances) == 2, instances
        assert len(gate.arrivals) == 2, "the throttled invocation never ran"

        # Both slots are free again.
        again = [background(invoke, "busy", {"gate": gate.url}) for _ in range(2)]
        assert {run.result().ok()["instance"] for run in again} <= instances
        "#,
    ));
}

#[test]
fn concurrent_invocations_scale_out_to_one_instance_each() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("wide", {"app.py": GATED}, Timeout=600)
        gate = Gate()
        running = [background(invoke, "wide", {"gate": gate.url}) for _ in range(4)]
        gate.wait_for(4)
        gate.open()
        results = [run.result() for run in running]
        got = [run.ok() for run in results]
        assert len({g["instance"] for g in got}) == 4, got
        assert all("Init Duration" in report_fields(run) for run in results), [r.log for r in results]
        streams = {s["logStreamName"] for s in cwl.describe_log_streams(logGroupName="/aws/lambda/wide")["logStreams"]}
        assert streams == {g["stream"] for g in got}, (streams, got)
        assert len(streams) == 4, streams
        "#,
    ));
}

#[test]
fn idle_instances_are_ended_and_the_next_invocation_starts_cold() {
    let server = Server::start_with(&["--idle-timeout", "1"]);
    server.python(&snippet(
        r#"
        create("napper", {"app.py": GATED})
        first = invoke("napper")
        assert "Init Duration" in report_fields(first), first.log
        instance = first.ok()["instance"]

        # Each running instance has a scratch directory under instances/
        # (README's data directory), removed when the instance ends.
        instances_dir = os.path.join(os.environ["RAYO_TEST_SERVER_DATA_DIR"], "instances")
        poll(lambda: not os.listdir(instances_dir), "the idle instance to be ended", deadline_seconds=LONG_WAIT)

        cold = invoke("napper")
        assert "Init Duration" in report_fields(cold), cold.log
        assert cold.ok()["instance"] != instance
        "#,
    ));
}

#[test]
fn an_update_during_an_invocation_applies_to_the_next_ones() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("changing", {"app.py": GATED}, Timeout=600, Environment={"Variables": {"VALUE": "old"}})
        gate = Gate()
        in_flight = background(invoke, "changing", {"gate": gate.url})
        gate.wait_for(1)
        lam.update_function_configuration(FunctionName="changing", Environment={"Variables": {"VALUE": "new"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName="changing")
        # While the old one still runs, a new invocation gets the new configuration.
        during = invoke("changing").ok()
        assert during["value"] == "new", during
        gate.open()
        old = in_flight.result().ok()
        assert old["value"] == "old", old
        assert old["instance"] != during["instance"]
        # The old instance is not reused.
        for _ in range(3):
            assert invoke("changing").ok()["value"] == "new"

        # The same with new code.
        gate = Gate()
        in_flight = background(invoke, "changing", {"gate": gate.url})
        gate.wait_for(1)
        lam.update_function_code(FunctionName="changing", ZipFile=make_zip({"app.py": GATED.replace(
            'return {"instance"', 'return {"code": "v2", "instance"')}))
        lam.get_waiter("function_updated_v2").wait(FunctionName="changing")
        assert invoke("changing").ok().get("code") == "v2"
        gate.open()
        assert "code" not in in_flight.result().ok(), "the in-flight invocation finished on the old code"
        for _ in range(3):
            assert invoke("changing").ok().get("code") == "v2"
        "#,
    ));
}
