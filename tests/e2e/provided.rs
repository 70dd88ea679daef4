//! `provided.al2023` functions: the package's own `bootstrap` drives the
//! Runtime API, here through AWS's Python runtime interface client.

use rayo_tests::{Server, Venv};

#[test]
fn awslambdaric_bootstrap_serves_invocations() {
    let server = Server::start();
    let vendored = Venv::get().awslambdaric_target();
    let venv_bin = Venv::get().bin_dir();
    let setup = format!(
        r#"
        vendored = {vendored:?}
        venv_bin = {venv_bin:?}
        "#,
        vendored = vendored.display().to_string(),
        venv_bin = venv_bin.display().to_string(),
    );
    server.python(
        &(setup
            + r##"
        files = directory_files(vendored)
        files.pop(".rayo-requirements-sha256", None)
        assert "awslambdaric/__main__.py" in files, sorted(files)[:20]
        files["bootstrap"] = ("#!/bin/sh\nexec python3 -m awslambdaric handler.handler\n", 0o755)
        files["handler.py"] = '''
import os, sys
import awslambdaric

def handler(event, context):
    if event.get("fail"):
        raise KeyError("missing thing")
    return {
        "event": event,
        "ric": awslambdaric.__file__,
        "task_root": os.environ["LAMBDA_TASK_ROOT"],
        "python": sys.executable,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "arn": context.invoked_function_arn,
    }
'''
        created = create("ric", files, runtime="provided.al2023", handler="handler.handler")
        assert created["Runtime"] == "provided.al2023"

        run = invoke("ric", {"hello": "ric", "n": [1, 2]})
        got = run.ok()
        assert got["event"] == {"hello": "ric", "n": [1, 2]}, got
        # The vendored client ran, on the interpreter rayo put first on PATH.
        assert got["ric"].startswith(got["task_root"] + "/"), got
        assert os.path.dirname(got["python"]) == venv_bin, (got, venv_bin)
        assert got["function_name"] == "ric" and got["arn"] == function_arn("ric"), got
        assert got["request_id"] == run.log_request_id(), (got, run.log)
        assert re.search(rf"^REPORT RequestId: {UUID}\t.*Init Duration: ", run.log, re.M), run.log

        again = invoke("ric", {"second": True})
        assert again.ok()["event"] == {"second": True}
        assert "Init Duration" not in again.log, "the bootstrap stays warm"

        failed = invoke("ric", {"fail": True})
        assert failed.status == 200 and failed.error == "Unhandled", failed
        assert failed.payload["errorType"] == "KeyError", failed.payload
        assert failed.payload["errorMessage"] == "'missing thing'", failed.payload
        assert isinstance(failed.payload.get("stackTrace"), list), failed.payload
        assert invoke("ric", {"after": "error"}).ok()["event"] == {"after": "error"}
        "##),
    );
}

#[test]
fn provided_without_an_executable_bootstrap_fails_with_invalid_entrypoint() {
    let server = Server::start();
    server.python(
        r##"
        create("no-bootstrap", {"handler.sh": "echo hi\n"}, runtime="provided.al2023", handler="handler")
        create("not-executable", {"bootstrap": ("#!/bin/sh\nexit 0\n", 0o644)},
               runtime="provided.al2023", handler="handler")
        for name in ("no-bootstrap", "not-executable"):
            run = invoke(name)
            assert run.status == 200 and run.error == "Unhandled", (name, run)
            assert run.payload["errorType"] == "Runtime.InvalidEntrypoint", (name, run.payload)
            assert "bootstrap" in run.payload["errorMessage"], (name, run.payload)
        assert server_healthy()
        "##,
    );
}
