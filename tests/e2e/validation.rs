//! Bad requests get AWS's exception names and status codes, create nothing,
//! and leave the server healthy.

use rayo_tests::Server;

#[test]
fn invalid_function_settings_are_refused() {
    let server = Server::start();
    server.python(
        r#"
        app = {"app.py": "def handler(event, context):\n    return event\n"}
        create("valid", app)

        message = expect_error("ResourceConflictException", 409, create, "valid", app)
        assert message == "Function already exist: valid", message
        assert server_healthy()

        # botocore refuses values under the model's minimum before sending
        # them; this client sends them anyway, so the server's checks run.
        raw = unvalidated_lambda_client()
        limits = [
            ("MemorySize", "memorySize", 64, "Member must have value greater than or equal to 128"),
            ("MemorySize", "memorySize", 20000, "Member must have value less than or equal to 10240"),
            ("Timeout", "timeout", 0, "Member must have value greater than or equal to 1"),
            ("Timeout", "timeout", 901, "Member must have value less than or equal to 900"),
        ]
        for parameter, field, value, rule in limits:
            expected = f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {rule}"
            message = expect_error("ValidationException", 400, raw.create_function,
                FunctionName="invalid", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                Code={"ZipFile": make_zip(app)}, **{parameter: value})
            assert message == expected, (message, expected)
            message = expect_error("ValidationException", 400, raw.update_function_configuration,
                FunctionName="valid", **{parameter: value})
            assert message == expected, (message, expected)
            assert server_healthy()

        big = {"Variables": {"BIG": "x" * 4100}}
        message = expect_error("InvalidParameterValueException", 400, create, "invalid", app, Environment=big)
        assert "exceeded the 4KB limit" in message, message
        message = expect_error("InvalidParameterValueException", 400, lam.update_function_configuration,
                               FunctionName="valid", Environment=big)
        assert "exceeded the 4KB limit" in message, message
        assert server_healthy()

        reserved = {"Variables": {"AWS_REGION": "eu-west-1"}}
        message = expect_error("InvalidParameterValueException", 400, create, "invalid", app, Environment=reserved)
        assert "reserved keys" in message and "AWS_REGION" in message, message
        assert server_healthy()

        # An identifier Lambda never had, and one it has but rayo does not run.
        message = expect_error("InvalidParameterValueException", 400, create, "invalid", app, runtime="cobol85")
        assert message.startswith("Value cobol85 at 'runtime' failed to satisfy constraint: "
                                  "Member must satisfy enum value set: ["), message
        assert message.endswith("] or be a valid ARN"), message
        message = expect_error("InvalidParameterValueException", 400, create, "invalid", app, runtime="nodejs20.x")
        assert "nodejs20.x" in message, message
        assert server_healthy()

        missing = function_arn("missing")
        for call, kwargs in [
            (lam.get_function, {}),
            (lam.get_function_configuration, {}),
            (lam.invoke, {"Payload": b"{}"}),
            (lam.update_function_configuration, {"Timeout": 5}),
            (lam.update_function_code, {"ZipFile": make_zip(app)}),
            (lam.delete_function, {}),
        ]:
            message = expect_error("ResourceNotFoundException", 404, call, FunctionName="missing", **kwargs)
            assert message == f"Function not found: {missing}", message
        assert server_healthy()

        # The configuration of the valid function is untouched by the refusals.
        configuration = lam.get_function_configuration(FunctionName="valid")
        assert (configuration["MemorySize"], configuration["Timeout"]) == (128, 3), configuration
        assert "Environment" not in configuration, configuration
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == ["valid"], names
        "#,
    );
}

#[test]
fn invalid_invocation_payloads_are_refused() {
    let server = Server::start();
    server.python(
        r#"
        create("echo", {"app.py": "def handler(event, context):\n    return event\n"})

        too_large = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
        message = expect_error("RequestEntityTooLargeException", 413, lam.invoke,
                               FunctionName="echo", Payload=too_large)
        assert message == "Request must be smaller than 6291456 bytes for the InvokeFunction operation", message
        assert server_healthy()

        for payload in (b"{not json", b'{"a": 1', b"\xff\xfe"):
            message = expect_error("InvalidRequestContentException", 400, lam.invoke,
                                   FunctionName="echo", Payload=payload)
            assert "Could not parse request body into json" in message, message
            assert server_healthy()

        # Just under the limit is fine, and the server still invokes.
        near_limit = "y" * (6 * 1024 * 1024 - 1024)
        assert invoke("echo", near_limit).ok() == near_limit
        assert invoke("echo", {"after": "errors"}).ok() == {"after": "errors"}
        "#,
    );
}

#[test]
fn a_response_over_6_mb_is_the_functions_error() {
    let server = Server::start();
    server.python(
        r#"
        create("big-answer", {"app.py": '''
def handler(event, context):
    return "z" * event["size"]
'''}, Timeout=5)
        for size in (6 * 1024 * 1024 + 512 * 1024, 7 * 1024 * 1024, 20 * 1024 * 1024):
            run = invoke("big-answer", {"size": size})
            assert run.status == 200 and run.error == "Unhandled", (size, run)
            assert run.payload["errorType"] == "Function.ResponseSizeTooLarge", (size, run.payload)
            expected = f"Response payload size ({size + 2} bytes) exceeded maximum allowed payload size (6291456 bytes)."
            assert run.payload["errorMessage"] == expected, (size, run.payload)
            assert server_healthy()
        assert invoke("big-answer", {"size": 10}).ok() == "z" * 10
        "#,
    );
}
