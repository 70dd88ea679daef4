//! The resource-based policy: AddPermission, GetPolicy, RemovePermission.

use rayo_tests::Server;

#[test]
fn add_permission_for_s3_then_get_and_remove_it() {
    let server = Server::start();
    server.python(
        r#"
        create("triggered", {"app.py": "def handler(e, c):\n    return 1\n"})
        arn = function_arn("triggered")
        message = expect_error("ResourceNotFoundException", 404, lam.get_policy, FunctionName="triggered")
        assert message == "The resource you requested does not exist.", message

        # As AWS's guide to invoking a function from S3 does it.
        added = lam.add_permission(
            FunctionName="triggered",
            StatementId="s3-invoke",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn="arn:aws:s3:::my-bucket",
            SourceAccount="123456789012",
        )
        assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
        s3_statement = {
            "Sid": "s3-invoke",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": arn,
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": "123456789012"},
                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"},
            },
        }
        assert json.loads(added["Statement"]) == s3_statement, added["Statement"]

        policy = lam.get_policy(FunctionName="triggered")
        document = json.loads(policy["Policy"])
        assert document["Version"] == "2012-10-17", document
        assert document["Statement"] == [s3_statement], document
        assert re.fullmatch(UUID, policy["RevisionId"]), policy

        message = expect_error("ResourceConflictException", 409, lam.add_permission,
            FunctionName="triggered", StatementId="s3-invoke", Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com")
        assert "s3-invoke" in message, message

        lam.add_permission(FunctionName="triggered", StatementId="events",
                           Action="lambda:InvokeFunction", Principal="events.amazonaws.com")
        sids = [s["Sid"] for s in json.loads(lam.get_policy(FunctionName="triggered")["Policy"])["Statement"]]
        assert sids == ["s3-invoke", "events"], sids

        removed = lam.remove_permission(FunctionName="triggered", StatementId="s3-invoke")
        assert removed["ResponseMetadata"]["HTTPStatusCode"] == 204
        statements = json.loads(lam.get_policy(FunctionName="triggered")["Policy"])["Statement"]
        assert [s["Sid"] for s in statements] == ["events"], statements
        assert statements[0]["Principal"] == {"Service": "events.amazonaws.com"}
        assert "Condition" not in statements[0], statements

        expect_error("ResourceNotFoundException", 404, lam.remove_permission,
                     FunctionName="triggered", StatementId="s3-invoke")
        lam.remove_permission(FunctionName="triggered", StatementId="events")
        expect_error("ResourceNotFoundException", 404, lam.get_policy, FunctionName="triggered")
        "#,
    );
}
