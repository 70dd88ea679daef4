//! Layers: published with boto3 and the aws CLI, merged in order at
//! `/opt`, on `sys.path` as Lambda puts them; a pandas layer built from a
//! virtual environment as users build one.

use std::process::Command;

use rayo_tests::{Server, Venv, run_with_deadline};

#[test]
fn layers_merge_in_order_and_their_python_is_importable() {
    let server = Server::start();
    server.python(
        r#"
        def layer_zip(files):
            return make_zip(files)

        first = lam.publish_layer_version(
            LayerName="base",
            Description="the first layer",
            Content={"ZipFile": layer_zip({
                "python/greeting.py": "WORD = 'hello from base'\n",
                "python/shared.py": "WHO = 'base'\n",
                "data/common.txt": "base",
                "python/lib/python3.11/site-packages/sitepkg/__init__.py": "NAME = 'site-packages'\n",
            })},
            CompatibleRuntimes=["python3.11"],
            LicenseInfo="MIT",
        )
        assert first["ResponseMetadata"]["HTTPStatusCode"] == 201, first
        assert first["Version"] == 1, first
        assert first["LayerVersionArn"] == "arn:aws:lambda:us-east-1:000000000000:layer:base:1", first
        assert first["LayerArn"] == "arn:aws:lambda:us-east-1:000000000000:layer:base", first
        assert first["Content"]["CodeSize"] > 0, first
        second = lam.publish_layer_version(
            LayerName="override",
            Content={"ZipFile": layer_zip({
                "python/shared.py": "WHO = 'override'\n",
                "data/common.txt": "override",
                # A module the zygote imported for boto3: the layer's wins.
                "python/six.py": "LAYER_SIX = True\n",
            })},
            CompatibleRuntimes=["python3.12"],
        )

        app = (
            "import os, sys\n"
            "import greeting, shared, sitepkg, six\n"
            "def handler(event, context):\n"
            "    return {'greeting': greeting.WORD, 'shared': shared.WHO, 'site': sitepkg.NAME,\n"
            "            'six': getattr(six, 'LAYER_SIX', False),\n"
            "            'common': open('/opt/data/common.txt').read(),\n"
            "            'path': [p for p in sys.path if p.startswith('/opt')]}\n"
        )
        created = create("layered", {"app.py": app},
                         Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
        assert [l["Arn"] for l in created["Layers"]] == [first["LayerVersionArn"], second["LayerVersionArn"]], created
        assert created["Layers"][0]["CodeSize"] == first["Content"]["CodeSize"], created
        out = invoke("layered").ok()
        assert out["greeting"] == "hello from base", out
        assert out["site"] == "site-packages", out
        # The later layer's files replace the earlier one's.
        assert out["shared"] == "override", out
        assert out["common"] == "override", out
        assert out["six"] is True, out
        assert out["path"][:2] == ["/opt/python/lib/python3.11/site-packages", "/opt/python"], out

        # The other order: the first layer wins this time.
        lam.update_function_configuration(FunctionName="layered",
                                          Layers=[second["LayerVersionArn"], first["LayerVersionArn"]])
        lam.get_waiter("function_updated_v2").wait(FunctionName="layered")
        out = invoke("layered").ok()
        assert out["shared"] == "base" and out["common"] == "base", out
        got = lam.get_function(FunctionName="layered")["Configuration"]
        assert [l["Arn"] for l in got["Layers"]] == [second["LayerVersionArn"], first["LayerVersionArn"]], got

        # A layer whose modules the zygote never imported: the instance is
        # still forked from the zygote (boto3's modules are already loaded),
        # and sees /opt.
        plain = lam.publish_layer_version(LayerName="plain",
                                          Content={"ZipFile": layer_zip({"python/plainmod.py": "X = 42\n"})})
        create("forked-with-layer", {"app.py": "import sys, plainmod\ndef handler(event, context):\n    return {'preloaded': 'botocore' in sys.modules, 'x': plainmod.X}\n"},
               Layers=[plain["LayerVersionArn"]])
        assert invoke("forked-with-layer").ok() == {"preloaded": True, "x": 42}

        # A layer from a bucket.
        s3 = boto3.client("s3", config=CONFIG)
        s3.create_bucket(Bucket="layers")
        s3.put_object(Bucket="layers", Key="extra.zip", Body=layer_zip({"python/extra.py": "E = 'from a bucket'\n"}))
        from_bucket = lam.publish_layer_version(LayerName="extra", Content={"S3Bucket": "layers", "S3Key": "extra.zip"})
        create("bucket-layered", {"app.py": "import extra\ndef handler(event, context):\n    return extra.E\n"},
               Layers=[from_bucket["LayerVersionArn"]])
        assert invoke("bucket-layered").ok() == "from a bucket"
        expect_error("InvalidParameterValueException", 400, lam.publish_layer_version, LayerName="extra",
                     Content={"S3Bucket": "layers", "S3Key": "missing.zip"})

        # Reading layers back.
        by_name = lam.get_layer_version(LayerName="base", VersionNumber=1)
        by_arn = lam.get_layer_version_by_arn(Arn=first["LayerVersionArn"])
        for got in (by_name, by_arn):
            assert got["LayerVersionArn"] == first["LayerVersionArn"], got
            assert got["Description"] == "the first layer", got
            assert got["LicenseInfo"] == "MIT", got
            assert got["CompatibleRuntimes"] == ["python3.11"], got
        with urllib.request.urlopen(by_name["Content"]["Location"], timeout=30) as response:
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
            assert "python/greeting.py" in archive.namelist()
        third = lam.publish_layer_version(LayerName="base", Content={"ZipFile": layer_zip({"python/greeting.py": "WORD = 'v2'\n"})},
                                          CompatibleRuntimes=["python3.12"])
        assert third["Version"] == 2, third
        versions = lam.list_layer_versions(LayerName="base")["LayerVersions"]
        assert [v["Version"] for v in versions] == [2, 1], versions
        assert [v["Version"] for v in lam.list_layer_versions(LayerName="base", CompatibleRuntime="python3.11")["LayerVersions"]] == [1]
        layers = lam.list_layers()["Layers"]
        assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in layers] == [("base", 2), ("extra", 1), ("override", 1), ("plain", 1)], layers
        layers = lam.list_layers(CompatibleRuntime="python3.11")["Layers"]
        assert [(l["LayerName"], l["LatestMatchingVersion"]["Version"]) for l in layers] == [("base", 1)], layers

        # Errors.
        expect_error("InvalidParameterValueException", 400, lam.update_function_configuration,
                     FunctionName="layered", Layers=["arn:aws:lambda:us-east-1:000000000000:layer:base:9"])
        expect_error("InvalidParameterValueException", 400, lam.update_function_configuration,
                     FunctionName="layered", Layers=[first["LayerVersionArn"]] * 6)
        expect_error("ResourceNotFoundException", 404, lam.get_layer_version, LayerName="base", VersionNumber=9)
        expect_error("ResourceNotFoundException", 404, lam.get_layer_version_by_arn,
                     Arn="arn:aws:lambda:us-east-1:000000000000:layer:nope:1")
        expect_error("InvalidParameterValueException", 400, lam.publish_layer_version, LayerName="empty",
                     Content={"ZipFile": b"not a zip"})

        # A deleted layer version is gone for new functions; functions that use it keep it.
        lam.delete_layer_version(LayerName="base", VersionNumber=1)
        expect_error("ResourceNotFoundException", 404, lam.get_layer_version, LayerName="base", VersionNumber=1)
        lam.update_function_configuration(FunctionName="layered", Environment={"Variables": {"COLD": "1"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName="layered")
        assert invoke("layered").ok()["greeting"] == "hello from base"
        "#,
    );
}

#[test]
fn a_pandas_layer_built_from_a_virtual_environment_with_the_aws_cli() {
    let server = Server::start();
    let venv = Venv::get().pandas_venv();
    let site_packages = venv.join("lib/python3.11/site-packages");
    assert!(
        site_packages.is_dir(),
        "{} is missing",
        site_packages.display()
    );
    // The layer's layout: python/<site-packages content>.
    let layer_root = server.work_dir().join("layer");
    let python_dir = layer_root.join("python");
    std::fs::create_dir_all(&python_dir).expect("creating python/");
    let copy = run_with_deadline(
        Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", site_packages.display()))
            .arg(&python_dir),
        std::time::Duration::from_secs(300),
        "cp site-packages",
    );
    assert!(copy.success(), "copying site-packages: {}", copy.stderr);
    let layer_zip = server.work_dir().join("pandas-layer.zip");
    let zipped = run_with_deadline(
        Command::new("zip")
            .args(["-q", "-r", "-X"])
            .arg(&layer_zip)
            .arg("python")
            .current_dir(&layer_root),
        std::time::Duration::from_secs(600),
        "zip the layer",
    );
    assert!(zipped.success(), "zipping the layer: {}", zipped.stderr);

    let published = server
        .aws(&[
            "lambda",
            "publish-layer-version",
            "--layer-name",
            "pandas",
            "--description",
            "pandas from a venv",
            "--compatible-runtimes",
            "python3.11",
            "--zip-file",
            &format!("fileb://{}", layer_zip.display()),
            "--cli-read-timeout",
            "600",
        ])
        .expect("aws lambda publish-layer-version");
    let layer_arn = published["LayerVersionArn"]
        .as_str()
        .expect("a LayerVersionArn")
        .to_string();
    assert_eq!(
        layer_arn,
        "arn:aws:lambda:us-east-1:000000000000:layer:pandas:1"
    );

    let app = "import pandas as pd\n\ndef handler(event, context):\n    frame = pd.DataFrame({'a': [1, 2, 3], 'b': [4.5, 5.5, 6.5]})\n    return {'sums': {k: float(v) for k, v in frame.sum().items()}, 'mean_b': float(frame['b'].mean()), 'version': pd.__version__, 'file': pd.__file__}\n";
    let app_zip = server.write_zip(
        "app.zip",
        &[rayo_tests::ZipEntry::File("app.py", app.as_bytes(), 0o644)],
    );
    server
        .aws(&[
            "lambda",
            "create-function",
            "--function-name",
            "with-pandas",
            "--runtime",
            "python3.11",
            "--handler",
            "app.handler",
            "--role",
            "arn:aws:iam::000000000000:role/lambda-role",
            "--timeout",
            "60",
            "--memory-size",
            "512",
            "--zip-file",
            &format!("fileb://{}", app_zip.display()),
        ])
        .expect("aws lambda create-function");
    let updated = server
        .aws(&[
            "lambda",
            "update-function-configuration",
            "--function-name",
            "with-pandas",
            "--layers",
            &layer_arn,
        ])
        .expect("aws lambda update-function-configuration --layers");
    assert_eq!(updated["Layers"][0]["Arn"], layer_arn.as_str(), "{updated}");

    let out_file = server.work_dir().join("out.json");
    let invoked = server
        .aws(&[
            "lambda",
            "invoke",
            "--function-name",
            "with-pandas",
            "--cli-read-timeout",
            "120",
            out_file.to_str().expect("a UTF-8 path"),
        ])
        .expect("aws lambda invoke");
    let answer: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out_file).expect("reading the answer"))
            .expect("a JSON answer");
    assert!(invoked.get("FunctionError").is_none(), "{invoked} {answer}");
    assert_eq!(answer["sums"]["a"], 6.0, "{answer}");
    assert_eq!(answer["sums"]["b"], 16.5, "{answer}");
    assert_eq!(answer["mean_b"], 5.5, "{answer}");
    assert_eq!(answer["version"], "2.2.3", "{answer}");
    assert!(
        answer["file"]
            .as_str()
            .is_some_and(|f| f.starts_with("/opt/python/")),
        "{answer}"
    );
}

/// Without zygotes, and without a sandbox (so without a mount namespace
/// to put the layers at `/opt`), a layered function finds its layers all
/// the same.
#[test]
fn layers_without_zygotes_or_sandbox() {
    for flag in ["--no-zygotes", "--insecure-no-sandbox"] {
        let server = Server::start_with(&[flag]);
        server.python(
            r#"
            layer = lam.publish_layer_version(LayerName="plain", Content={"ZipFile": make_zip({
                "python/plainmod.py": "X = 42\n",
                "python/lib/python3.11/site-packages/deep.py": "Y = 7\n",
            })})
            create("layered", {"app.py": "import plainmod, deep\ndef handler(event, context):\n    return [plainmod.X, deep.Y]\n"},
                   Layers=[layer["LayerVersionArn"]])
            assert invoke("layered").ok() == [42, 7]
            "#,
        );
    }
}

/// A `provided` function whose package has no `bootstrap` runs the one
/// its layer brings, at `/opt/bootstrap`, as on Lambda.
#[test]
fn a_custom_runtime_from_a_layer() {
    let server = Server::start();
    server.python(
        r##"
        runtime = """
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as next_invocation:
        request_id = next_invocation.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(next_invocation.read())
    answer = {"runtime": __file__, "handler": os.environ["_HANDLER"], "event": event,
              "package": sorted(os.listdir(os.environ["LAMBDA_TASK_ROOT"]))}
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=json.dumps(answer).encode(), method="POST")).read()
"""
        layer = lam.publish_layer_version(LayerName="runtime", Content={"ZipFile": make_zip({
            "bootstrap": ("#!/bin/sh\nexec python3 /opt/runtime.py\n", 0o755),
            "runtime.py": runtime,
        })})
        create("custom", {"function.txt": "the function's own file"}, runtime="provided.al2023",
               handler="function.handle", Layers=[layer["LayerVersionArn"]])
        got = invoke("custom", {"x": 1}).ok()
        assert got == {"runtime": "/opt/runtime.py", "handler": "function.handle", "event": {"x": 1},
                       "package": ["function.txt"]}, got

        # Without the layer there is no bootstrap at all.
        create("no-bootstrap", {"function.txt": "x"}, runtime="provided.al2023", handler="function.handle")
        failed = invoke("no-bootstrap")
        assert failed.error == "Unhandled" and failed.payload["errorType"] == "Runtime.InvalidEntrypoint", failed
        "##,
    );
}
