//! A Rust function built on the official `lambda_runtime` crate
//! (`tests/fixtures/rust-runtime-fn`), compiled by the test and deployed as
//! `provided.al2023`: the crate's own Runtime API client against rayo's.

use std::process::Command;

use rayo_tests::{Server, ZipEntry, target_dir};

/// Builds the fixture with the same cargo and profile the tests were built
/// with, and returns the `bootstrap` executable's bytes.
fn build_fixture() -> Vec<u8> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let manifest = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/rust-runtime-fn/Cargo.toml"
    );
    let status = Command::new(cargo)
        .args([
            "build",
            "--quiet",
            "--manifest-path",
            manifest,
            "--bin",
            "bootstrap",
        ])
        .env("CARGO_TARGET_DIR", target_dir())
        .status()
        .expect("running cargo to build the Rust fixture");
    assert!(
        status.success(),
        "building the lambda_runtime fixture failed"
    );
    let binary = target_dir().join("debug").join("bootstrap");
    std::fs::read(&binary).unwrap_or_else(|e| panic!("reading {}: {e}", binary.display()))
}

#[test]
fn lambda_runtime_crate_function_serves_invocations() {
    let bootstrap = build_fixture();
    let server = Server::start();
    let zip = server.write_zip(
        "rust-fn.zip",
        &[ZipEntry::File("bootstrap", &bootstrap, 0o755)],
    );
    let setup = format!(
        r#"
        zip_path = {zip:?}
        "#,
        zip = zip.display().to_string(),
    );
    server.python(&(setup + r#"
        created = lam.create_function(
            FunctionName="rusty", Runtime="provided.al2023", Handler="bootstrap",
            Role=ROLE, Code={"ZipFile": open(zip_path, "rb").read()}, MemorySize=256,
        )
        assert created["Runtime"] == "provided.al2023", created

        run = invoke("rusty", {"hello": "rust", "n": [1, 2, 3]})
        got = run.ok()
        assert got["echo"] == {"hello": "rust", "n": [1, 2, 3]}, got
        assert got["request_id"] == run.log_request_id(), (got, run.log)
        assert got["invoked_function_arn"] == function_arn("rusty"), got
        assert got["function_name"] == "rusty" and got["memory"] == 256, got
        assert f"rust function handling {got['request_id']}" in run.log.splitlines(), run.log
        assert "\tInit Duration: " in run.log, run.log

        again = invoke("rusty", {"again": True})
        assert again.ok()["echo"] == {"again": True}
        assert "Init Duration" not in again.log, "the instance stays warm"

        failed = invoke("rusty", {"fail": True})
        assert failed.status == 200 and failed.error == "Unhandled", failed
        assert failed.payload["errorMessage"] == "failure requested by the event", failed.payload
        assert "errorType" in failed.payload, failed.payload
        assert invoke("rusty", {"after": 1}).ok()["echo"] == {"after": 1}, "a function error keeps the instance"
        "#));
}
