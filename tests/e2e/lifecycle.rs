//! The server's own life: state survives a restart, and SIGTERM lets
//! in-flight invocations finish before a clean exit.

use nix::sys::signal::Signal;
use rayo_tests::Server;

#[test]
fn functions_survive_a_restart() {
    let mut server = Server::start();
    let before = server.python_json(
        r#"
        create("durable", {"app.py": "def handler(event, context):\n    return {'durable': event}\n"},
               Environment={"Variables": {"KEPT": "yes"}}, Tags={"t": "1"})
        lam.add_permission(FunctionName="durable", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
        assert invoke("durable", 1).ok() == {"durable": 1}
        configuration = lam.get_function_configuration(FunctionName="durable")
        configuration.pop("ResponseMetadata")
        emit(configuration)
        "#,
    );
    // The old process has exited by now: whatever port the new one got
    // (port 0 may hand out the same one again), it is the new one serving.
    server.restart();
    let after = server.python_json(
        r#"
        got = lam.get_function(FunctionName="durable")
        assert got["Tags"] == {"t": "1"}, got
        with urllib.request.urlopen(got["Code"]["Location"], timeout=30) as response:
            assert hashlib.sha256(response.read()).digest() == base64.b64decode(got["Configuration"]["CodeSha256"])
        statements = json.loads(lam.get_policy(FunctionName="durable")["Policy"])["Statement"]
        assert [s["Sid"] for s in statements] == ["s3"], statements
        run = invoke("durable", 2)
        assert run.ok() == {"durable": 2}
        assert "\tInit Duration: " in run.log, "a restart starts instances afresh"
        # The log written before the restart is still there.
        messages = log_messages("durable")
        assert sum(m.startswith("START RequestId: ") for m in messages) == 2, messages
        emit(got["Configuration"])
        "#,
    );
    assert_eq!(before, after);
}

#[test]
fn sigterm_finishes_the_in_flight_invocation_then_exits_0() {
    let mut server = Server::start();
    server.python(
        r#"
        create("slow", {"app.py": '''
import time

def handler(event, context):
    print("started", context.aws_request_id)
    time.sleep(3)
    return "finished"
'''}, Timeout=30)
        "#,
    );
    let caller = server.spawn_python(
        r#"
        run = invoke("slow")
        emit({"status": run.status, "error": run.error, "payload": run.payload, "log": run.log})
        "#,
    );
    // The function says it started through its log, which rayo delivers
    // while the invocation runs; no file is shared with the function.
    server.wait_for_log_line("slow", "started");
    let status = server.stop_with(Signal::SIGTERM);
    let stdout = caller.wait();
    let result: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("JSON result");
    assert_eq!(result["status"], 200, "{result}");
    assert_eq!(result["error"], serde_json::Value::Null, "{result}");
    assert_eq!(result["payload"], "finished", "{result}");
    assert!(
        result["log"]
            .as_str()
            .is_some_and(|log| log.contains("\nREPORT RequestId: ")),
        "{result}"
    );
    assert!(
        status.success(),
        "rayo server exited with {status} after SIGTERM\n{}",
        server.stderr_text()
    );
}
