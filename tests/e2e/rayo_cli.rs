//! The `rayo` client commands: function create/list/get/delete, invoke.

use rayo_tests::Server;

#[test]
fn rayo_cli_manages_and_invokes_functions() {
    let server = Server::start();
    let url = server.url();
    server.write_file(
        "code/app.py",
        b"import os\n\ndef handler(event, context):\n    return {'x': event.get('x'), 'env': os.environ.get('MODE')}\n",
    );
    let code_dir = server.work_dir().join("code");
    let code_dir = code_dir.to_str().expect("a UTF-8 path");

    let created = server.rayo(&[
        "function",
        "create",
        "cli-fn",
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        "--code-dir",
        code_dir,
        "--env",
        "MODE=test",
        "--endpoint",
        url,
    ]);
    assert!(created.success(), "{created:?}");
    assert!(created.stdout.starts_with("cli-fn\n"), "{created:?}");
    assert!(created.stdout.contains("python3.11"), "{created:?}");

    let invoked = server.rayo(&[
        "invoke",
        "cli-fn",
        "--payload",
        r#"{"x":1}"#,
        "--endpoint",
        url,
    ]);
    assert!(invoked.success(), "{invoked:?}");
    let printed: serde_json::Value =
        serde_json::from_str(invoked.stdout.trim()).expect("rayo invoke prints the response");
    assert_eq!(printed, serde_json::json!({"x": 1, "env": "test"}));

    let invoked = server.rayo(&[
        "invoke",
        "cli-fn",
        "--payload",
        r#"{"x":2}"#,
        "--json",
        "--endpoint",
        url,
    ]);
    assert!(invoked.success(), "{invoked:?}");
    let summary: serde_json::Value =
        serde_json::from_str(&invoked.stdout).expect("--json prints JSON");
    assert_eq!(summary["StatusCode"], 200);
    assert_eq!(summary["FunctionError"], serde_json::Value::Null);
    assert_eq!(
        summary["Payload"],
        serde_json::json!({"x": 2, "env": "test"})
    );
    assert!(
        summary["LogResult"]
            .as_str()
            .is_some_and(|log| log.contains("START RequestId: ")),
        "{summary}"
    );

    let listed = server.rayo(&["function", "list", "--endpoint", url]);
    assert!(listed.success(), "{listed:?}");
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("cli-fn ") && l.contains("python3.11")),
        "{listed:?}"
    );
    let listed = server.rayo(&["function", "list", "--json", "--endpoint", url]);
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).expect("JSON list");
    assert_eq!(listed["Functions"][0]["FunctionName"], "cli-fn");
    assert_eq!(listed["Functions"].as_array().map(Vec::len), Some(1));

    let got = server.rayo(&["function", "get", "cli-fn", "--json", "--endpoint", url]);
    assert!(got.success(), "{got:?}");
    let got: serde_json::Value = serde_json::from_str(&got.stdout).expect("JSON function");
    assert_eq!(got["Configuration"]["Handler"], "app.handler");
    assert_eq!(
        got["Configuration"]["Environment"]["Variables"]["MODE"],
        "test"
    );
    let got = server.rayo(&["function", "get", "cli-fn", "--endpoint", url]);
    assert!(
        got.success() && got.stdout.contains("app.handler"),
        "{got:?}"
    );

    let deleted = server.rayo(&["function", "delete", "cli-fn", "--endpoint", url]);
    assert!(deleted.success(), "{deleted:?}");
    let missing = server.rayo(&["function", "get", "cli-fn", "--endpoint", url]);
    assert_eq!(missing.code(), Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("ResourceNotFoundException"),
        "{missing:?}"
    );
    let missing = server.rayo(&["invoke", "cli-fn", "--endpoint", url]);
    assert_eq!(missing.code(), Some(1), "{missing:?}");
    assert!(
        missing.stderr.contains("ResourceNotFoundException"),
        "{missing:?}"
    );
}

#[test]
fn rayo_invoke_reports_a_function_error_with_exit_code_3() {
    let server = Server::start();
    server.write_file(
        "code/app.py",
        b"def handler(event, context):\n    raise RuntimeError('nope')\n",
    );
    let code_dir = server.work_dir().join("code");
    let created = server.rayo(&[
        "function",
        "create",
        "failing",
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        "--code-dir",
        code_dir.to_str().expect("a UTF-8 path"),
        "--endpoint",
        server.url(),
    ]);
    assert!(created.success(), "{created:?}");
    let invoked = server.rayo(&["invoke", "failing", "--endpoint", server.url()]);
    assert_eq!(invoked.code(), Some(3), "{invoked:?}");
    let payload: serde_json::Value =
        serde_json::from_str(invoked.stdout.trim()).expect("the error document");
    assert_eq!(payload["errorType"], "RuntimeError");
    assert_eq!(payload["errorMessage"], "nope");
}

#[test]
fn rayo_invoke_without_a_server_exits_2() {
    // A port that was free a moment ago: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("binding a free port")
        .port();
    let endpoint = format!("http://127.0.0.1:{port}");
    let output = rayo_tests::run_with_deadline(
        std::process::Command::new(rayo_tests::rayo_binary())
            .args([
                "invoke",
                "anything",
                "--payload",
                "{}",
                "--endpoint",
                &endpoint,
            ])
            .env_remove("RAYO_ENDPOINT"),
        std::time::Duration::from_secs(120),
        "rayo invoke",
    );
    assert_eq!(output.code(), Some(2), "{output:?}");
    assert!(
        output.stderr.contains("no rayo server is reachable") && output.stderr.contains(&endpoint),
        "{output:?}"
    );
}
