//! Which Python runs a function: absent versions are refused unless the
//! server allows a fallback, and functions get a Python with boto3 that
//! talks to rayo itself.

use rayo_tests::Server;

/// Picks a `python3.X` runtime this host cannot run (python3.12 here).
const ABSENT_PYTHON: &str = r#"
        import subprocess
        def works(program):
            try:
                return subprocess.run([program, "-c", "pass"], capture_output=True).returncode == 0
            except OSError:
                return False
        assert works("python3.11"), "the tests expect the host's Python 3.11"
        absent = next(f"python3.{m}" for m in (12, 13, 14) if not works(f"python3.{m}"))
"#;

#[test]
fn an_absent_python_version_is_refused_at_create_function() {
    let server = Server::start();
    server.python(&format!(
        "{ABSENT_PYTHON}{}",
        r#"
        message = expect_error("InvalidParameterValueException", 400, create, "newer",
                               {"app.py": "def handler(e, c):\n    return 1\n"}, runtime=absent)
        assert absent in message, message
        assert "installed Python interpreters are [python3.11" in message, message
        assert "--python-fallback" in message, message
        assert lam.list_functions()["Functions"] == []

        create("older", {"app.py": "def handler(e, c):\n    return 1\n"})
        message = expect_error("InvalidParameterValueException", 400, lam.update_function_configuration,
                               FunctionName="older", Runtime=absent)
        assert absent in message, message
        assert lam.get_function_configuration(FunctionName="older")["Runtime"] == "python3.11"
        "#
    ));
}

#[test]
fn python_fallback_newest_runs_an_absent_version_and_says_so() {
    let server = Server::start_with(&["--python-fallback", "newest"]);
    server.python(&format!(
        "{ABSENT_PYTHON}{}",
        r#"
        create("substituted", {"app.py": '''
import os, sys
def handler(event, context):
    return {"version": list(sys.version_info[:2]), "env": os.environ["AWS_EXECUTION_ENV"]}
'''}, runtime=absent)
        assert lam.get_function_configuration(FunctionName="substituted")["Runtime"] == absent
        got = invoke("substituted").ok()
        assert got == {"version": [3, 11], "env": f"AWS_Lambda_{absent}"}, got
        messages = wait_for_log("substituted", lambda m: f"{absent} is not installed" in m, "the substitution notice")
        notice = next(m for m in messages if f"{absent} is not installed" in m)
        assert "Python 3.11" in notice and "--python-fallback" in notice, notice
        "#
    ));
}

#[test]
fn boto3_inside_a_function_talks_to_rayo() {
    let server = Server::start();
    server.python(
        r#"
        create("callee", {"app.py": "def handler(event, context):\n    return {'called_with': event}\n"})
        create("caller", {"app.py": '''
import json
import boto3

client = boto3.client("lambda")

def handler(event, context):
    names = sorted(f["FunctionName"] for f in client.list_functions()["Functions"])
    response = client.invoke(FunctionName="callee", Payload=json.dumps({"from": context.function_name}))
    return {"names": names, "callee": json.loads(response["Payload"].read())}
'''}, Timeout=60)
        got = invoke("caller").ok()
        assert got == {"names": ["callee", "caller"], "callee": {"called_with": {"from": "caller"}}}, got
        "#,
    );
}
