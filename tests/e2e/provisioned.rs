//! Provisioned concurrency through boto3: instances initialized before any
//! invocation, READY once they are, and the first invocation warm.

use rayo_tests::Server;

#[test]
fn provisioned_instances_are_ready_before_the_first_invocation() {
    let server = Server::start();
    server.python(
        r#"
        app = (
            "import os\n"
            "print('initializing as', os.environ['AWS_LAMBDA_INITIALIZATION_TYPE'])\n"
            "def handler(event, context):\n"
            "    if event.get('exit'):\n"
            "        os._exit(1)\n"
            "    return {'init': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE'], 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION']}\n"
        )
        create("provisioned", {"app.py": app})
        lam.publish_version(FunctionName="provisioned")
        lam.create_alias(FunctionName="provisioned", Name="live", FunctionVersion="1")

        # Lambda's refusals: $LATEST, no qualifier, unknown qualifiers, no configuration.
        expect_error("InvalidParameterValueException", 400, lam.put_provisioned_concurrency_config,
                     FunctionName="provisioned", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
        expect_error("ResourceNotFoundException", 404, lam.put_provisioned_concurrency_config,
                     FunctionName="provisioned", Qualifier="nope", ProvisionedConcurrentExecutions=1)
        expect_error("ProvisionedConcurrencyConfigNotFoundException", 404, lam.get_provisioned_concurrency_config,
                     FunctionName="provisioned", Qualifier="live")
        expect_error("InvalidParameterValueException", 400, lam.put_provisioned_concurrency_config,
                     FunctionName="provisioned", Qualifier="live", ProvisionedConcurrentExecutions=100000)

        put = lam.put_provisioned_concurrency_config(FunctionName="provisioned", Qualifier="live",
                                                     ProvisionedConcurrentExecutions=2)
        assert put["ResponseMetadata"]["HTTPStatusCode"] == 202, put
        assert put["RequestedProvisionedConcurrentExecutions"] == 2, put
        assert put["Status"] in ("IN_PROGRESS", "READY"), put

        def ready():
            got = lam.get_provisioned_concurrency_config(FunctionName="provisioned", Qualifier="live")
            return got if got["Status"] == "READY" else None
        got = poll(ready, "provisioned concurrency READY", deadline_seconds=LONG_WAIT)
        assert got["AllocatedProvisionedConcurrentExecutions"] == 2, got
        assert got["AvailableProvisionedConcurrentExecutions"] == 2, got

        # Two instances initialized, each in its own log stream, before any invocation.
        def two_streams():
            streams = cwl.describe_log_streams(logGroupName="/aws/lambda/provisioned")["logStreams"]
            return streams if len(streams) == 2 else None
        streams = poll(two_streams, "two provisioned instances' log streams")
        assert all("/[1]" in s["logStreamName"] for s in streams), streams
        messages = wait_for_messages("provisioned", lambda m: "initializing as provisioned-concurrency" in m,
                                     "both instances' init output", n=2)
        assert not any(m.startswith("START RequestId") for m in log_messages("provisioned")), messages

        # The first invocation of the alias is warm: no Init Duration.
        first = invoke("provisioned", Qualifier="live")
        assert first.ok() == {"init": "provisioned-concurrency", "version": "1"}, first
        assert "Init Duration" not in report_fields(first), first.log
        # So is one of version 1 by number: the alias's instances are the version's.
        by_number = invoke("provisioned", Qualifier="1")
        assert "Init Duration" not in report_fields(by_number), by_number.log
        # $LATEST has none.
        latest = invoke("provisioned")
        assert "Init Duration" in report_fields(latest), latest.log
        assert latest.ok()["init"] == "on-demand", latest

        # An instance that ends is replaced: READY again, with a new instance.
        crashed = invoke("provisioned", {"exit": True}, Qualifier="live")
        assert crashed.error == "Unhandled", crashed
        poll(ready, "provisioned concurrency READY after an instance ended", deadline_seconds=LONG_WAIT)
        def three_streams():
            streams = cwl.describe_log_streams(logGroupName="/aws/lambda/provisioned")["logStreams"]
            return len([s for s in streams if "/[1]" in s["logStreamName"]]) == 3
        poll(three_streams, "a third provisioned instance's log stream")
        wait_for_messages("provisioned", lambda m: "initializing as provisioned-concurrency" in m,
                          "the replacement's init output", n=3)
        warm = invoke("provisioned", Qualifier="live")
        assert "Init Duration" not in report_fields(warm), warm.log

        # Deleting another version leaves these instances alone.
        lam.update_function_configuration(FunctionName="provisioned", Description="second")
        lam.get_waiter("function_updated_v2").wait(FunctionName="provisioned")
        assert lam.publish_version(FunctionName="provisioned")["Version"] == "2"
        lam.delete_function(FunctionName="provisioned", Qualifier="2")
        got = lam.get_provisioned_concurrency_config(FunctionName="provisioned", Qualifier="live")
        assert got["Status"] == "READY" and got["AllocatedProvisionedConcurrentExecutions"] == 2, got
        assert "Init Duration" not in report_fields(invoke("provisioned", Qualifier="live")), "a cold start"

        listed = lam.list_provisioned_concurrency_configs(FunctionName="provisioned")["ProvisionedConcurrencyConfigs"]
        assert [c["FunctionArn"] for c in listed] == [function_arn("provisioned") + ":live"], listed
        assert listed[0]["Status"] == "READY", listed

        lam.delete_provisioned_concurrency_config(FunctionName="provisioned", Qualifier="live")
        expect_error("ProvisionedConcurrencyConfigNotFoundException", 404, lam.get_provisioned_concurrency_config,
                     FunctionName="provisioned", Qualifier="live")
        assert lam.list_provisioned_concurrency_configs(FunctionName="provisioned")["ProvisionedConcurrencyConfigs"] == []
        "#,
    );
}

#[test]
fn provisioned_instances_come_back_after_a_restart() {
    let mut server = Server::start();
    server.python(
        r#"
        create("kept", {"app.py": "def handler(event, context):\n    return 'ok'\n"}, Publish=True)
        lam.put_provisioned_concurrency_config(FunctionName="kept", Qualifier="1", ProvisionedConcurrentExecutions=1)
        "#,
    );
    server.restart();
    server.python(
        r#"
        def ready():
            got = lam.get_provisioned_concurrency_config(FunctionName="kept", Qualifier="1")
            return got if got["Status"] == "READY" else None
        poll(ready, "provisioned concurrency READY after a restart", deadline_seconds=LONG_WAIT)
        run = invoke("kept", Qualifier="1")
        assert run.ok() == "ok", run
        assert "Init Duration" not in report_fields(run), run.log
        "#,
    );
}

/// Provisioned concurrency takes from the account's unreserved pool, which
/// keeps its minimum (a tenth of a small limit), as Lambda's does; within a
/// reservation it must fit the reservation.
#[test]
fn provisioned_concurrency_counts_against_the_account() {
    let server = Server::start_with(&["--concurrency-limit", "10"]);
    server.python(
        r#"
        for name in ("a", "b", "reserved"):
            create(name, {"app.py": "def handler(event, context):\n    return 'ok'\n"}, Publish=True)
        lam.put_provisioned_concurrency_config(FunctionName="a", Qualifier="1", ProvisionedConcurrentExecutions=2)
        message = expect_error("InvalidParameterValueException", 400, lam.put_provisioned_concurrency_config,
                               FunctionName="b", Qualifier="1", ProvisionedConcurrentExecutions=8)
        assert "UnreservedConcurrentExecution below its minimum value of [1]" in message, message
        lam.put_provisioned_concurrency_config(FunctionName="b", Qualifier="1", ProvisionedConcurrentExecutions=1)
        # Changing a configuration counts it once.
        lam.put_provisioned_concurrency_config(FunctionName="a", Qualifier="1", ProvisionedConcurrentExecutions=2)

        lam.delete_provisioned_concurrency_config(FunctionName="a", Qualifier="1")
        lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=2)
        expect_error("InvalidParameterValueException", 400, lam.put_provisioned_concurrency_config,
                     FunctionName="reserved", Qualifier="1", ProvisionedConcurrentExecutions=3)
        lam.put_provisioned_concurrency_config(FunctionName="reserved", Qualifier="1", ProvisionedConcurrentExecutions=2)
        # Nor may the reservation shrink below it.
        expect_error("InvalidParameterValueException", 400, lam.put_function_concurrency,
                     FunctionName="reserved", ReservedConcurrentExecutions=1)
        "#,
    );
}

/// A version whose initialization fails reports FAILED, with the reason.
#[test]
fn provisioned_concurrency_of_a_failing_init_is_failed() {
    let server = Server::start();
    server.python(
        r#"
        create("broken", {"app.py": "raise RuntimeError('no init for you')\ndef handler(event, context):\n    return 'never'\n"},
               Publish=True)
        lam.put_provisioned_concurrency_config(FunctionName="broken", Qualifier="1", ProvisionedConcurrentExecutions=1)
        def failed():
            got = lam.get_provisioned_concurrency_config(FunctionName="broken", Qualifier="1")
            return got if got["Status"] == "FAILED" else None
        got = poll(failed, "provisioned concurrency FAILED", deadline_seconds=LONG_WAIT)
        assert got["AllocatedProvisionedConcurrentExecutions"] == 0, got
        assert "FUNCTION_ERROR_INIT_FAILURE" in got["StatusReason"], got
        wait_for_messages("broken", lambda m: "no init for you" in m, "the init error in the log")
        "#,
    );
}
