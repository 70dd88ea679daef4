//! Versions and aliases through boto3: publish, list, invoke by qualifier,
//! weighted aliases, and Lambda's errors for what does not exist.

use rayo_tests::Server;

#[test]
fn published_versions_keep_their_code_and_aliases_route_by_weight() {
    let server = Server::start();
    server.python(
        r#"
        def app(n):
            return {"app.py": f"import os\ndef handler(event, context):\n    return {{'code': {n}, 'version': os.environ['AWS_LAMBDA_FUNCTION_VERSION'], 'arn': context.invoked_function_arn}}\n"}

        create("versioned", app(1), Description="latest")
        v1 = lam.publish_version(FunctionName="versioned", Description="first")
        assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201, v1
        assert v1["Version"] == "1", v1
        assert v1["Description"] == "first", v1
        assert v1["FunctionArn"] == function_arn("versioned") + ":1", v1
        # Nothing changed: the same version again.
        again = lam.publish_version(FunctionName="versioned")
        assert again["Version"] == "1", again
        assert again["RevisionId"] == v1["RevisionId"], (again, v1)

        # A CodeSha256 that is not $LATEST's is refused.
        expect_error("InvalidParameterValueException", 400, lam.publish_version,
                     FunctionName="versioned", CodeSha256="bm90IHRoZSBoYXNo")

        lam.update_function_code(FunctionName="versioned", ZipFile=make_zip(app(2)))
        v2 = lam.publish_version(FunctionName="versioned", CodeSha256=lam.get_function_configuration(FunctionName="versioned")["CodeSha256"])
        assert v2["Version"] == "2", v2
        # UpdateFunctionCode with Publish answers the new version.
        v3 = lam.update_function_code(FunctionName="versioned", ZipFile=make_zip(app(3)), Publish=True)
        assert v3["Version"] == "3", v3

        # The old version still runs its own code, by qualifier or by ARN.
        one = invoke("versioned", Qualifier="1")
        assert one.ok()["code"] == 1, one
        assert one.ok()["version"] == "1", one
        assert one.version == "1", one
        assert one.ok()["arn"] == function_arn("versioned") + ":1", one
        assert invoke(function_arn("versioned") + ":2").ok()["code"] == 2
        assert invoke("versioned:3").ok()["code"] == 3
        latest = invoke("versioned", Qualifier="$LATEST")
        assert latest.ok()["code"] == 3 and latest.version == "$LATEST", latest
        assert "Version: 1" in invoke("versioned", Qualifier="1").log

        # GetFunction(Configuration) with a qualifier describes that version.
        got = lam.get_function(FunctionName="versioned", Qualifier="1")
        assert got["Configuration"]["Version"] == "1", got
        assert got["Configuration"]["Description"] == "first", got
        assert got["Configuration"]["CodeSha256"] == v1["CodeSha256"], got
        assert got["Configuration"]["FunctionArn"] == function_arn("versioned") + ":1", got
        with urllib.request.urlopen(got["Code"]["Location"], timeout=30) as response:
            assert zipfile.ZipFile(io.BytesIO(response.read())).read("app.py").decode() == app(1)["app.py"]
        assert lam.get_function_configuration(FunctionName="versioned:2")["Version"] == "2"

        # ListVersionsByFunction: $LATEST first, then by number, paged.
        versions = lam.list_versions_by_function(FunctionName="versioned")["Versions"]
        assert [v["Version"] for v in versions] == ["$LATEST", "1", "2", "3"], versions
        assert versions[0]["FunctionArn"] == function_arn("versioned") + ":$LATEST", versions[0]
        seen, marker = [], None
        while True:
            kwargs = {"Marker": marker} if marker else {}
            page = lam.list_versions_by_function(FunctionName="versioned", MaxItems=3, **kwargs)
            seen += [v["Version"] for v in page["Versions"]]
            marker = page.get("NextMarker")
            if not marker:
                break
        assert seen == ["$LATEST", "1", "2", "3"], seen
        paginated = [v["Version"] for p in lam.get_paginator("list_versions_by_function").paginate(FunctionName="versioned", PaginationConfig={"PageSize": 1}) for v in p["Versions"]]
        assert paginated == seen, paginated

        # Aliases.
        alias = lam.create_alias(FunctionName="versioned", Name="live", FunctionVersion="1", Description="production")
        assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201, alias
        assert alias["AliasArn"] == function_arn("versioned") + ":live", alias
        assert invoke("versioned", Qualifier="live").version == "1"
        live = invoke("versioned:live")
        assert live.ok()["code"] == 1 and live.ok()["arn"] == function_arn("versioned") + ":live", live
        lam.create_alias(FunctionName="versioned", Name="next", FunctionVersion="3")
        assert [a["Name"] for a in lam.list_aliases(FunctionName="versioned")["Aliases"]] == ["live", "next"]
        assert [a["Name"] for a in lam.list_aliases(FunctionName="versioned", FunctionVersion="3")["Aliases"]] == ["next"]
        by_alias = lam.get_function_configuration(FunctionName="versioned", Qualifier="live")
        assert by_alias["Version"] == "1", by_alias
        assert by_alias["FunctionArn"] == function_arn("versioned") + ":live", by_alias

        # Weighted routing: about 30% to version 2.
        updated = lam.update_alias(FunctionName="versioned", Name="live",
                                   RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}})
        assert updated["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}, updated
        assert updated["RevisionId"] != alias["RevisionId"], updated
        counts = {}
        for _ in range(200):
            run = invoke("versioned", Qualifier="live", tail=False)
            assert str(run.ok()["code"]) == run.version, run
            counts[run.version] = counts.get(run.version, 0) + 1
        assert set(counts) == {"1", "2"}, counts
        # Far outside any plausible draw of 200 at 30%.
        assert 20 <= counts["2"] <= 110, counts
        got_alias = lam.get_alias(FunctionName="versioned", Name="live")
        assert got_alias["RoutingConfig"]["AdditionalVersionWeights"] == {"2": 0.3}, got_alias
        expect_error("PreconditionFailedException", 412, lam.update_alias, FunctionName="versioned",
                     Name="live", FunctionVersion="2", RevisionId=alias["RevisionId"])

        # Lambda's errors.
        expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="versioned", Qualifier="9")
        expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="versioned", Qualifier="nope")
        expect_error("ResourceNotFoundException", 404, lam.get_function, FunctionName="versioned", Qualifier="9")
        expect_error("ResourceNotFoundException", 404, lam.get_alias, FunctionName="versioned", Name="nope")
        expect_error("ResourceConflictException", 409, lam.create_alias, FunctionName="versioned", Name="live", FunctionVersion="1")
        expect_error("ResourceNotFoundException", 404, lam.create_alias, FunctionName="versioned", Name="x", FunctionVersion="9")
        expect_error("ResourceNotFoundException", 404, lam.create_alias, FunctionName="missing", Name="x", FunctionVersion="1")
        expect_error("InvalidParameterValueException", 400, lam.update_alias, FunctionName="versioned", Name="live",
                     RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}})
        expect_error("InvalidParameterValueException", 400, lam.update_alias, FunctionName="versioned", Name="live",
                     RoutingConfig={"AdditionalVersionWeights": {"2": 0.5, "3": 0.1}})
        expect_error("InvalidParameterValueException", 400, lam.create_alias, FunctionName="versioned", Name="bad",
                     FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        expect_error("InvalidParameterValueException", 400, lam.delete_function, FunctionName="versioned", Qualifier="$LATEST")
        # A version an alias routes to cannot go.
        expect_error("ResourceConflictException", 409, lam.delete_function, FunctionName="versioned", Qualifier="2")

        # Deleting a version: it is gone, the others stay, numbers are not reused.
        lam.update_alias(FunctionName="versioned", Name="live", RoutingConfig={"AdditionalVersionWeights": {}})
        assert "RoutingConfig" not in lam.get_alias(FunctionName="versioned", Name="live") or \
            not lam.get_alias(FunctionName="versioned", Name="live")["RoutingConfig"].get("AdditionalVersionWeights")
        lam.delete_function(FunctionName="versioned", Qualifier="2")
        expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="versioned", Qualifier="2")
        assert invoke("versioned", Qualifier="1").ok()["code"] == 1
        lam.update_function_configuration(FunctionName="versioned", Description="changed")
        lam.get_waiter("function_updated_v2").wait(FunctionName="versioned")
        assert lam.publish_version(FunctionName="versioned")["Version"] == "4"

        lam.delete_alias(FunctionName="versioned", Name="next")
        expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="versioned", Qualifier="next")
        assert [a["Name"] for a in lam.list_aliases(FunctionName="versioned")["Aliases"]] == ["live"]

        # ListFunctions lists $LATEST alone, or with FunctionVersion=ALL every version.
        listed = [f["Version"] for f in lam.list_functions()["Functions"] if f["FunctionName"] == "versioned"]
        assert listed == ["$LATEST"], listed
        listed = [f["Version"] for f in lam.list_functions(FunctionVersion="ALL")["Functions"] if f["FunctionName"] == "versioned"]
        assert listed == ["$LATEST", "1", "3", "4"], listed

        # CreateFunction with Publish answers version 1.
        created = create("published-at-once", app(7), Publish=True)
        assert created["Version"] == "1", created
        assert invoke("published-at-once", Qualifier="1").ok()["code"] == 7
        "#,
    );
}

#[test]
fn triggers_invoke_the_version_their_qualifier_names() {
    let server = Server::start();
    server.python(
        r#"
        def app(n):
            return {"app.py": f"import os\ndef handler(event, context):\n    print('ran code', {n}, os.environ['AWS_LAMBDA_FUNCTION_VERSION'])\n    return {{'statusCode': 200, 'body': 'code {n}'}}\n"}

        create("triggered", app(1))
        lam.publish_version(FunctionName="triggered")
        lam.create_alias(FunctionName="triggered", Name="stable", FunctionVersion="1")
        lam.update_function_code(FunctionName="triggered", ZipFile=make_zip(app(2)))

        # A function URL on the alias runs version 1's code.
        url = lam.create_function_url_config(FunctionName="triggered", Qualifier="stable", AuthType="NONE")["FunctionUrl"]
        url_id = url.split("//", 1)[1].split(".", 1)[0]
        with urllib.request.urlopen(f"{ENDPOINT}/_rayo/url/{url_id}/", timeout=60) as response:
            assert response.read() == b"code 1"

        # So does an HTTP API whose integration is the alias's ARN.
        apigw = boto3.client("apigatewayv2", config=CONFIG)
        api_id = apigw.create_api(Name="on-alias", ProtocolType="HTTP", Target=function_arn("triggered") + ":stable")["ApiId"]
        with urllib.request.urlopen(f"{ENDPOINT}/_rayo/api/{api_id}/", timeout=60) as response:
            assert response.read() == b"code 1"

        # An async invocation of the alias runs version 1's code too.
        lam.invoke(FunctionName="triggered", Qualifier="stable", InvocationType="Event", Payload=b"{}")
        wait_for_log("triggered", lambda m: "ran code 1 1" in m, "the async invocation of the alias")

        # An event source mapping on the alias: its batches run version 1.
        sqs = boto3.client("sqs", config=CONFIG)
        queue_url = sqs.create_queue(QueueName="to-alias")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="triggered:stable", BatchSize=1)
        assert mapping["FunctionArn"] == function_arn("triggered") + ":stable", mapping
        sqs.send_message(QueueUrl=queue_url, MessageBody="hello")
        poll(lambda: sum("ran code 1 1" in m for m in log_messages("triggered")) >= 2, "the mapping's invocation of the alias")
        assert not any("ran code 2" in m for m in log_messages("triggered")), log_messages("triggered")
        "#,
    );
}

/// The same workflow with the aws CLI: publish, alias with a routing
/// configuration, invoke by qualifier.
#[test]
fn aws_cli_publishes_versions_and_aliases() {
    let server = Server::start();
    let app =
        |n: u32| format!("def handler(event, context):\n    return {{'code': {n}}}\n").into_bytes();
    let zips: Vec<String> = (1..=2)
        .map(|n| {
            let code = app(n);
            let path = server.write_zip(
                &format!("v{n}.zip"),
                &[rayo_tests::ZipEntry::File("app.py", &code, 0o644)],
            );
            format!("fileb://{}", path.display())
        })
        .collect();
    server
        .aws(&[
            "lambda",
            "create-function",
            "--function-name",
            "cli-versions",
            "--runtime",
            "python3.11",
            "--handler",
            "app.handler",
            "--role",
            "arn:aws:iam::000000000000:role/lambda-role",
            "--zip-file",
            &zips[0],
            "--publish",
        ])
        .expect("aws lambda create-function --publish");
    server
        .aws(&[
            "lambda",
            "update-function-code",
            "--function-name",
            "cli-versions",
            "--zip-file",
            &zips[1],
        ])
        .expect("aws lambda update-function-code");
    let published = server
        .aws(&[
            "lambda",
            "publish-version",
            "--function-name",
            "cli-versions",
            "--description",
            "second",
        ])
        .expect("aws lambda publish-version");
    assert_eq!(published["Version"], "2", "{published}");
    let alias = server
        .aws(&[
            "lambda",
            "create-alias",
            "--function-name",
            "cli-versions",
            "--name",
            "canary",
            "--function-version",
            "1",
            "--routing-config",
            r#"{"AdditionalVersionWeights": {"2": 1.0}}"#,
        ])
        .expect("aws lambda create-alias");
    assert_eq!(
        alias["RoutingConfig"]["AdditionalVersionWeights"]["2"], 1.0,
        "{alias}"
    );
    let versions = server
        .aws(&[
            "lambda",
            "list-versions-by-function",
            "--function-name",
            "cli-versions",
        ])
        .expect("aws lambda list-versions-by-function");
    let listed: Vec<&str> = versions["Versions"]
        .as_array()
        .expect("Versions")
        .iter()
        .map(|v| v["Version"].as_str().expect("a Version"))
        .collect();
    assert_eq!(listed, ["$LATEST", "1", "2"]);
    for (qualifier, code, executed) in
        [("1", 1, "1"), ("canary", 2, "2"), ("$LATEST", 2, "$LATEST")]
    {
        let out_file = server.work_dir().join(format!("out-{code}.json"));
        let invoked = server
            .aws(&[
                "lambda",
                "invoke",
                "--function-name",
                "cli-versions",
                "--qualifier",
                qualifier,
                out_file.to_str().expect("a UTF-8 path"),
            ])
            .expect("aws lambda invoke --qualifier");
        assert_eq!(invoked["ExecutedVersion"], executed, "{invoked}");
        let answer: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&out_file).expect("reading the answer"))
                .expect("a JSON answer");
        assert_eq!(answer["code"], code, "{qualifier}: {answer}");
    }
}

/// An EventBridge schedule whose target is an alias's ARN runs the alias's
/// version. Its minutes last a second (`--schedule-time-scale 60`).
#[test]
fn a_schedule_targets_an_alias() {
    let server = Server::start_with(&["--schedule-time-scale", "60"]);
    server.python(
        r#"
        def app(n):
            return {"app.py": f"import os\ndef handler(event, context):\n    print('tick by code', {n}, 'version', os.environ['AWS_LAMBDA_FUNCTION_VERSION'])\n"}

        create("scheduled", app(1), Publish=True)
        lam.create_alias(FunctionName="scheduled", Name="live", FunctionVersion="1")
        lam.update_function_code(FunctionName="scheduled", ZipFile=make_zip(app(2)))
        events = boto3.client("events", config=CONFIG)
        events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule="tick", Targets=[{"Id": "alias", "Arn": function_arn("scheduled") + ":live"}])
        wait_for_log("scheduled", lambda m: "tick by code 1 version 1" in m, "a scheduled invocation of the alias")
        assert not any("tick by code 2" in m for m in log_messages("scheduled")), log_messages("scheduled")
        "#,
    );
}
