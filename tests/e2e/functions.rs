//! Function management through boto3: create, get, list, update, delete, tags.

use rayo_tests::Server;

#[test]
fn create_then_get_function_describes_it_and_serves_its_zip() {
    let server = Server::start();
    server.python(
        r#"
        code = make_zip({"app.py": "def handler(event, context):\n    return {'version': 1, 'event': event}\n"})
        created = lam.create_function(
            FunctionName="describe-me",
            Runtime="python3.11",
            Role=ROLE,
            Handler="app.handler",
            Code={"ZipFile": code},
            Description="a function to describe",
            MemorySize=256,
            Timeout=7,
            Environment={"Variables": {"GREETING": "hello", "EMPTY": ""}},
            Architectures=["x86_64"],
            Tags={"team": "core"},
        )
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 201, created
        lam.get_waiter("function_active_v2").wait(FunctionName="describe-me")

        expected = {
            "FunctionName": "describe-me",
            "FunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:describe-me",
            "Runtime": "python3.11",
            "Handler": "app.handler",
            "Role": ROLE,
            "MemorySize": 256,
            "Timeout": 7,
            "Environment": {"Variables": {"GREETING": "hello", "EMPTY": ""}},
            "Description": "a function to describe",
            "Architectures": ["x86_64"],
            "CodeSha256": base64.b64encode(hashlib.sha256(code).digest()).decode(),
            "CodeSize": len(code),
            "State": "Active",
            "LastUpdateStatus": "Successful",
            "Version": "$LATEST",
            "PackageType": "Zip",
        }
        got = lam.get_function(FunctionName="describe-me")
        configuration = got["Configuration"]
        for source in (created, configuration):
            for key, value in expected.items():
                assert source.get(key) == value, (key, source.get(key), value)
            assert re.fullmatch(UUID, source["RevisionId"]), source["RevisionId"]
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", source["LastModified"]), source
        assert configuration["RevisionId"] == created["RevisionId"]
        assert got["Tags"] == {"team": "core"}, got.get("Tags")

        # Code.Location is a link any HTTP client can follow, as S3's presigned URLs are.
        assert got["Code"]["RepositoryType"] == "S3", got["Code"]
        with urllib.request.urlopen(got["Code"]["Location"], timeout=30) as response:
            assert response.status == 200
            assert response.read() == code

        # GetFunctionConfiguration, by name and by ARN, says the same.
        for function_name in ("describe-me", function_arn("describe-me")):
            alone = lam.get_function_configuration(FunctionName=function_name)
            alone.pop("ResponseMetadata")
            assert alone == configuration, (alone, configuration)

        assert invoke("describe-me", {"a": 1}).ok() == {"version": 1, "event": {"a": 1}}
        dry_run = lam.invoke(FunctionName="describe-me", InvocationType="DryRun", Payload=b"{}")
        assert dry_run["StatusCode"] == 204, dry_run
        "#,
    );
}

#[test]
fn list_functions_pages_with_max_items() {
    let server = Server::start();
    server.python(
        r#"
        names = [f"listed-{i}" for i in range(5)]
        for name in names:
            create(name, {"app.py": "def handler(e, c):\n    return 1\n"})

        first = lam.list_functions(MaxItems=2)
        assert len(first["Functions"]) == 2, first
        assert first.get("NextMarker"), first

        paginator = lam.get_paginator("list_functions")
        pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
        assert [len(p["Functions"]) for p in pages] == [2, 2, 1], pages
        seen = [f["FunctionName"] for p in pages for f in p["Functions"]]
        assert sorted(seen) == names, seen
        assert "NextMarker" not in pages[-1]
        for page in pages:
            for function in page["Functions"]:
                assert function["FunctionArn"] == function_arn(function["FunctionName"])
                assert function["Runtime"] == "python3.11"

        # The paginator's own MaxItems caps the total across pages.
        capped = paginator.paginate(PaginationConfig={"MaxItems": 3, "PageSize": 2}).build_full_result()
        assert len(capped["Functions"]) == 3, capped
        "#,
    );
}

#[test]
fn update_code_and_configuration_change_the_next_invocation() {
    let server = Server::start();
    server.python(
        r#"
        v1 = make_zip({"app.py": "def handler(event, context):\n    return {'version': 1}\n"})
        v2 = make_zip({"app.py": '''
import os
def handler(event, context):
    return {
        "version": 2,
        "color": os.environ.get("COLOR"),
        "greeting": os.environ.get("GREETING"),
        "memory_env": os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"],
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
    }
'''})
        created = create("updated", v1, Environment={"Variables": {"GREETING": "hi"}})
        assert invoke("updated").ok() == {"version": 1}

        code = lam.update_function_code(FunctionName="updated", ZipFile=v2)
        sha_v2 = base64.b64encode(hashlib.sha256(v2).digest()).decode()
        assert code["CodeSha256"] == sha_v2 != created["CodeSha256"], code
        assert code["CodeSize"] == len(v2)
        assert code["RevisionId"] != created["RevisionId"]
        lam.get_waiter("function_updated_v2").wait(FunctionName="updated")
        assert lam.get_function(FunctionName="updated")["Configuration"]["CodeSha256"] == sha_v2
        result = invoke("updated").ok()
        assert result["version"] == 2 and result["greeting"] == "hi", result

        updated = lam.update_function_configuration(
            FunctionName="updated",
            MemorySize=512,
            Timeout=60,
            Environment={"Variables": {"COLOR": "blue"}},
            Description="second",
        )
        assert updated["RevisionId"] != code["RevisionId"]
        lam.get_waiter("function_updated_v2").wait(FunctionName="updated")
        configuration = lam.get_function_configuration(FunctionName="updated")
        assert configuration["MemorySize"] == 512
        assert configuration["Timeout"] == 60
        assert configuration["Environment"] == {"Variables": {"COLOR": "blue"}}
        assert configuration["Description"] == "second"
        assert configuration["CodeSha256"] == sha_v2
        assert configuration["LastUpdateStatus"] == "Successful"

        run = invoke("updated")
        result = run.ok()
        # The environment is replaced, not merged, as on Lambda.
        assert result["color"] == "blue" and result["greeting"] is None, result
        assert result["memory_env"] == "512" and result["memory"] == "512", result
        assert 0 < result["remaining"] <= 60000, result
        assert "\tMemory Size: 512 MB\t" in run.log, run.log

        # A stale RevisionId is refused.
        expect_error("PreconditionFailedException", 412, lam.update_function_configuration,
                     FunctionName="updated", Description="third", RevisionId=created["RevisionId"])
        "#,
    );
}

#[test]
fn deleted_functions_are_gone() {
    let server = Server::start();
    server.python(
        r#"
        create("doomed", {"app.py": "def handler(e, c):\n    return 'alive'\n"})
        create("kept", {"app.py": "def handler(e, c):\n    return 'kept'\n"})
        assert invoke("doomed").ok() == "alive"

        deleted = lam.delete_function(FunctionName="doomed")
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204

        arn = function_arn("doomed")
        for call in (lam.get_function, lam.get_function_configuration, lam.delete_function):
            message = expect_error("ResourceNotFoundException", 404, call, FunctionName="doomed")
            assert message == f"Function not found: {arn}", message
        expect_error("ResourceNotFoundException", 404, lam.invoke, FunctionName="doomed", Payload=b"{}")
        names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
        assert names == ["kept"], names
        assert invoke("kept").ok() == "kept"

        # The name is free again, for a new function.
        create("doomed", {"app.py": "def handler(e, c):\n    return 'reborn'\n"})
        assert invoke("doomed").ok() == "reborn"
        "#,
    );
}

#[test]
fn tag_list_and_untag_resource() {
    let server = Server::start();
    server.python(
        r#"
        create("tagged", {"app.py": "def handler(e, c):\n    return 1\n"}, Tags={"a": "1"})
        arn = function_arn("tagged")
        assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1"}

        lam.tag_resource(Resource=arn, Tags={"b": "2", "c": "3"})
        assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "2", "c": "3"}
        lam.tag_resource(Resource=arn, Tags={"b": "two"})
        assert lam.list_tags(Resource=arn)["Tags"] == {"a": "1", "b": "two", "c": "3"}

        lam.untag_resource(Resource=arn, TagKeys=["a", "c"])
        assert lam.list_tags(Resource=arn)["Tags"] == {"b": "two"}
        assert lam.get_function(FunctionName="tagged")["Tags"] == {"b": "two"}

        missing = function_arn("missing")
        expect_error("ResourceNotFoundException", 404, lam.list_tags, Resource=missing)
        expect_error("ResourceNotFoundException", 404, lam.tag_resource, Resource=missing, Tags={"x": "y"})
        "#,
    );
}
