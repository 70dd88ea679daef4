//! Functions that time out or crash: the caller gets Lambda's error, the log
//! says what happened, and the next invocation runs on a fresh instance.

use rayo_tests::Server;

const SLEEPY: &str = r#"
        create("sleepy", {"app.py": '''
import os, time, uuid

# Each instance draws its own id at init (pids repeat: every sandbox starts
# its program as the same pid).
INSTANCE = uuid.uuid4().hex

def handler(event, context):
    if event.get("sleep"):
        print("going to sleep")
        time.sleep(event["sleep"])
        return "woke up"
    if event.get("exit") is not None:
        print("exiting")
        os._exit(event["exit"])
    return {"instance": INSTANCE}
'''}, Timeout=1)
"#;

#[test]
fn a_timed_out_invocation_fails_and_the_next_one_works() {
    let server = Server::start();
    server.python(&format!(
        "{SLEEPY}{}",
        r#"
        run = invoke("sleepy", {"sleep": 5})
        assert run.status == 200 and run.error == "Unhandled", run
        request_id = run.log_request_id()
        assert "Task timed out after 1.00 seconds" in run.payload["errorMessage"], run.payload
        expected = f"RequestId: {request_id} Error: Task timed out after 1.00 seconds"
        assert run.payload["errorMessage"] == expected, run.payload
        assert run.payload.get("errorType") == "Sandbox.Timedout", run.payload
        lines = run.log.splitlines()
        timed_out = rf"^\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z {request_id} Task timed out after 1\.00 seconds$"
        assert any(re.fullmatch(timed_out, l) for l in lines), run.log
        assert "going to sleep" in lines, run.log
        report = [l for l in lines if l.startswith("REPORT ")]
        assert len(report) == 1 and "\tStatus: timeout\t" in report[0], report

        messages = wait_for_log("sleepy", lambda m: re.fullmatch(timed_out, m), "the timed-out line")
        assert f"END RequestId: {request_id}" in messages

        # The timed-out instance was ended; the next invocation cold-starts.
        after = invoke("sleepy", {})
        assert isinstance(after.ok()["instance"], str), after
        assert "\tInit Duration: " in after.log, after.log
        again = invoke("sleepy", {})
        assert again.ok() == after.ok(), "and then stays warm"
        "#
    ));
}

#[test]
fn a_crashed_runtime_fails_the_invocation_and_is_replaced() {
    let server = Server::start();
    server.python(&format!(
        "{SLEEPY}{}",
        r#"
        first = invoke("sleepy", {})
        instance = first.ok()["instance"]

        run = invoke("sleepy", {"exit": 3})
        assert run.status == 200 and run.error == "Unhandled", run
        request_id = run.log_request_id()
        assert run.payload["errorType"] == "Runtime.ExitError", run.payload
        expected = f"RequestId: {request_id} Error: Runtime exited with error: exit status 3"
        assert run.payload["errorMessage"] == expected, run.payload
        assert "exiting" in run.log.splitlines(), run.log
        assert f"RequestId: {request_id} Error: Runtime exited with error: exit status 3" in run.log, run.log

        after = invoke("sleepy", {})
        assert after.ok()["instance"] != instance, "a new instance serves the next invocation"
        assert "\tInit Duration: " in after.log, after.log
        assert server_healthy()
        "#
    ));
}
