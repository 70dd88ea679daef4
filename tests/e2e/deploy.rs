//! `rayo deploy`, `info`, `invoke -f`, `logs -f`, `remove`, `create` and
//! `dev` on Serverless Framework projects: deployed to a real server and
//! triggered through each of their events.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rayo_tests::{CommandOutput, Server};

/// The README's example project.
const HANDLER: &str = r#"import json
import os


def sum(event, context):
    query = event.get("queryStringParameters") or {}
    return {"statusCode": 200, "body": json.dumps(int(query["a"]) + int(query["b"]))}


def item(event, context):
    return {
        "statusCode": 200,
        "body": json.dumps({
            "method": event["httpMethod"],
            "id": event["pathParameters"]["id"],
            "stage": os.environ["STAGE"],
        }),
    }


def tick(event, context):
    print("tick source=" + event.get("source", "?"))


def jobs(event, context):
    for record in event["Records"]:
        print("job", record["body"])
    return {"batchItemFailures": []}


def uploads(event, context):
    for record in event["Records"]:
        print("upload", record["s3"]["bucket"]["name"], record["s3"]["object"]["key"])
"#;

const CONFIG: &str = r#"service: calculator
frameworkVersion: '3'

provider:
  name: aws
  runtime: python3.11
  stage: ${opt:stage, 'dev'}
  memorySize: 256
  timeout: 10
  environment:
    STAGE: ${sls:stage}

functions:
  sum:
    handler: handler.sum
    events:
      - httpApi: 'GET /sum'
  item:
    handler: handler.item
    events:
      - http:
          method: get
          path: items/{id}
  tick:
    handler: handler.tick
    events:
      - schedule:
          rate: rate(1 minute)
          input:
            source: schedule
  jobs:
    handler: handler.jobs
    events:
      - sqs:
          arn:
            Fn::GetAtt: [JobsQueue, Arn]
          batchSize: 5
          functionResponseType: ReportBatchItemFailures
  uploads:
    handler: handler.uploads
    events:
      - s3:
          bucket: calculator-${sls:stage}-uploads
          event: s3:ObjectCreated:*
          rules:
            - prefix: incoming/

resources:
  Resources:
    JobsQueue:
      Type: AWS::SQS::Queue
      Properties:
        VisibilityTimeout: 60
"#;

fn write_project(server: &Server, dir: &str, files: &[(&str, &str)]) -> PathBuf {
    for (name, content) in files {
        server.write_file(&format!("{dir}/{name}"), content.as_bytes());
    }
    server.work_dir().join(dir).join("serverless.yml")
}

fn rayo(server: &Server, args: &[&str], config: &Path) -> CommandOutput {
    let config = config.to_str().expect("a UTF-8 path");
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--config", config, "--endpoint", server.url()]);
    server.rayo(&all)
}

/// `rayo info --json`.
fn info(server: &Server, config: &Path, stage: &str) -> serde_json::Value {
    let out = rayo(server, &["info", "--stage", stage, "--json"], config);
    assert!(out.success(), "{out:?}");
    serde_json::from_str(&out.stdout).expect("info --json prints JSON")
}

/// `LastModified` and `CodeSha256` of every function, by name.
fn function_states(server: &Server) -> serde_json::Value {
    server.python_json(
        r#"
        out = {}
        for page in lam.get_paginator("list_functions").paginate():
            for f in page["Functions"]:
                out[f["FunctionName"]] = [f["LastModified"], f["CodeSha256"]]
        print(json.dumps(out))
        "#,
    )
}

fn get(server: &Server, path: &str) -> String {
    server.python(&format!(
        "print(urllib.request.urlopen(ENDPOINT + {path:?}).read().decode(), end='')"
    ))
}

#[test]
fn deploy_readme_project_and_trigger_every_event() {
    let server = Server::start_with(&["--schedule-time-scale", "60"]);
    let config = write_project(
        &server,
        "calculator",
        &[("handler.py", HANDLER), ("serverless.yml", CONFIG)],
    );

    let deployed = rayo(&server, &["deploy", "--stage", "demo"], &config);
    assert!(deployed.success(), "{deployed:?}");
    for line in [
        "created function calculator-demo-sum",
        "created queue calculator-demo-JobsQueue",
        "created rule calculator-demo-tick-schedule-1 (rate(1 minute))",
        "created route GET /sum",
        "created route GET /items/{id}",
        "created bucket calculator-demo-uploads",
        "service: calculator",
        "stage: demo",
        "region: us-east-1",
        "endpoints:",
        "  sum: calculator-demo-sum",
    ] {
        assert!(deployed.stdout.contains(line), "{line:?} in {deployed:?}");
    }
    let summary = info(&server, &config, "demo");
    let api_id = summary["apiId"].as_str().expect("an HTTP API").to_string();
    assert!(
        deployed
            .stdout
            .contains(&format!("GET - http://{api_id}.execute-api.localhost:")),
        "{deployed:?}"
    );

    // httpApi: the $default stage, payload 2.0.
    assert_eq!(
        get(&server, &format!("/_rayo/api/{api_id}/sum?a=2&b=3")),
        "5"
    );
    // http: a stage named after the stage, payload 1.0.
    let item: serde_json::Value =
        serde_json::from_str(&get(&server, &format!("/_rayo/api/{api_id}/demo/items/42")))
            .expect("JSON");
    assert_eq!(
        item,
        serde_json::json!({"method": "GET", "id": "42", "stage": "demo"})
    );
    // schedule: rate(1 minute) is a second at the test's time scale, with its input.
    server.wait_for_log_line("calculator-demo-tick", "tick source=schedule");
    // sqs: the queue from resources, mapped.
    server.python(
        r#"
        sqs = boto3.client("sqs")
        url = sqs.get_queue_url(QueueName="calculator-demo-JobsQueue")["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])
        assert attributes["Attributes"]["VisibilityTimeout"] == "60", attributes
        sqs.send_message(QueueUrl=url, MessageBody="job-17")
        "#,
    );
    server.wait_for_log_line("calculator-demo-jobs", "job job-17");
    // s3: an upload under the prefix, and one outside it that triggers nothing.
    server.python(
        r#"
        s3 = boto3.client("s3")
        s3.put_object(Bucket="calculator-demo-uploads", Key="other/skip.txt", Body=b"x")
        s3.put_object(Bucket="calculator-demo-uploads", Key="incoming/a.txt", Body=b"x")
        "#,
    );
    server.wait_for_log_line(
        "calculator-demo-uploads",
        "upload calculator-demo-uploads incoming/a.txt",
    );

    // invoke -f and logs -f, the Framework's forms.
    let invoked = rayo(
        &server,
        &[
            "invoke",
            "-f",
            "sum",
            "--stage",
            "demo",
            "--data",
            r#"{"queryStringParameters": {"a": "40", "b": "2"}}"#,
        ],
        &config,
    );
    assert!(invoked.success(), "{invoked:?}");
    let answer: serde_json::Value = serde_json::from_str(invoked.stdout.trim()).expect("JSON");
    assert_eq!(answer["body"], "42");
    let event = server.write_file(
        "event.json",
        br#"{"queryStringParameters": {"a": "1", "b": "1"}}"#,
    );
    let invoked = rayo(
        &server,
        &[
            "invoke",
            "-f",
            "sum",
            "-s",
            "demo",
            "--path",
            event.to_str().expect("UTF-8"),
        ],
        &config,
    );
    assert!(invoked.stdout.contains(r#""body": "2""#), "{invoked:?}");
    let logs = rayo(&server, &["logs", "-f", "jobs", "--stage", "demo"], &config);
    assert!(logs.success(), "{logs:?}");
    assert!(logs.stdout.contains("job job-17"), "{logs:?}");

    // A second deploy with no change writes nothing.
    let before = function_states(&server);
    let again = rayo(&server, &["deploy", "--stage", "demo"], &config);
    assert!(again.success(), "{again:?}");
    assert!(
        again
            .stdout
            .contains("No changes: service calculator (demo) is up to date; nothing was written"),
        "{again:?}"
    );
    assert!(!again.stdout.contains("created"), "{again:?}");
    assert!(!again.stdout.contains("updated"), "{again:?}");
    assert_eq!(function_states(&server), before);

    // A change of configuration alone updates that field, not the code.
    let changed = CONFIG.replace("  timeout: 10", "  timeout: 12");
    server.write_file("calculator/serverless.yml", changed.as_bytes());
    let updated = rayo(&server, &["deploy", "--stage", "demo"], &config);
    assert!(updated.success(), "{updated:?}");
    assert!(
        updated
            .stdout
            .contains("updated configuration of calculator-demo-sum (Timeout)"),
        "{updated:?}"
    );
    assert!(!updated.stdout.contains("updated code"), "{updated:?}");

    // Functions, routes, rules and triggers no longer declared are removed.
    let smaller = changed
        .split("  tick:")
        .next()
        .expect("the config has a tick function")
        .to_string();
    server.write_file("calculator/serverless.yml", smaller.as_bytes());
    let pruned = rayo(&server, &["deploy", "--stage", "demo"], &config);
    assert!(pruned.success(), "{pruned:?}");
    for line in [
        "deleted function calculator-demo-tick",
        "deleted function calculator-demo-jobs",
        "deleted function calculator-demo-uploads",
        "deleted rule calculator-demo-tick-schedule-1",
        "deleted queue calculator-demo-JobsQueue",
    ] {
        assert!(pruned.stdout.contains(line), "{line:?} in {pruned:?}");
    }
    let left = server.python_json(
        r#"
        functions = sorted(f["FunctionName"] for f in lam.list_functions()["Functions"])
        rules = boto3.client("events").list_rules(NamePrefix="calculator-")["Rules"]
        notifications = boto3.client("s3").get_bucket_notification_configuration(
            Bucket="calculator-demo-uploads").get("LambdaFunctionConfigurations", [])
        queues = boto3.client("sqs").list_queues().get("QueueUrls", [])
        print(json.dumps([functions, len(rules), len(notifications), queues]))
        "#,
    );
    assert_eq!(
        left,
        serde_json::json!([["calculator-demo-item", "calculator-demo-sum"], 0, 0, []])
    );
    assert_eq!(
        get(&server, &format!("/_rayo/api/{api_id}/sum?a=2&b=3")),
        "5"
    );

    // remove deletes the rest.
    let removed = rayo(&server, &["remove", "--stage", "demo"], &config);
    assert!(removed.success(), "{removed:?}");
    let left = server.python_json(
        r#"
        print(json.dumps([lam.list_functions()["Functions"],
                          boto3.client("apigatewayv2").get_apis()["Items"]]))
        "#,
    );
    assert_eq!(left, serde_json::json!([[], []]));
}

#[test]
fn deploy_errors_name_the_file_and_line() {
    let server = Server::start();
    let base = "service: broken\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n  hello:\n    handler: handler.hello\n    events:\n";
    let handler = "def hello(event, context):\n    return 'hello'\n";
    let check = |config: String, line: u32, needle: &str| {
        let path = write_project(
            &server,
            "broken",
            &[("handler.py", handler), ("serverless.yml", &config)],
        );
        let out = rayo(&server, &["deploy"], &path);
        assert!(!out.success(), "{out:?}");
        let location = format!("{}:{line}:", path.display());
        assert!(
            out.stderr.contains(&location) && out.stderr.contains(needle),
            "{location} and {needle:?} in {out:?}"
        );
    };
    check(
        format!("{base}      - websocket: $connect\n"),
        9,
        "unknown event type 'websocket'",
    );
    check(
        base.replace("handler.hello", "missing.hello"),
        7,
        "file missing.py does not exist",
    );
    check(
        format!("{base}      - httpApi: 'GET /a'\n      - schedule: rate(5 minutes\n  other: [\n"),
        11,
        "invalid YAML",
    );
    // Nothing was written by any of these.
    let functions = server.python_json(r#"print(json.dumps(lam.list_functions()["Functions"]))"#);
    assert_eq!(functions, serde_json::json!([]));

    // An expression only the server can judge: its ValidationException, at
    // the expression's line, before any function is written.
    check(
        format!(
            "{base}      - httpApi: 'GET /a'\n      - schedule:\n          rate: cron(0 99 * * ? *)\n"
        ),
        11,
        "ValidationException: Parameter ScheduleExpression is not valid",
    );
    let functions = server.python_json(r#"print(json.dumps(lam.list_functions()["Functions"]))"#);
    assert_eq!(functions, serde_json::json!([]));
    // Fixed, a rerun applies everything.
    let path = write_project(
        &server,
        "broken",
        &[(
            "serverless.yml",
            &format!(
                "{base}      - httpApi: 'GET /a'\n      - schedule:\n          rate: cron(0 9 * * ? *)\n"
            ),
        )],
    );
    let out = rayo(&server, &["deploy"], &path);
    assert!(out.success(), "{out:?}");
    assert!(
        out.stdout.contains("created function broken-dev-hello"),
        "{out:?}"
    );
    assert!(
        out.stdout
            .contains("created rule broken-dev-hello-schedule-1"),
        "{out:?}"
    );

    // A failure part-way: what was applied and what was not is said, and a
    // rerun once fixed converges.
    let two = "service: halves\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n  a:\n    handler: handler.hello\n  b:\n    handler: handler.hello\n    memorySize: 64\n";
    let path = write_project(
        &server,
        "halves",
        &[("handler.py", handler), ("serverless.yml", two)],
    );
    let out = rayo(&server, &["deploy"], &path);
    assert!(!out.success(), "{out:?}");
    assert!(
        out.stderr
            .contains("applied: created function halves-dev-a")
            && out
                .stderr
                .contains("not applied: the rest of functions, queue triggers")
            && out
                .stderr
                .contains(&format!("{}:10: ValidationException", path.display()))
            && out.stderr.contains("memorySize"),
        "{out:?}"
    );
    write_project(
        &server,
        "halves",
        &[(
            "serverless.yml",
            &two.replace("memorySize: 64", "memorySize: 128"),
        )],
    );
    let out = rayo(&server, &["deploy"], &path);
    assert!(out.success(), "{out:?}");
    assert!(
        out.stdout.contains("created function halves-dev-b"),
        "{out:?}"
    );
    assert!(
        !out.stdout.contains("function halves-dev-a") && !out.stdout.contains("of halves-dev-a"),
        "{out:?}"
    );
}

/// A wheel of one pure-Python module, built here so that packaging needs no
/// network: what pip installs from PyPI, from a file.
fn tiny_wheel() -> Vec<u8> {
    let module = "def add(a, b):\n    return a + b\n";
    let metadata = "Metadata-Version: 2.1\nName: tinycalc\nVersion: 1.0\n";
    let wheel =
        "Wheel-Version: 1.0\nGenerator: rayo-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
    let record = "tinycalc.py,,\ntinycalc-1.0.dist-info/METADATA,,\ntinycalc-1.0.dist-info/WHEEL,,\ntinycalc-1.0.dist-info/RECORD,,\n";
    rayo_tests::build_zip(&[
        rayo_tests::ZipEntry::File("tinycalc.py", module.as_bytes(), 0o644),
        rayo_tests::ZipEntry::File(
            "tinycalc-1.0.dist-info/METADATA",
            metadata.as_bytes(),
            0o644,
        ),
        rayo_tests::ZipEntry::File("tinycalc-1.0.dist-info/WHEEL", wheel.as_bytes(), 0o644),
        rayo_tests::ZipEntry::File("tinycalc-1.0.dist-info/RECORD", record.as_bytes(), 0o644),
    ])
}

#[test]
fn deploy_packages_python_requirements() {
    let server = Server::start();
    server.write_file("reqs/wheels/tinycalc-1.0-py3-none-any.whl", &tiny_wheel());
    let config = write_project(
        &server,
        "reqs",
        &[
            (
                "handler.py",
                "import tinycalc\n\ndef add(event, context):\n    return tinycalc.add(event['a'], event['b'])\n",
            ),
            (
                "requirements.txt",
                "./wheels/tinycalc-1.0-py3-none-any.whl\n",
            ),
            (
                "serverless.yml",
                "service: reqs\nprovider:\n  name: aws\n  runtime: python3.11\npackage:\n  patterns:\n    - '!wheels/**'\nfunctions:\n  add:\n    handler: handler.add\n",
            ),
        ],
    );
    let deployed = rayo(&server, &["deploy"], &config);
    assert!(deployed.success(), "{deployed:?}");
    let invoked = rayo(
        &server,
        &["invoke", "-f", "add", "--data", r#"{"a": 2, "b": 3}"#],
        &config,
    );
    assert!(invoked.success(), "{invoked:?}");
    assert_eq!(invoked.stdout.trim(), "5");
    // Installed once, cached by the requirements' hash.
    let cache = server.work_dir().join("reqs/.serverless/requirements");
    let cached: Vec<_> = std::fs::read_dir(&cache)
        .expect("a requirements cache")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(
        cached[0].starts_with("requirements-python3.11-"),
        "{cached:?}"
    );
    assert!(cache.join(&cached[0]).join("tinycalc.py").is_file());
    let again = rayo(&server, &["deploy"], &config);
    assert!(again.stdout.contains("No changes"), "{again:?}");
}

#[test]
fn deploy_packages_a_pinned_pypi_requirement() {
    let server = Server::start();
    let config = write_project(
        &server,
        "pypi",
        &[
            (
                "handler.py",
                "import six\n\ndef version(event, context):\n    return [six.__version__, six.__file__.startswith('/var/task/')]\n",
            ),
            ("requirements.txt", "six==1.17.0\n"),
            (
                "serverless.yml",
                "service: pypi\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n  version:\n    handler: handler.version\n",
            ),
        ],
    );
    let deployed = rayo(&server, &["deploy"], &config);
    assert!(deployed.success(), "{deployed:?}");
    let invoked = rayo(&server, &["invoke", "-f", "version"], &config);
    assert!(invoked.success(), "{invoked:?}");
    let answer: serde_json::Value = serde_json::from_str(invoked.stdout.trim()).expect("JSON");
    assert_eq!(answer, serde_json::json!(["1.17.0", true]));
}

#[test]
fn rayo_create_then_deploy_then_invoke() {
    let server = Server::start();
    let dir = server.work_dir().join("hello-svc");
    let created = server.rayo(&[
        "create",
        "--template",
        "aws-python3",
        "--path",
        dir.to_str().expect("UTF-8"),
        "--name",
        "hello-svc",
    ]);
    assert!(created.success(), "{created:?}");
    for file in ["handler.py", "serverless.yml", ".gitignore"] {
        assert!(dir.join(file).is_file(), "{file} in {created:?}");
    }
    let config = dir.join("serverless.yml");
    let deployed = rayo(&server, &["deploy"], &config);
    assert!(deployed.success(), "{deployed:?}");
    assert!(
        deployed.stdout.contains("hello: hello-svc-dev-hello"),
        "{deployed:?}"
    );
    let invoked = rayo(
        &server,
        &["invoke", "-f", "hello", "--data", r#"{"k": 1}"#],
        &config,
    );
    assert!(invoked.success(), "{invoked:?}");
    let answer: serde_json::Value = serde_json::from_str(invoked.stdout.trim()).expect("JSON");
    assert_eq!(answer["statusCode"], 200);
    let body: serde_json::Value =
        serde_json::from_str(answer["body"].as_str().expect("a body")).expect("JSON body");
    assert_eq!(body["input"], serde_json::json!({"k": 1}));
    // The existing form still works.
    let invoked = server.rayo(&["invoke", "hello-svc-dev-hello", "--endpoint", server.url()]);
    assert!(invoked.success(), "{invoked:?}");
}

#[test]
fn rayo_dev_updates_only_the_edited_function() {
    let server = Server::start();
    let config = write_project(
        &server,
        "devsvc",
        &[
            ("a.py", "def handler(event, context):\n    return 'a1'\n"),
            (
                "b.py",
                "import os\n\ndef handler(event, context):\n    return os.environ['AWS_LAMBDA_LOG_STREAM_NAME']\n",
            ),
            (
                "serverless.yml",
                "service: devsvc\nprovider:\n  name: aws\n  runtime: python3.11\nfunctions:\n  a:\n    handler: a.handler\n    package:\n      patterns: ['!b.py']\n  b:\n    handler: b.handler\n    package:\n      patterns: ['!a.py']\n",
            ),
        ],
    );
    let config_text = config.to_str().expect("UTF-8");
    let mut dev = server.spawn_rayo(&["dev", "--config", config_text, "--endpoint", server.url()]);
    let (sender, receiver) = mpsc::channel();
    let stdout = dev.stdout.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let wait_for = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return seen,
                Ok(line) => seen.push(line),
                Err(_) => panic!("rayo dev never printed {needle:?}; it printed {seen:?}"),
            }
        }
    };
    wait_for("watching");
    let invoke = |name: &str| {
        let out = server.rayo(&["invoke", name, "--endpoint", server.url()]);
        assert!(out.success(), "{out:?}");
        out.stdout.trim().to_string()
    };
    assert_eq!(invoke("devsvc-dev-a"), "\"a1\"");
    let b_instance = invoke("devsvc-dev-b");
    server.write_file(
        "devsvc/a.py",
        b"def handler(event, context):\n    return 'a2'\n",
    );
    let before = wait_for("updated devsvc-dev-a");
    assert!(
        !before.iter().any(|l| l.contains("devsvc-dev-b")),
        "{before:?}"
    );
    assert_eq!(invoke("devsvc-dev-a"), "\"a2\"");
    // b was not touched: the same warm instance answers.
    assert_eq!(invoke("devsvc-dev-b"), b_instance);
    let _ = dev.kill();
    let _ = dev.wait();
}

#[test]
fn deploy_layers_of_the_service() {
    let server = Server::start();
    let config = write_project(
        &server,
        "layered",
        &[
            (
                "handler.py",
                "import common\n\ndef hello(event, context):\n    return common.greeting()\n",
            ),
            (
                "layer/python/common.py",
                "def greeting():\n    return 'from a layer'\n",
            ),
            (
                "serverless.yml",
                "service: layered\nprovider:\n  name: aws\n  runtime: python3.11\npackage:\n  patterns: ['!layer/**']\nlayers:\n  common:\n    path: layer\nfunctions:\n  hello:\n    handler: handler.hello\n    layers:\n      - Ref: CommonLambdaLayer\n",
            ),
        ],
    );
    let deployed = rayo(&server, &["deploy"], &config);
    assert!(deployed.success(), "{deployed:?}");
    assert!(
        deployed.stdout.contains("published layer common version 1"),
        "{deployed:?}"
    );
    let invoked = rayo(&server, &["invoke", "-f", "hello"], &config);
    assert_eq!(invoked.stdout.trim(), "\"from a layer\"", "{invoked:?}");
    let again = rayo(&server, &["deploy"], &config);
    assert!(again.stdout.contains("No changes"), "{again:?}");
}

#[test]
fn deploy_requirements_as_a_layer() {
    let server = Server::start();
    server.write_file(
        "reqlayer/wheels/tinycalc-1.0-py3-none-any.whl",
        &tiny_wheel(),
    );
    let config = write_project(
        &server,
        "reqlayer",
        &[
            (
                "handler.py",
                "import tinycalc\n\ndef add(event, context):\n    return tinycalc.add(1, 2)\n",
            ),
            (
                "requirements.txt",
                "./wheels/tinycalc-1.0-py3-none-any.whl\n",
            ),
            (
                "serverless.yml",
                "service: reqlayer\nprovider:\n  name: aws\n  runtime: python3.11\npackage:\n  patterns: ['!wheels/**']\ncustom:\n  pythonRequirements:\n    layer: true\nfunctions:\n  add:\n    handler: handler.add\n",
            ),
        ],
    );
    let deployed = rayo(&server, &["deploy"], &config);
    assert!(deployed.success(), "{deployed:?}");
    assert!(
        deployed
            .stdout
            .contains("published layer reqlayer-dev-python-requirements version 1"),
        "{deployed:?}"
    );
    let invoked = rayo(&server, &["invoke", "-f", "add"], &config);
    assert_eq!(invoked.stdout.trim(), "3", "{invoked:?}");
}
