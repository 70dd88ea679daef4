//! The aws CLI against rayo: create, invoke, list, get, delete. v1 comes
//! from PyPI (the venv); v2, whose blob arguments differ, from the host.

use rayo_tests::{Server, ZipEntry};
use sha2::{Digest, Sha256};

const APP: &str = "import json\n\ndef handler(event, context):\n    return {'got': event, 'function': context.function_name}\n";

#[test]
fn aws_cli_manages_and_invokes_functions() {
    let server = Server::start();
    let zip_path = server.write_zip(
        "cli.zip",
        &[ZipEntry::File("app.py", APP.as_bytes(), 0o644)],
    );
    let zip = std::fs::read(&zip_path).expect("reading the zip");
    let zip_arg = format!("fileb://{}", zip_path.display());

    let created = server
        .aws(&[
            "lambda",
            "create-function",
            "--function-name",
            "from-cli",
            "--runtime",
            "python3.11",
            "--handler",
            "app.handler",
            "--role",
            "arn:aws:iam::000000000000:role/lambda-role",
            "--zip-file",
            &zip_arg,
            "--timeout",
            "10",
        ])
        .expect("aws lambda create-function");
    assert_eq!(created["FunctionName"], "from-cli");
    assert_eq!(
        created["FunctionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:from-cli"
    );
    assert_eq!(created["Timeout"], 10);
    assert_eq!(created["CodeSize"], zip.len());
    use base64::Engine;
    let sha = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&zip));
    assert_eq!(created["CodeSha256"], sha.as_str());

    let out_file = server.work_dir().join("out.json");
    let invoked = server
        .aws(&[
            "lambda",
            "invoke",
            "--function-name",
            "from-cli",
            "--payload",
            r#"{"a":1}"#,
            out_file.to_str().expect("a UTF-8 path"),
        ])
        .expect("aws lambda invoke");
    assert_eq!(invoked["StatusCode"], 200, "{invoked}");
    assert!(invoked.get("FunctionError").is_none(), "{invoked}");
    assert_eq!(invoked["ExecutedVersion"], "$LATEST", "{invoked}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).expect("the result file"))
            .expect("the result is JSON");
    assert_eq!(
        result,
        serde_json::json!({"got": {"a": 1}, "function": "from-cli"})
    );

    let listed = server
        .aws(&["lambda", "list-functions"])
        .expect("aws lambda list-functions");
    let names: Vec<&str> = listed["Functions"]
        .as_array()
        .expect("Functions is a list")
        .iter()
        .map(|f| f["FunctionName"].as_str().expect("a name"))
        .collect();
    assert_eq!(names, ["from-cli"]);

    let got = server
        .aws(&["lambda", "get-function", "--function-name", "from-cli"])
        .expect("aws lambda get-function");
    assert_eq!(got["Configuration"]["Handler"], "app.handler");
    assert_eq!(got["Configuration"]["State"], "Active");
    assert!(
        got["Code"]["Location"]
            .as_str()
            .is_some_and(|l| l.starts_with(server.url())),
        "{got}"
    );

    let deleted = server
        .aws(&["lambda", "delete-function", "--function-name", "from-cli"])
        .expect("aws lambda delete-function");
    // The service model reports the deletion's HTTP status.
    assert_eq!(deleted, serde_json::json!({"StatusCode": 204}));

    let error = server
        .aws(&["lambda", "get-function", "--function-name", "from-cli"])
        .expect_err("the function is gone");
    assert_ne!(error.code, Some(0));
    assert!(
        error.stderr.contains("ResourceNotFoundException")
            && error.stderr.contains("Function not found"),
        "{error:?}"
    );

    let error = server
        .aws(&[
            "lambda",
            "create-function",
            "--function-name",
            "bad-runtime",
            "--runtime",
            "cobol85",
            "--handler",
            "app.handler",
            "--role",
            "arn:aws:iam::000000000000:role/lambda-role",
            "--zip-file",
            &zip_arg,
        ])
        .expect_err("an unknown runtime");
    assert!(
        error.stderr.contains("InvalidParameterValueException"),
        "{error:?}"
    );

    let error = server
        .aws(&[
            "lambda",
            "invoke",
            "--function-name",
            "from-cli",
            out_file.to_str().expect("a UTF-8 path"),
        ])
        .expect_err("invoking a deleted function");
    assert!(
        error.stderr.contains("ResourceNotFoundException"),
        "{error:?}"
    );
}

#[test]
fn aws_cli_v2_invokes_with_a_raw_payload() {
    let server = Server::start();
    let zip_path = server.write_zip(
        "cli.zip",
        &[ZipEntry::File("app.py", APP.as_bytes(), 0o644)],
    );
    let zip_arg = format!("fileb://{}", zip_path.display());
    let created = server.aws_v2(&[
        "lambda",
        "create-function",
        "--function-name",
        "from-cli-v2",
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        "--role",
        "arn:aws:iam::000000000000:role/lambda-role",
        "--zip-file",
        &zip_arg,
        "--output",
        "json",
    ]);
    assert!(created.success(), "{created:?}");

    let out_file = server.work_dir().join("out.json");
    let invoked = server.aws_v2(&[
        "lambda",
        "invoke",
        "--function-name",
        "from-cli-v2",
        "--payload",
        r#"{"a":1}"#,
        "--cli-binary-format",
        "raw-in-base64-out",
        out_file.to_str().expect("a UTF-8 path"),
        "--output",
        "json",
    ]);
    assert!(invoked.success(), "{invoked:?}");
    let summary: serde_json::Value = serde_json::from_str(&invoked.stdout).expect("JSON");
    assert_eq!(summary["StatusCode"], 200, "{summary}");
    let result: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).expect("the result file"))
            .expect("the result is JSON");
    assert_eq!(
        result,
        serde_json::json!({"got": {"a": 1}, "function": "from-cli-v2"})
    );

    let missing = server.aws_v2(&["lambda", "get-function", "--function-name", "missing"]);
    assert!(!missing.success(), "{missing:?}");
    assert!(
        missing.stderr.contains("ResourceNotFoundException"),
        "{missing:?}"
    );
}
