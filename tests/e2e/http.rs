//! HTTP triggers: function URLs and API Gateway-style HTTP APIs, managed
//! through boto3 and the aws CLI and called over plain HTTP, with the
//! events checked by aws-lambda-powertools' models.

use rayo_tests::Server;

/// Helpers the snippets import (`from http_test import *`): plain HTTP
/// calls with a chosen `Host` header, and the functions under test.
const HELPERS: &str = r#"
import base64
import http.client
import json
import os
import urllib.parse

import boto3
from rayo_test import CONFIG, ENDPOINT, create, function_arn, lam

apigw = boto3.client("apigatewayv2", config=CONFIG)
_PARSED = urllib.parse.urlparse(ENDPOINT)
PORT = _PARSED.port


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        values = self.all(name)
        return values[0] if values else None

    def all(self, name):
        return [v for k, v in self.headers if k == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"Answer({self.status}, {self.headers}, {self.body[:2000]!r})"


def call(method, path, host=None, headers=(), body=None):
    """One HTTP request to rayo's port with the Host header given (rayo's
    own address when None); headers may repeat a name."""
    connection = http.client.HTTPConnection(_PARSED.hostname, PORT, timeout=300)
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    connection.putheader("Host", host or _PARSED.netloc)
    for name, value in headers:
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return Answer(response.status, [(k.lower(), v) for k, v in response.getheaders()], data)


def url_host(function_url):
    """`<id>.lambda-url.us-east-1.localhost:<port>` of a FunctionUrl."""
    return urllib.parse.urlparse(function_url).netloc


def api_host(api):
    return urllib.parse.urlparse(api["ApiEndpoint"]).netloc


def gateway_message(answer, status, message):
    assert answer.status == status, answer
    assert answer.json() == {"message": message}, answer
    assert answer.header("content-type") == "application/json", answer


# A function for every case: it routes on the last path segment.
APP = '''
import base64, json, time

def handler(event, context):
    path = event.get("rawPath") or event.get("path") or ""
    query = event.get("queryStringParameters") or {}
    last = path.rsplit("/", 1)[-1]
    if last == "sum":
        return int(query["a"]) + int(query["b"])
    if last == "dict":
        return {"sum": 5, "items": [1, 2]}
    if last == "string":
        return "plain words"
    if last == "structured":
        return {
            "statusCode": 418,
            "headers": {"X-Custom": "yes", "Content-Type": "text/plain"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": "short and stout",
        }
    if last == "binary":
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "isBase64Encoded": True,
            "body": base64.b64encode(bytes(range(256))).decode(),
        }
    if last == "v1":
        return {
            "statusCode": 201,
            "headers": {"x-single": "one"},
            "multiValueHeaders": {"set-cookie": ["a=1", "b=2"], "x-multi": ["1", "2"]},
            "body": json.dumps(event),
        }
    if last == "fail":
        raise RuntimeError("boom")
    if last == "malformed":
        return {"statusCode": "teapot"}
    if last == "slow":
        time.sleep(float(query.get("seconds", "2")))
        return "slept"
    if last == "cors":
        return {
            "statusCode": 200,
            "headers": {"Access-Control-Allow-Origin": "https://function.example"},
            "body": "cors",
        }
    # Anything else: the event itself, for the test to look at.
    return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
'''


def create_app(name="app", **kwargs):
    create(name, {"app.py": APP}, **kwargs)
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return function_arn(name)
"#;

fn server() -> Server {
    let server = Server::start();
    server.write_file("http_test.py", HELPERS.as_bytes());
    server
}

#[test]
fn function_url_answers_get_sum_by_host_name_and_path_form() {
    let server = server();
    server.python(
        r#"
        from http_test import *
        from aws_lambda_powertools.utilities.parser.models import LambdaFunctionUrlModel

        arn = create_app("sum")
        created = lam.create_function_url_config(FunctionName="sum", AuthType="NONE")
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 201, created
        url = created["FunctionUrl"]
        match = re.fullmatch(r"http://([a-z0-9]{32})\.lambda-url\.us-east-1\.localhost:(\d+)/", url)
        assert match and int(match.group(2)) == PORT, url
        url_id = match.group(1)
        assert created["FunctionArn"] == arn
        assert created["AuthType"] == "NONE" and created["InvokeMode"] == "BUFFERED", created
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", created["CreationTime"]), created

        # The seeds' example, by host name and by path.
        answer = call("GET", "/sum?a=2&b=3", host=url_host(url))
        assert answer.status == 200 and answer.body == b"5", answer
        assert answer.header("content-type") == "application/json", answer
        assert re.fullmatch(UUID, answer.header("x-amzn-requestid")), answer
        answer = call("GET", f"/_rayo/url/{url_id}/sum?a=2&b=3")
        assert answer.status == 200 and answer.body == b"5", answer

        # The event is Lambda's function URL event (payload format 2.0).
        answer = call(
            "POST",
            "/event/x%20y?a=1&a=2&flag&c=x%20y",
            host=url_host(url),
            headers=[
                ("User-Agent", "rayo-test"),
                ("X-Twice", "one"),
                ("X-Twice", "two"),
                ("Cookie", "c1=v1; c2=v2"),
                ("Content-Type", "application/json"),
            ],
            body=b'{"hello": "world"}',
        )
        assert answer.status == 200, answer
        event = answer.json()
        LambdaFunctionUrlModel.model_validate(event)
        assert event["version"] == "2.0" and event["routeKey"] == "$default", event
        assert event["rawPath"] == "/event/x%20y", event
        assert event["rawQueryString"] == "a=1&a=2&flag&c=x%20y", event
        assert event["queryStringParameters"] == {"a": "1,2", "flag": "", "c": "x y"}, event
        assert event["cookies"] == ["c1=v1", "c2=v2"], event
        headers = event["headers"]
        assert "cookie" not in headers and all(k == k.lower() for k in headers), headers
        assert headers["x-twice"] == "one,two", headers
        assert headers["user-agent"] == "rayo-test", headers
        assert headers["host"] == url_host(url), headers
        assert headers["x-forwarded-proto"] == "http" and headers["x-forwarded-for"] == "127.0.0.1", headers
        assert event["body"] == '{"hello": "world"}' and event["isBase64Encoded"] is False, event
        context = event["requestContext"]
        assert context["accountId"] == "anonymous", context
        assert context["apiId"] == url_id and context["domainPrefix"] == url_id, context
        assert context["domainName"] == f"{url_id}.lambda-url.us-east-1.localhost", context
        assert context["http"] == {
            "method": "POST", "path": "/event/x%20y", "protocol": "HTTP/1.1",
            "sourceIp": "127.0.0.1", "userAgent": "rayo-test",
        }, context
        assert context["stage"] == "$default" and context["routeKey"] == "$default", context
        assert re.fullmatch(UUID, context["requestId"]), context
        assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", context["time"]), context
        assert isinstance(context["timeEpoch"], int), context
        # Through the path form the function sees the path after the id.
        event = call("GET", f"/_rayo/url/{url_id}/event").json()
        LambdaFunctionUrlModel.model_validate(event)
        assert event["rawPath"] == "/event" and "queryStringParameters" not in event, event
        assert "body" not in event and "cookies" not in event, event

        # Get, List, Update, and the conflicts and misses Lambda answers.
        got = lam.get_function_url_config(FunctionName="sum")
        assert got["FunctionUrl"] == url and got["LastModifiedTime"], got
        listed = lam.list_function_url_configs(FunctionName="sum")["FunctionUrlConfigs"]
        assert [c["FunctionUrl"] for c in listed] == [url], listed
        expect_error("ResourceConflictException", 409, lam.create_function_url_config, FunctionName="sum", AuthType="NONE")
        expect_error("ResourceNotFoundException", 404, lam.create_function_url_config, FunctionName="nope", AuthType="NONE")
        expect_error("ResourceNotFoundException", 404, lam.create_function_url_config, FunctionName="sum", Qualifier="live", AuthType="NONE")

        # AWS_IAM: the signature is computed again with the key's secret;
        # only a request signed by a known key, as it was signed, gets in.
        updated = lam.update_function_url_config(FunctionName="sum", AuthType="AWS_IAM")
        assert updated["AuthType"] == "AWS_IAM" and updated["FunctionUrl"] == url, updated
        answer = call("GET", "/sum?a=2&b=3", host=url_host(url))
        assert answer.status == 403 and answer.json() == {"Message": "Forbidden"}, answer
        from botocore.auth import SigV4Auth, SigV4QueryAuth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        def signed_call(method, path, body=None, credentials=None, send_body=None):
            request = AWSRequest(method=method, url=f"{url.rstrip('/')}{path}", data=body,
                                 headers={"Host": url_host(url), "Content-Type": "application/json"})
            SigV4Auth(credentials or boto3.Session().get_credentials(), "lambda", "us-east-1").add_auth(request)
            headers = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
            return call(method, path, host=url_host(url), headers=headers,
                        body=send_body if send_body is not None else body)

        answer = signed_call("GET", "/event?x=1&a=b%20c")
        assert answer.status == 200, answer
        event = answer.json()
        LambdaFunctionUrlModel.model_validate(event)
        assert event["requestContext"]["accountId"] == ACCOUNT, event
        assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == os.environ["AWS_ACCESS_KEY_ID"], event
        assert event["queryStringParameters"] == {"x": "1", "a": "b c"}, event
        answer = signed_call("POST", "/event", body=b'{"n": 1}')
        assert answer.status == 200 and answer.json()["body"] == '{"n": 1}', answer
        # Another body than the one signed, an unknown key, a wrong secret.
        answer = signed_call("POST", "/event", body=b'{"n": 1}', send_body=b'{"n": 2}')
        assert answer.status == 403 and answer.json() == {"Message": "Forbidden"}, answer
        answer = signed_call("GET", "/event", credentials=Credentials("nobody", "secret"))
        assert answer.status == 403, answer
        answer = signed_call("GET", "/event", credentials=Credentials(os.environ["AWS_ACCESS_KEY_ID"], "wrong"))
        assert answer.status == 403, answer
        # A presigned URL, and the same URL with its signature altered.
        presigned = AWSRequest(method="GET", url=f"{url.rstrip('/')}/event?q=1", headers={"Host": url_host(url)})
        SigV4QueryAuth(boto3.Session().get_credentials(), "lambda", "us-east-1", expires=60).add_auth(presigned)
        path = presigned.url.split(url_host(url), 1)[1]
        answer = call("GET", path, host=url_host(url))
        assert answer.status == 200 and answer.json()["queryStringParameters"]["q"] == "1", answer
        answer = call("GET", path[:-4] + ("0000" if not path.endswith("0000") else "1111"), host=url_host(url))
        assert answer.status == 403, answer

        # Deleted, the URL is gone; recreated, it is the same URL.
        lam.delete_function_url_config(FunctionName="sum")
        expect_error("ResourceNotFoundException", 404, lam.get_function_url_config, FunctionName="sum")
        gateway_message(call("GET", "/sum?a=2&b=3", host=url_host(url)), 404, "Not Found")
        again = lam.create_function_url_config(FunctionName="sum", AuthType="NONE")
        assert again["FunctionUrl"] == url, (again, url)
        assert call("GET", "/sum?a=1&b=1", host=url_host(url)).body == b"2"

        # A function's URL goes with the function.
        lam.delete_function(FunctionName="sum")
        gateway_message(call("GET", "/sum?a=2&b=3", host=url_host(url)), 404, "Not Found")
        create_app("sum")
        expect_error("ResourceNotFoundException", 404, lam.get_function_url_config, FunctionName="sum")

        # Every other API still answers on the same port.
        assert lam.list_functions()["Functions"]
        "#,
    );
}

#[test]
fn http_api_quick_create_answers_get_sum() {
    let server = server();
    let api_id = server.python_json(
        r#"
        from http_test import *
        from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

        arn = create_app("sum")
        api = apigw.create_api(Name="calculator", ProtocolType="HTTP", Target=arn)
        assert api["ResponseMetadata"]["HTTPStatusCode"] == 201, api
        api_id = api["ApiId"]
        assert re.fullmatch(r"[a-z0-9]{10}", api_id), api
        assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.localhost:{PORT}", api
        assert api["ProtocolType"] == "HTTP" and api["Name"] == "calculator", api
        assert api["RouteSelectionExpression"] == "$request.method $request.path", api

        # The seeds' example, by host name and by path.
        answer = call("GET", "/sum?a=2&b=3", host=api_host(api))
        assert answer.status == 200 and answer.body == b"5", answer
        assert answer.header("content-type") == "application/json", answer
        assert answer.header("apigw-requestid"), answer
        answer = call("GET", f"/_rayo/api/{api_id}/sum?a=2&b=3")
        assert answer.status == 200 and answer.body == b"5", answer

        event = call("GET", "/anything/here?x=1", host=api_host(api), headers=[("User-Agent", "ua")]).json()
        APIGatewayProxyEventV2Model.model_validate(event)
        assert event["routeKey"] == "$default" and event["rawPath"] == "/anything/here", event
        assert event["queryStringParameters"] == {"x": "1"}, event
        context = event["requestContext"]
        assert context["accountId"] == ACCOUNT and context["apiId"] == api_id, context
        assert context["domainName"] == f"{api_id}.execute-api.localhost", context
        assert context["domainPrefix"] == api_id and context["stage"] == "$default", context
        assert re.fullmatch(r"[A-Za-z0-9+/]{15}=", context["requestId"]), context

        # What quick create made.
        routes = apigw.get_routes(ApiId=api_id)["Items"]
        integrations = apigw.get_integrations(ApiId=api_id)["Items"]
        stages = apigw.get_stages(ApiId=api_id)["Items"]
        assert [r["RouteKey"] for r in routes] == ["$default"], routes
        assert len(integrations) == 1, integrations
        integration = integrations[0]
        assert integration["IntegrationType"] == "AWS_PROXY" and integration["IntegrationUri"] == arn, integration
        assert integration["PayloadFormatVersion"] == "2.0" and integration["TimeoutInMillis"] == 30000, integration
        assert integration["ApiGatewayManaged"] is True, integration
        assert routes[0]["Target"] == f"integrations/{integration['IntegrationId']}", routes
        assert [(s["StageName"], s["AutoDeploy"]) for s in stages] == [("$default", True)], stages
        assert apigw.get_route(ApiId=api_id, RouteId=routes[0]["RouteId"])["RouteKey"] == "$default"
        assert apigw.get_integration(ApiId=api_id, IntegrationId=integration["IntegrationId"])["IntegrationUri"] == arn
        assert apigw.get_stage(ApiId=api_id, StageName="$default")["AutoDeploy"] is True
        assert apigw.get_api(ApiId=api_id)["Name"] == "calculator"
        assert [a["ApiId"] for a in apigw.get_apis()["Items"]] == [api_id]

        # Errors in API Gateway's shape.
        def code(call_, *args, **kwargs):
            error = client_error(call_, *args, **kwargs)
            return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert code(apigw.get_api, ApiId="nope") == ("NotFoundException", 404)
        assert code(apigw.get_route, ApiId=api_id, RouteId="nope") == ("NotFoundException", 404)
        assert code(apigw.create_api, Name="ws", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action") == ("BadRequestException", 400)
        assert code(apigw.create_api, Name="bad", ProtocolType="HTTP", Target="https://example.com") == ("BadRequestException", 400)
        emit(api_id)
        "#,
    );
    let api_id = api_id.as_str().expect("an API id");
    let listed = server
        .aws(&["apigatewayv2", "get-apis"])
        .expect("aws apigatewayv2 get-apis");
    let items = listed["Items"].as_array().expect("Items");
    assert_eq!(items.len(), 1, "{listed}");
    assert_eq!(items[0]["ApiId"], api_id, "{listed}");
    assert_eq!(items[0]["Name"], "calculator", "{listed}");
    server.python(&format!(
        r#"
        from http_test import *
        apigw.delete_api(ApiId="{api_id}")
        gateway_message(call("GET", "/sum?a=2&b=3", host="{api_id}.execute-api.localhost"), 404, "Not Found")
        assert apigw.get_apis()["Items"] == []
        "#
    ));
}

#[test]
fn http_api_routes_match_as_api_gateway_does() {
    let server = server();
    server.python(
        r#"
        from http_test import *
        from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

        arn = create_app("router")
        api = apigw.create_api(Name="routes", ProtocolType="HTTP")
        api_id = api["ApiId"]
        integration = apigw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion="2.0",
        )
        target = f"integrations/{integration['IntegrationId']}"
        keys = [
            "GET /sum", "ANY /items/{id}", "DELETE /items/{itemId}", "ANY /{proxy+}",
            "GET /pets/{proxy+}", "GET /pets/dog/{id}", "GET /pets/dog/1",
        ]
        route_ids = {}
        for key in keys:
            route = apigw.create_route(ApiId=api_id, RouteKey=key, Target=target)
            assert route["RouteKey"] == key and route["Target"] == target, route
            route_ids[key] = route["RouteId"]

        # No stage yet: nothing is served.
        gateway_message(call("GET", "/sum?a=1&b=2", host=api_host(api)), 404, "Not Found")
        apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
        apigw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"color": "blue"})

        def routed(method, path):
            answer = call(method, path, host=api_host(api))
            assert answer.status == 200, (method, path, answer)
            if path.split("?")[0].endswith("/sum"):
                return answer.body
            event = answer.json()
            APIGatewayProxyEventV2Model.model_validate(event)
            return event["routeKey"], event.get("pathParameters"), event

        assert routed("GET", "/sum?a=2&b=3") == b"5"
        cases = [
            ("GET", "/pets/dog/1", "GET /pets/dog/1", None),
            ("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}),
            ("GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}),
            ("POST", "/pets/dog/1", "ANY /{proxy+}", {"proxy": "pets/dog/1"}),
            ("PUT", "/items/42", "ANY /items/{id}", {"id": "42"}),
            ("DELETE", "/items/42", "DELETE /items/{itemId}", {"itemId": "42"}),
            ("GET", "/items/a%20b", "ANY /items/{id}", {"id": "a b"}),
            ("PATCH", "/anything/at/all", "ANY /{proxy+}", {"proxy": "anything/at/all"}),
        ]
        for method, path, key, params in cases:
            got_key, got_params, event = routed(method, path)
            assert (got_key, got_params) == (key, params), (method, path, got_key, got_params)
            assert event["requestContext"]["routeKey"] == key, event

        # `/` matches no greedy route; without a $default route it is a 404.
        gateway_message(call("GET", "/", host=api_host(api)), 404, "Not Found")
        apigw.create_route(ApiId=api_id, RouteKey="$default", Target=target)
        assert routed("GET", "/")[0] == "$default"

        # A named stage is the first segment; rawPath keeps it.
        key, params, event = routed("GET", "/prod/items/7")
        assert (key, params) == ("ANY /items/{id}", {"id": "7"}), event
        assert event["rawPath"] == "/prod/items/7" and event["requestContext"]["stage"] == "prod", event
        assert event["stageVariables"] == {"color": "blue"}, event
        assert call("GET", f"/_rayo/api/{api_id}/prod/sum?a=2&b=3").body == b"5"
        assert routed("GET", "/sum?a=2&b=3") == b"5"

        # Changes apply to the next request.
        apigw.delete_route(ApiId=api_id, RouteId=route_ids["GET /pets/dog/1"])
        assert routed("GET", "/pets/dog/1")[0] == "GET /pets/dog/{id}"
        apigw.update_route(ApiId=api_id, RouteId=route_ids["GET /sum"], RouteKey="GET /total")
        assert routed("GET", "/total")[0] == "GET /total"
        apigw.delete_stage(ApiId=api_id, StageName="prod")
        assert routed("GET", "/prod/items/7")[0] == "ANY /{proxy+}"

        def code(call_, *args, **kwargs):
            error = client_error(call_, *args, **kwargs)
            return error.response["Error"]["Code"], error.response["ResponseMetadata"]["HTTPStatusCode"]
        assert code(apigw.create_route, ApiId=api_id, RouteKey="ANY /items/{id}", Target=target) == ("ConflictException", 409)
        assert code(apigw.create_route, ApiId=api_id, RouteKey="ANY /items/{name}", Target=target) == ("ConflictException", 409)
        assert code(apigw.create_route, ApiId=api_id, RouteKey="FETCH /x", Target=target) == ("BadRequestException", 400)
        assert code(apigw.create_route, ApiId=api_id, RouteKey="GET /{proxy+}/x", Target=target) == ("BadRequestException", 400)
        assert code(apigw.create_route, ApiId=api_id, RouteKey="GET /x", Target="integrations/nope") == ("BadRequestException", 400)
        assert code(apigw.create_stage, ApiId=api_id, StageName="$default") == ("ConflictException", 409)
        assert code(apigw.delete_integration, ApiId=api_id, IntegrationId=integration["IntegrationId"]) == ("ConflictException", 409)
        assert code(apigw.create_integration, ApiId=api_id, IntegrationType="HTTP_PROXY", IntegrationUri="https://example.com", PayloadFormatVersion="1.0") == ("BadRequestException", 400)
        "#,
    );
}

#[test]
fn payload_format_1_0_through_an_explicit_integration() {
    let server = server();
    server.python(
        r#"
        from http_test import *
        from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventModel

        arn = create_app("legacy")
        api = apigw.create_api(Name="legacy", ProtocolType="HTTP")
        api_id = api["ApiId"]
        integration = apigw.create_integration(
            ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationMethod="POST",
            IntegrationUri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations",
            PayloadFormatVersion="1.0",
        )
        assert integration["PayloadFormatVersion"] == "1.0", integration
        target = f"integrations/{integration['IntegrationId']}"
        apigw.create_route(ApiId=api_id, RouteKey="ANY /items/{id}/{action}", Target=target)
        apigw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)

        answer = call(
            "POST", "/items/42/v1?tag=a&tag=b&one=1", host=api_host(api),
            headers=[("X-Twice", "one"), ("X-Twice", "two"), ("Content-Type", "text/plain"), ("User-Agent", "ua")],
            body=b"hello",
        )
        assert answer.status == 201, answer
        assert answer.all("set-cookie") == ["a=1", "b=2"], answer
        assert answer.all("x-multi") == ["1", "2"] and answer.header("x-single") == "one", answer
        event = answer.json()
        APIGatewayProxyEventModel.model_validate(event)
        assert event["version"] == "1.0", event
        assert event["resource"] == "/items/{id}/{action}" and event["path"] == "/items/42/v1", event
        assert event["httpMethod"] == "POST", event
        assert event["headers"]["x-twice"] == "two", event
        assert event["multiValueHeaders"]["x-twice"] == ["one", "two"], event
        assert event["queryStringParameters"] == {"tag": "b", "one": "1"}, event
        assert event["multiValueQueryStringParameters"] == {"tag": ["a", "b"], "one": ["1"]}, event
        assert event["pathParameters"] == {"id": "42", "action": "v1"}, event
        assert event["stageVariables"] is None, event
        assert event["body"] == "hello" and event["isBase64Encoded"] is False, event
        context = event["requestContext"]
        assert context["httpMethod"] == "POST" and context["resourcePath"] == "/items/{id}/{action}", context
        assert context["identity"]["sourceIp"] == "127.0.0.1" and context["identity"]["userAgent"] == "ua", context
        assert context["stage"] == "$default" and context["apiId"] == api_id, context
        assert isinstance(context["requestTimeEpoch"], int), context

        # Format 1.0 infers nothing: a result without statusCode is a 502.
        gateway_message(call("GET", "/items/1/sum?a=2&b=3", host=api_host(api)), 502, "Internal Server Error")
        gateway_message(call("GET", "/items/1/dict", host=api_host(api)), 502, "Internal Server Error")

        # The same function through a 2.0 integration infers the response.
        v2 = apigw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=arn, PayloadFormatVersion="2.0")
        apigw.update_route(
            ApiId=api_id,
            RouteId=apigw.get_routes(ApiId=api_id)["Items"][0]["RouteId"],
            Target=f"integrations/{v2['IntegrationId']}",
        )
        answer = call("GET", "/items/1/sum?a=2&b=3", host=api_host(api))
        assert answer.status == 200 and answer.body == b"5", answer
        "#,
    );
}

#[test]
fn responses_and_errors_are_what_api_gateway_sends() {
    let server = server();
    server.python(
        r#"
        from http_test import *

        arn = create_app("app")
        url = lam.create_function_url_config(FunctionName="app", AuthType="NONE")["FunctionUrl"]
        host = url_host(url)

        # Format 2.0 inference.
        answer = call("GET", "/dict", host=host)
        assert answer.status == 200 and answer.json() == {"sum": 5, "items": [1, 2]}, answer
        assert answer.header("content-type") == "application/json", answer
        answer = call("GET", "/string", host=host)
        assert answer.status == 200 and answer.body == b"plain words", answer
        answer = call("GET", "/structured", host=host)
        assert answer.status == 418 and answer.body == b"short and stout", answer
        assert answer.header("x-custom") == "yes" and answer.header("content-type") == "text/plain", answer
        assert answer.all("set-cookie") == ["a=1; Path=/", "b=2"], answer

        # Binary bodies: base64 on the way in unless text, decoded on the way out.
        answer = call("GET", "/binary", host=host)
        assert answer.status == 200 and answer.body == bytes(range(256)), answer
        raw = bytes(range(256))
        event = call("POST", "/event", host=host, headers=[("Content-Type", "application/octet-stream")], body=raw).json()
        assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == raw, event
        event = call("POST", "/event", host=host, headers=[("Content-Type", "application/x-www-form-urlencoded")], body=b"a=1&b=2").json()
        assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == b"a=1&b=2", event
        event = call("POST", "/event", host=host, headers=[("Content-Type", "application/json")], body=b'{"a": 1}').json()
        assert event["isBase64Encoded"] is False and event["body"] == '{"a": 1}', event

        # Failures, as API Gateway answers them.
        gateway_message(call("GET", "/fail", host=host), 502, "Internal Server Error")
        gateway_message(call("GET", "/malformed", host=host), 502, "Internal Server Error")
        gateway_message(call("POST", "/event", host=host, body=b"x" * (6 * 1024 * 1024 + 1)), 413, "Request Entity Too Large")

        # The same through an HTTP API, with its 10 MB body limit and its
        # integration timeout (a 503 while the function runs on).
        api = apigw.create_api(Name="errors", ProtocolType="HTTP", Target=arn)
        api_id = api["ApiId"]
        gateway_message(call("GET", "/fail", host=api_host(api)), 502, "Internal Server Error")
        gateway_message(call("POST", "/event", host=api_host(api), body=b"x" * (10 * 1024 * 1024 + 1)), 413, "Request Entity Too Large")
        gateway_message(call("POST", "/event", host=api_host(api), body=b"x" * (7 * 1024 * 1024)), 413, "Request Entity Too Large")
        integration_id = apigw.get_integrations(ApiId=api_id)["Items"][0]["IntegrationId"]
        apigw.update_integration(ApiId=api_id, IntegrationId=integration_id, TimeoutInMillis=500)
        gateway_message(call("GET", "/slow?seconds=3", host=api_host(api)), 503, "Service Unavailable")

        # The function's own timeout is a function error: a 502.
        lam.update_function_configuration(FunctionName="app", Timeout=1)
        lam.get_waiter("function_updated_v2").wait(FunctionName="app")
        gateway_message(call("GET", "/slow?seconds=3", host=host), 502, "Internal Server Error")

        # Throttled invocations are 429s.
        lam.put_function_concurrency(FunctionName="app", ReservedConcurrentExecutions=0)
        gateway_message(call("GET", "/dict", host=host), 429, "Too Many Requests")
        gateway_message(call("GET", "/dict", host=api_host(api)), 429, "Too Many Requests")
        lam.delete_function_concurrency(FunctionName="app")
        assert call("GET", "/sum?a=2&b=3", host=api_host(api)).body == b"5"
        "#,
    );
}

#[test]
fn cors_preflights_are_answered_by_the_gateway() {
    let server = server();
    server.python(
        r#"
        from http_test import *

        arn = create_app("app")
        cors = {
            "AllowOrigins": ["https://app.example"],
            "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["content-type", "x-api-token"],
            "ExposeHeaders": ["x-request-id"],
            "MaxAge": 600,
            "AllowCredentials": True,
        }
        api = apigw.create_api(Name="cors", ProtocolType="HTTP", Target=arn, CorsConfiguration=cors)
        assert api["CorsConfiguration"] == cors, api
        host = api_host(api)

        # A preflight never reaches the function.
        answer = call("OPTIONS", "/anything", host=host, headers=[
            ("Origin", "https://app.example"),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "content-type"),
        ])
        assert answer.status == 204 and answer.body == b"", answer
        assert answer.header("access-control-allow-origin") == "https://app.example", answer
        assert answer.header("access-control-allow-methods") == "GET,POST", answer
        assert answer.header("access-control-allow-headers") == "content-type,x-api-token", answer
        assert answer.header("access-control-max-age") == "600", answer
        assert answer.header("access-control-allow-credentials") == "true", answer
        answer = call("OPTIONS", "/anything", host=host, headers=[
            ("Origin", "https://evil.example"), ("Access-Control-Request-Method", "POST"),
        ])
        assert answer.status == 204 and answer.header("access-control-allow-origin") is None, answer

        # Responses get the configured headers in place of the function's.
        answer = call("GET", "/cors", host=host, headers=[("Origin", "https://app.example")])
        assert answer.status == 200 and answer.body == b"cors", answer
        assert answer.all("access-control-allow-origin") == ["https://app.example"], answer
        assert answer.header("access-control-expose-headers") == "x-request-id", answer
        answer = call("GET", "/cors", host=host)
        assert answer.header("access-control-allow-origin") is None, answer

        # UpdateApi changes it; without CORS an OPTIONS goes to the function.
        apigw.update_api(ApiId=api["ApiId"], CorsConfiguration={"AllowOrigins": ["*"], "AllowMethods": ["*"]})
        answer = call("OPTIONS", "/x", host=host, headers=[("Origin", "https://b.example"), ("Access-Control-Request-Method", "DELETE")])
        assert answer.status == 204 and answer.header("access-control-allow-origin") == "*", answer
        assert answer.header("access-control-allow-methods") == "DELETE", answer
        apigw.delete_cors_configuration(ApiId=api["ApiId"])
        answer = call("OPTIONS", "/cors", host=host, headers=[("Origin", "https://b.example"), ("Access-Control-Request-Method", "GET")])
        assert answer.status == 200 and answer.body == b"cors", answer
        assert answer.header("access-control-allow-origin") == "https://function.example", answer

        # Function URLs: the same, from the URL's Cors.
        url = lam.create_function_url_config(
            FunctionName="app", AuthType="NONE",
            Cors={"AllowOrigins": ["https://*"], "AllowMethods": ["GET"], "MaxAge": 60},
        )
        assert url["Cors"] == {"AllowOrigins": ["https://*"], "AllowMethods": ["GET"], "MaxAge": 60}, url
        answer = call("OPTIONS", "/x", host=url_host(url["FunctionUrl"]), headers=[
            ("Origin", "https://site.example"), ("Access-Control-Request-Method", "GET"),
        ])
        assert answer.status == 200, answer
        assert answer.header("access-control-allow-origin") == "https://site.example", answer
        assert answer.header("access-control-max-age") == "60", answer
        answer = call("GET", "/cors", host=url_host(url["FunctionUrl"]), headers=[("Origin", "http://plain.example")])
        assert answer.header("access-control-allow-origin") is None, answer
        "#,
    );
}
