//! The S3 API through boto3, raw HTTP (presigned URLs) and the aws CLI:
//! buckets and objects, listings, ranges and conditions, copies, multipart
//! uploads, signatures; bucket notifications checked with
//! aws-lambda-powertools' `S3Model`; a thumbnail function using Pillow run
//! end to end; an event accepted just before a crash delivered after the
//! restart; and functions deployed from a bucket.

use rayo_tests::Server;

/// Python helpers: an S3 client, a function that logs each event it gets,
/// and a reader of those events.
const HELPERS: &str = r#"
        import socket
        from boto3.s3.transfer import TransferConfig

        s3 = boto3.client("s3", config=CONFIG)

        RECORDER = '''
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
'''

        def events(name):
            return [json.loads(m[len("EVENT "):]) for m in log_messages(name) if m.startswith("EVENT ")]

        def wait_for_events(name, n=1):
            def check():
                found = events(name)
                return found if len(found) >= n else None
            return poll(check, f"{n} event(s) received by {name}", deadline_seconds=LONG_WAIT)

        def error_of(call, *args, **kwargs):
            error = client_error(call, *args, **kwargs)
            return (error.response["Error"]["Code"],
                    error.response["ResponseMetadata"]["HTTPStatusCode"],
                    error.response["Error"].get("Message"))

        def resolve_localhost_subdomains():
            # `<bucket>.localhost` is the loopback address for many resolvers
            # (systemd-resolved, browsers, curl), not for glibc's files/dns.
            original = socket.getaddrinfo
            def getaddrinfo(host, *args, **kwargs):
                if isinstance(host, str) and host.endswith(".localhost"):
                    host = "127.0.0.1"
                return original(host, *args, **kwargs)
            socket.getaddrinfo = getaddrinfo
"#;

fn snippet(body: &str) -> String {
    format!("{HELPERS}{body}")
}

#[test]
fn boto3_creates_reads_and_deletes_buckets_and_objects() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        assert s3.create_bucket(Bucket="photos")["Location"] == "/photos"
        s3.head_bucket(Bucket="photos")
        assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["photos"]

        # `a` and `a/b` are two keys, not a file and a directory.
        put = s3.put_object(Bucket="photos", Key="a", Body=b"hello", ContentType="text/plain",
                            Metadata={"Colour": "blue"}, CacheControl="max-age=60")
        assert put["ETag"] == '"%s"' % hashlib.md5(b"hello").hexdigest(), put
        s3.put_object(Bucket="photos", Key="a/b", Body=b"world")

        # Additional checksums (boto3 sends CRC32 by default) are verified.
        sha = s3.put_object(Bucket="photos", Key="summed", Body=b"sum me", ChecksumAlgorithm="SHA256")
        assert sha["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"sum me").digest()).decode(), sha
        code, status, message = error_of(s3.put_object, Bucket="photos", Key="summed", Body=b"sum me",
                                         ChecksumCRC32="AAAAAA==")
        assert (code, status) == ("BadDigest", 400), (code, message)
        assert message == "The CRC32 you specified did not match the calculated checksum.", message
        code = error_of(s3.put_object, Bucket="photos", Key="summed", Body=b"sum me",
                        ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode())[0]
        assert code == "BadDigest", code
        assert s3.get_object(Bucket="photos", Key="summed")["Body"].read() == b"sum me"
        s3.delete_object(Bucket="photos", Key="summed")
        got = s3.get_object(Bucket="photos", Key="a")
        assert got["Body"].read() == b"hello"
        assert got["ContentType"] == "text/plain", got
        assert got["Metadata"] == {"colour": "blue"}, got
        assert got["CacheControl"] == "max-age=60", got
        assert got["ContentLength"] == 5 and got["ETag"] == put["ETag"], got
        assert s3.get_object(Bucket="photos", Key="a/b")["Body"].read() == b"world"
        head = s3.head_object(Bucket="photos", Key="a/b")
        assert head["ContentLength"] == 5 and head["ContentType"] == "binary/octet-stream", head

        # Ranges.
        part = s3.get_object(Bucket="photos", Key="a", Range="bytes=1-3")
        assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert part["Body"].read() == b"ell" and part["ContentRange"] == "bytes 1-3/5", part
        assert s3.get_object(Bucket="photos", Key="a", Range="bytes=-2")["Body"].read() == b"lo"
        assert s3.get_object(Bucket="photos", Key="a", Range="bytes=3-")["Body"].read() == b"lo"
        assert error_of(s3.get_object, Bucket="photos", Key="a", Range="bytes=10-20")[:2] == ("InvalidRange", 416)

        # Conditional reads.
        etag = put["ETag"]
        assert s3.get_object(Bucket="photos", Key="a", IfMatch=etag)["Body"].read() == b"hello"
        assert error_of(s3.get_object, Bucket="photos", Key="a", IfMatch='"0000"')[:2] == ("PreconditionFailed", 412)
        assert error_of(s3.get_object, Bucket="photos", Key="a", IfNoneMatch=etag)[1] == 304
        modified = got["LastModified"]
        import datetime
        assert error_of(s3.get_object, Bucket="photos", Key="a", IfModifiedSince=modified)[1] == 304
        earlier = modified - datetime.timedelta(hours=1)
        assert s3.get_object(Bucket="photos", Key="a", IfModifiedSince=earlier)["Body"].read() == b"hello"
        assert error_of(s3.get_object, Bucket="photos", Key="a", IfUnmodifiedSince=earlier)[:2] == ("PreconditionFailed", 412)

        # Copies keep the metadata unless told to replace it.
        copied = s3.copy_object(Bucket="photos", Key="copy", CopySource={"Bucket": "photos", "Key": "a"})
        assert copied["CopyObjectResult"]["ETag"] == etag, copied
        got = s3.get_object(Bucket="photos", Key="copy")
        assert got["Body"].read() == b"hello" and got["Metadata"] == {"colour": "blue"}, got
        s3.copy_object(Bucket="photos", Key="copy", CopySource="photos/a", MetadataDirective="REPLACE",
                       Metadata={"size": "small"}, ContentType="text/x-greeting")
        got = s3.head_object(Bucket="photos", Key="copy")
        assert got["Metadata"] == {"size": "small"} and got["ContentType"] == "text/x-greeting", got
        code, status, message = error_of(s3.copy_object, Bucket="photos", Key="a", CopySource="photos/a")
        assert (code, status) == ("InvalidRequest", 400), (code, message)

        # Errors as S3 words them.
        assert error_of(s3.get_object, Bucket="photos", Key="missing")[:2] == ("NoSuchKey", 404)
        assert error_of(s3.get_object, Bucket="nobucket", Key="a")[:2] == ("NoSuchBucket", 404)
        assert error_of(s3.put_object, Bucket="nobucket", Key="a", Body=b"")[:2] == ("NoSuchBucket", 404)
        assert error_of(s3.head_object, Bucket="photos", Key="missing")[1] == 404
        assert error_of(s3.head_bucket, Bucket="nobucket")[1] == 404
        assert error_of(s3.list_objects_v2, Bucket="nobucket")[:2] == ("NoSuchBucket", 404)
        for name in ["Bad_Name", "ab", "-photos", "192.168.1.1", "a..b"]:
            assert error_of(s3.create_bucket, Bucket=name)[:2] == ("InvalidBucketName", 400), name
        assert error_of(s3.delete_bucket, Bucket="photos")[:2] == ("BucketNotEmpty", 409)

        # A malformed document, sent signed over plain HTTP.
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest
        body = b"<Delete><Object><Key>a</Key>"
        request = AWSRequest(method="POST", url=ENDPOINT + "/photos?delete", data=body,
                             headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
        S3SigV4Auth(boto3.Session().get_credentials(), "s3", REGION).add_auth(request)
        prepared = request.prepare()
        raw = urllib.request.Request(prepared.url, data=body, method="POST", headers=dict(prepared.headers))
        try:
            urllib.request.urlopen(raw)
            raise AssertionError("a malformed DeleteObjects was accepted")
        except urllib.error.HTTPError as error:
            answer = error.read().decode()
            assert error.code == 400 and "<Code>MalformedXML</Code>" in answer, (error.code, answer)
        assert s3.get_object(Bucket="photos", Key="a")["Body"].read() == b"hello"

        # A PUT that announces more than 5 GiB is refused before its body.
        import http.client
        too_large = AWSRequest(method="PUT", url=ENDPOINT + "/photos/huge",
                               headers={"Content-Length": str(5 * 1024 ** 3 + 1)})
        S3SigV4Auth(boto3.Session().get_credentials(), "s3", REGION).add_auth(too_large)
        host, port = ENDPOINT.split("//")[1].split(":")
        connection = http.client.HTTPConnection(host, int(port), timeout=LONG_WAIT)
        connection.putrequest("PUT", "/photos/huge", skip_accept_encoding=True)
        for name, value in too_large.headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        connection.send(b"x" * 1024)
        answer = connection.getresponse()
        body = answer.read().decode()
        assert answer.status == 400 and "<Code>EntityTooLarge</Code>" in body, (answer.status, body)
        connection.close()

        # DeleteObject, DeleteObjects, then the empty bucket goes.
        s3.delete_object(Bucket="photos", Key="a")
        s3.delete_object(Bucket="photos", Key="never-there")
        assert error_of(s3.get_object, Bucket="photos", Key="a")[0] == "NoSuchKey"
        assert s3.get_object(Bucket="photos", Key="a/b")["Body"].read() == b"world"
        deleted = s3.delete_objects(Bucket="photos", Delete={"Objects": [{"Key": "a/b"}, {"Key": "copy"}]})
        assert sorted(d["Key"] for d in deleted["Deleted"]) == ["a/b", "copy"], deleted
        assert s3.list_objects_v2(Bucket="photos")["KeyCount"] == 0
        s3.delete_bucket(Bucket="photos")
        assert s3.list_buckets()["Buckets"] == []
        assert error_of(s3.delete_bucket, Bucket="photos")[:2] == ("NoSuchBucket", 404)
        "#,
    ));
    // Bodies are files under the data directory; the last delete left none.
    let bodies = server.data_dir().join("objects/bodies");
    let left: Vec<_> = std::fs::read_dir(&bodies)
        .expect("the bodies directory")
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn listings_roll_up_common_prefixes_and_paginate() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        s3.create_bucket(Bucket="listing")
        keys = ["a", "a/b", "a/c/d", "b", "b/x", "c.txt", "photos/2024/1.jpg", "photos/2024/2.jpg",
                "photos/2025/1.jpg", "zeta", "with space", "plus+sign"]
        for key in keys:
            s3.put_object(Bucket="listing", Key=key, Body=key.encode())

        listed = s3.list_objects_v2(Bucket="listing")
        assert [o["Key"] for o in listed["Contents"]] == sorted(keys), listed
        assert listed["KeyCount"] == len(keys) and listed["IsTruncated"] is False, listed
        assert listed["Contents"][0]["Size"] == 1 and listed["Contents"][0]["StorageClass"] == "STANDARD"

        top = s3.list_objects_v2(Bucket="listing", Delimiter="/")
        assert [o["Key"] for o in top["Contents"]] == ["a", "b", "c.txt", "plus+sign", "with space", "zeta"], top
        assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/", "photos/"], top

        photos = s3.list_objects_v2(Bucket="listing", Prefix="photos/", Delimiter="/")
        assert "Contents" not in photos, photos
        assert [p["Prefix"] for p in photos["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
        under = s3.list_objects_v2(Bucket="listing", Prefix="photos/2024/")
        assert [o["Key"] for o in under["Contents"]] == ["photos/2024/1.jpg", "photos/2024/2.jpg"]

        # Pages of two, keys and common prefixes counted together.
        seen, prefixes, token, pages = [], [], None, 0
        while True:
            kwargs = {"ContinuationToken": token} if token else {}
            page = s3.list_objects_v2(Bucket="listing", Delimiter="/", MaxKeys=2, **kwargs)
            pages += 1
            seen += [o["Key"] for o in page.get("Contents", [])]
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            assert page["KeyCount"] <= 2, page
            if not page["IsTruncated"]:
                break
            token = page["NextContinuationToken"]
        assert seen == [o["Key"] for o in top["Contents"]] and prefixes == ["a/", "b/", "photos/"], (seen, prefixes)
        assert pages == 5, pages

        paginated = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket="listing", PaginationConfig={"PageSize": 5}) for o in page["Contents"]]
        assert paginated == sorted(keys), paginated

        after = s3.list_objects_v2(Bucket="listing", StartAfter="photos/2024/2.jpg")
        assert [o["Key"] for o in after["Contents"]] == ["photos/2025/1.jpg", "plus+sign", "with space", "zeta"]

        # ListObjects (V1) with markers.
        v1 = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
            Bucket="listing", PaginationConfig={"PageSize": 3}) for o in page["Contents"]]
        assert v1 == sorted(keys), v1
        first = s3.list_objects(Bucket="listing", MaxKeys=3)
        assert first["IsTruncated"] is True and len(first["Contents"]) == 3, first
        assert s3.list_objects(Bucket="listing", Marker="photos/2025/1.jpg")["Contents"][0]["Key"] == "plus+sign"
        "#,
    ));
}

#[test]
fn multipart_uploads_assemble_parts_with_s3_s_etags() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        s3.create_bucket(Bucket="big")
        data = os.urandom(12 * 1024 * 1024 + 17)
        with open("big.bin", "wb") as f:
            f.write(data)
        chunk = 5 * 1024 * 1024
        s3.upload_file("big.bin", "big", "uploads/big.bin",
                       Config=TransferConfig(multipart_threshold=chunk, multipart_chunksize=chunk),
                       ExtraArgs={"ContentType": "application/x-big", "Metadata": {"kind": "random"}})
        head = s3.head_object(Bucket="big", Key="uploads/big.bin")
        parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
        expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + "-3"
        assert head["ETag"] == '"%s"' % expected, head
        assert head["ContentLength"] == len(data) and head["ContentType"] == "application/x-big", head
        assert head["Metadata"] == {"kind": "random"}, head
        s3.download_file("big", "uploads/big.bin", "back.bin")
        assert open("back.bin", "rb").read() == data

        # The low-level calls: ListParts, ListMultipartUploads, UploadPartCopy, abort.
        upload = s3.create_multipart_upload(Bucket="big", Key="assembled")
        upload_id = upload["UploadId"]
        first = s3.upload_part(Bucket="big", Key="assembled", UploadId=upload_id, PartNumber=1, Body=parts[0])
        second = s3.upload_part_copy(Bucket="big", Key="assembled", UploadId=upload_id, PartNumber=2,
                                     CopySource={"Bucket": "big", "Key": "uploads/big.bin"},
                                     CopySourceRange="bytes=0-99")
        listed = s3.list_parts(Bucket="big", Key="assembled", UploadId=upload_id)
        assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, chunk), (2, 100)], listed
        uploads = s3.list_multipart_uploads(Bucket="big")["Uploads"]
        assert [(u["Key"], u["UploadId"]) for u in uploads] == [("assembled", upload_id)], uploads
        code = error_of(s3.complete_multipart_upload, Bucket="big", Key="assembled", UploadId=upload_id,
                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"0000"'}]})[0]
        assert code == "InvalidPart", code
        done = s3.complete_multipart_upload(Bucket="big", Key="assembled", UploadId=upload_id, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first["ETag"]},
                      {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]}]})
        assert done["ETag"].endswith('-2"'), done
        assert s3.get_object(Bucket="big", Key="assembled")["Body"].read() == parts[0] + data[:100]
        assert s3.list_multipart_uploads(Bucket="big").get("Uploads", []) == []

        aborted = s3.create_multipart_upload(Bucket="big", Key="never")["UploadId"]
        s3.upload_part(Bucket="big", Key="never", UploadId=aborted, PartNumber=1, Body=b"x")
        s3.abort_multipart_upload(Bucket="big", Key="never", UploadId=aborted)
        assert error_of(s3.list_parts, Bucket="big", Key="never", UploadId=aborted)[:2] == ("NoSuchUpload", 404)
        assert error_of(s3.head_object, Bucket="big", Key="never")[1] == 404
        "#,
    ));
}

#[test]
fn presigned_urls_virtual_hosts_and_signatures() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        s3.create_bucket(Bucket="shared")
        s3.put_object(Bucket="shared", Key="doc name.txt", Body=b"presigned")

        # boto3 presigns with SigV2 unless told SigV4; both verify.
        legacy = s3.generate_presigned_url("get_object", Params={"Bucket": "shared", "Key": "doc name.txt"})
        with urllib.request.urlopen(legacy) as response:
            assert response.status == 200 and response.read() == b"presigned"
        s3 = boto3.client("s3", config=CONFIG.merge(Config(signature_version="s3v4")))
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "shared", "Key": "doc name.txt"})
        assert "X-Amz-Signature=" in url, url
        with urllib.request.urlopen(url) as response:
            assert response.status == 200 and response.read() == b"presigned"

        put_url = s3.generate_presigned_url("put_object", Params={"Bucket": "shared", "Key": "uploaded"})
        request = urllib.request.Request(put_url, data=b"via presigned PUT", method="PUT")
        with urllib.request.urlopen(request) as response:
            assert response.status == 200
        assert s3.get_object(Bucket="shared", Key="uploaded")["Body"].read() == b"via presigned PUT"

        # A tampered presigned URL is refused.
        tampered = url.replace("doc%20name.txt", "other.txt")
        try:
            urllib.request.urlopen(tampered)
            raise AssertionError("a tampered URL was accepted")
        except urllib.error.HTTPError as error:
            body = error.read().decode()
            assert error.code == 403 and "<Code>SignatureDoesNotMatch</Code>" in body, (error.code, body)

        # A wrong secret: 403 SignatureDoesNotMatch. An unknown key: InvalidAccessKeyId.
        wrong = boto3.client("s3", config=CONFIG, aws_access_key_id="test", aws_secret_access_key="not-the-secret")
        code, status, message = error_of(wrong.list_buckets)
        assert (code, status) == ("SignatureDoesNotMatch", 403), (code, status, message)
        assert message.startswith("The request signature we calculated does not match"), message
        unknown = boto3.client("s3", config=CONFIG, aws_access_key_id="AKIDUNKNOWN", aws_secret_access_key="test")
        assert error_of(unknown.list_buckets)[:2] == ("InvalidAccessKeyId", 403)
        # No signature at all.
        try:
            urllib.request.urlopen(ENDPOINT + "/shared/uploaded")
            raise AssertionError("an unsigned request was accepted")
        except urllib.error.HTTPError as error:
            assert error.code == 403, error.code

        # Virtual-host style: boto3 makes http://localhost:PORT into
        # http://shared.localhost:PORT.
        resolve_localhost_subdomains()
        port = ENDPOINT.rsplit(":", 1)[1]
        virtual = boto3.client("s3", endpoint_url=f"http://localhost:{port}",
                               config=CONFIG.merge(Config(s3={"addressing_style": "virtual"})))
        virtual.put_object(Bucket="shared", Key="v/hosted", Body=b"virtual")
        got = virtual.get_object(Bucket="shared", Key="v/hosted")
        assert got["Body"].read() == b"virtual"
        assert [o["Key"] for o in virtual.list_objects_v2(Bucket="shared", Prefix="v/")["Contents"]] == ["v/hosted"]
        assert s3.get_object(Bucket="shared", Key="v/hosted")["Body"].read() == b"virtual"
        "#,
    ));
}

#[test]
fn aws_cli_copies_lists_and_puts_objects() {
    let server = Server::start();
    let file = server.write_file("report.csv", b"a,b\n1,2\n");
    let file = file.to_str().expect("a UTF-8 path");
    // v1 (the venv's, on current botocore: CRC32 checksums sent in
    // aws-chunked trailers by default).
    server
        .aws(&["s3api", "create-bucket", "--bucket", "reports"])
        .expect("aws s3api create-bucket");
    let put = server
        .aws(&[
            "s3api",
            "put-object",
            "--bucket",
            "reports",
            "--key",
            "raw.bin",
            "--body",
            file,
            "--content-type",
            "text/csv",
        ])
        .expect("aws s3api put-object");
    assert_eq!(put["ETag"], "\"e5ebd4c02cefbe7955977c67ada242b7\"", "{put}");
    server.python(&snippet(
        r#"
        import subprocess
        aws = os.path.join(sys.prefix, "bin", "aws")
        def cli(*args):
            done = subprocess.run([aws, *args], capture_output=True, text=True, timeout=LONG_WAIT)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout
        cli("s3", "cp", "report.csv", "s3://reports/2024/report.csv")
        cli("s3", "cp", "s3://reports/2024/report.csv", "from-v1.csv")
        assert open("from-v1.csv", "rb").read() == b"a,b\n1,2\n"
        top = cli("s3", "ls", "s3://reports/")
        assert "PRE 2024/" in top and "raw.bin" in top, top
        assert "2024/report.csv" in cli("s3", "ls", "s3://reports/", "--recursive")
        "#,
    ));
    // v2 (the host's).
    let uploaded = server.aws_v2(&["s3", "cp", file, "s3://reports/v2/report.csv"]);
    assert!(uploaded.success(), "{}", uploaded.stderr);
    let back = server.work_dir().join("back.csv");
    let back_arg = back.to_str().expect("a UTF-8 path");
    let downloaded = server.aws_v2(&["s3", "cp", "s3://reports/v2/report.csv", back_arg]);
    assert!(downloaded.success(), "{}", downloaded.stderr);
    assert_eq!(std::fs::read(&back).expect("the download"), b"a,b\n1,2\n");
    let listing = server.aws_v2(&["s3", "ls", "s3://reports/", "--recursive"]);
    assert!(listing.success(), "{}", listing.stderr);
    for key in ["2024/report.csv", "raw.bin", "v2/report.csv"] {
        assert!(listing.stdout.contains(key), "{}", listing.stdout);
    }
    server.python(
        r#"
        s3 = boto3.client("s3", config=CONFIG)
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="reports")["Contents"]]
        assert keys == ["2024/report.csv", "raw.bin", "v2/report.csv"], keys
        assert s3.get_object(Bucket="reports", Key="v2/report.csv")["Body"].read() == b"a,b\n1,2\n"
        assert s3.head_object(Bucket="reports", Key="raw.bin")["ContentType"] == "text/csv"
        "#,
    );
}

#[test]
fn notifications_invoke_functions_with_s3_s_event() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        from aws_lambda_powertools.utilities.parser.models import S3Model
        create("on-upload", {"app.py": RECORDER})
        create("on-delete", {"app.py": RECORDER})
        s3.create_bucket(Bucket="inbox")
        s3.put_bucket_notification_configuration(Bucket="inbox", NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"Id": "uploads", "LambdaFunctionArn": function_arn("on-upload"),
                 "Events": ["s3:ObjectCreated:*"],
                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"},
                                                    {"Name": "suffix", "Value": ".jpg"}]}}},
                {"Id": "deletes", "LambdaFunctionArn": function_arn("on-delete"),
                 "Events": ["s3:ObjectRemoved:Delete"]},
            ]})
        got = s3.get_bucket_notification_configuration(Bucket="inbox")["LambdaFunctionConfigurations"]
        assert [(c["Id"], c["Events"]) for c in got] == [
            ("uploads", ["s3:ObjectCreated:*"]), ("deletes", ["s3:ObjectRemoved:Delete"])], got
        assert got[0]["Filter"]["Key"]["FilterRules"] == [
            {"Name": "Prefix", "Value": "incoming/"}, {"Name": "Suffix", "Value": ".jpg"}] or \
            got[0]["Filter"]["Key"]["FilterRules"] == [
            {"Name": "prefix", "Value": "incoming/"}, {"Name": "suffix", "Value": ".jpg"}], got

        # Keys the filter refuses cause nothing; a match causes one event.
        s3.put_object(Bucket="inbox", Key="incoming/notes.txt", Body=b"no")
        s3.put_object(Bucket="inbox", Key="elsewhere/cat.jpg", Body=b"no")
        put = s3.put_object(Bucket="inbox", Key="incoming/my cat (1).jpg", Body=b"meow")
        event = wait_for_events("on-upload")[0]
        parsed = S3Model(**event)
        assert len(parsed.Records) == 1, parsed
        record = event["Records"][0]
        assert record["eventVersion"] == "2.1" and record["eventSource"] == "aws:s3", record
        assert record["awsRegion"] == REGION and record["eventName"] == "ObjectCreated:Put", record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["eventTime"]), record
        assert record["userIdentity"]["principalId"] == "AWS:test", record
        assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}, record
        headers = put["ResponseMetadata"]["HTTPHeaders"]
        assert record["responseElements"] == {"x-amz-request-id": headers["x-amz-request-id"],
                                              "x-amz-id-2": headers["x-amz-id-2"]}, record
        s3_part = record["s3"]
        assert s3_part["s3SchemaVersion"] == "1.0" and s3_part["configurationId"] == "uploads", record
        assert s3_part["bucket"]["name"] == "inbox" and s3_part["bucket"]["arn"] == "arn:aws:s3:::inbox", record
        assert s3_part["bucket"]["ownerIdentity"]["principalId"], record
        obj = s3_part["object"]
        assert obj["key"] == "incoming/my+cat+%281%29.jpg", obj
        assert urllib.parse.unquote_plus(obj["key"]) == "incoming/my cat (1).jpg"
        assert obj["size"] == 4 and obj["eTag"] == hashlib.md5(b"meow").hexdigest(), obj
        assert re.fullmatch(r"[0-9A-F]{16,}", obj["sequencer"]), obj

        # A copy and a multipart upload are ObjectCreated too; sequencers grow.
        s3.copy_object(Bucket="inbox", Key="incoming/copy.jpg", CopySource="inbox/incoming/my cat (1).jpg")
        upload_id = s3.create_multipart_upload(Bucket="inbox", Key="incoming/parts.jpg")["UploadId"]
        etag = s3.upload_part(Bucket="inbox", Key="incoming/parts.jpg", UploadId=upload_id, PartNumber=1,
                              Body=b"part")["ETag"]
        s3.complete_multipart_upload(Bucket="inbox", Key="incoming/parts.jpg", UploadId=upload_id,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        s3.put_object(Bucket="inbox", Key="incoming/my cat (1).jpg", Body=b"meow again")
        received = wait_for_events("on-upload", 4)
        names = sorted(e["Records"][0]["eventName"] for e in received)
        assert names == ["ObjectCreated:CompleteMultipartUpload", "ObjectCreated:Copy",
                         "ObjectCreated:Put", "ObjectCreated:Put"], names
        same_key = [e["Records"][0]["s3"]["object"]["sequencer"] for e in received
                    if e["Records"][0]["s3"]["object"]["key"] == "incoming/my+cat+%281%29.jpg"]
        assert len(same_key) == 2 and same_key[0] != same_key[1], same_key

        # Deletes.
        s3.delete_object(Bucket="inbox", Key="incoming/notes.txt")
        removed = wait_for_events("on-delete")[0]
        S3Model(**removed)
        record = removed["Records"][0]
        assert record["eventName"] == "ObjectRemoved:Delete", record
        assert record["s3"]["object"]["key"] == "incoming/notes.txt", record
        assert "size" not in record["s3"]["object"] and "sequencer" in record["s3"]["object"], record
        assert record["s3"]["configurationId"] == "deletes", record

        # Refused configurations, as S3 words them.
        code, status, message = error_of(s3.put_bucket_notification_configuration, Bucket="inbox",
            NotificationConfiguration={"LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn("on-upload"), "Events": ["s3:ObjectCreated:*"]},
                {"LambdaFunctionArn": function_arn("on-delete"), "Events": ["s3:ObjectCreated:Put"]}]})
        assert (code, status) == ("InvalidArgument", 400), (code, message)
        assert message.startswith("Configurations overlap"), message
        code, status, message = error_of(s3.put_bucket_notification_configuration, Bucket="inbox",
            NotificationConfiguration={"LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn("missing"), "Events": ["s3:ObjectCreated:*"]}]})
        assert (code, status) == ("InvalidArgument", 400), (code, message)
        assert message == "Unable to validate the following destination configurations", message
        # Non-overlapping filters on the same events are fine.
        s3.put_bucket_notification_configuration(Bucket="inbox", NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn("on-upload"), "Events": ["s3:ObjectCreated:*"],
                 "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}},
                {"LambdaFunctionArn": function_arn("on-delete"), "Events": ["s3:ObjectCreated:*"],
                 "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".png"}]}}}]})
        # An empty configuration turns notifications off.
        s3.put_bucket_notification_configuration(Bucket="inbox", NotificationConfiguration={})
        assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket="inbox")
        "#,
    ));
}

/// The thumbnail function, as written for Lambda: Pillow vendored into
/// its package.
const THUMBNAIL: &str = r#"
        THUMBNAILER = '''
import io
import urllib.parse

import boto3
from PIL import Image

s3 = boto3.client("s3")


def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        image = Image.open(io.BytesIO(original))
        image.thumbnail((200, 200))
        out = io.BytesIO()
        image.save(out, format=image.format or "PNG")
        s3.put_object(Bucket=bucket, Key="miniaturas/" + key, Body=out.getvalue(),
                      ContentType=f"image/{(image.format or 'png').lower()}")
        print(f"THUMBNAIL {key} {image.size[0]}x{image.size[1]}")
'''

        def create_thumbnailer():
            import PIL
            site = os.path.dirname(os.path.dirname(PIL.__file__))
            files = {"app.py": THUMBNAILER}
            for package in ["PIL", "pillow.libs"]:
                if os.path.isdir(os.path.join(site, package)):
                    for name, content in directory_files(os.path.join(site, package)).items():
                        files[f"{package}/{name}"] = content
            create("thumbnailer", files, Timeout=60, MemorySize=512)
            s3.create_bucket(Bucket="fotos")
            s3.put_bucket_notification_configuration(Bucket="fotos", NotificationConfiguration={
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": function_arn("thumbnailer"), "Events": ["s3:ObjectCreated:Put"],
                     "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "originales/"}]}}}]})

        def jpeg(width, height):
            from PIL import Image
            buffer = io.BytesIO()
            Image.new("RGB", (width, height), (200, 30, 90)).save(buffer, format="JPEG")
            return buffer.getvalue()

        def wait_for_thumbnail(key):
            def check():
                try:
                    return s3.get_object(Bucket="fotos", Key="miniaturas/" + key)
                except s3.exceptions.NoSuchKey:
                    return None
            return poll(check, f"the thumbnail of {key}", deadline_seconds=LONG_WAIT)
"#;

#[test]
fn a_thumbnail_function_runs_unchanged_end_to_end() {
    let server = Server::start();
    server.python(&format!(
        "{HELPERS}{THUMBNAIL}{}",
        r#"
        from PIL import Image
        create_thumbnailer()
        s3.put_object(Bucket="fotos", Key="originales/playa grande.jpg", Body=jpeg(1200, 800),
                      ContentType="image/jpeg")
        thumbnail = wait_for_thumbnail("originales/playa grande.jpg")
        image = Image.open(io.BytesIO(thumbnail["Body"].read()))
        assert image.size == (200, 133), image.size
        assert image.format == "JPEG" and thumbnail["ContentType"] == "image/jpeg", thumbnail
        # The thumbnail itself is outside the prefix: no loop.
        messages = wait_for_messages("thumbnailer", lambda m: m.startswith("THUMBNAIL "), "the log line")
        assert messages == ["THUMBNAIL originales/playa grande.jpg 200x133"], messages
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="fotos")["Contents"]]
        assert keys == ["miniaturas/originales/playa grande.jpg", "originales/playa grande.jpg"], keys
        "#
    ));
}

#[test]
fn an_event_accepted_just_before_a_crash_is_delivered_after_restart() {
    let mut server = Server::start();
    server.python(&snippet(
        r#"
        # A function that is slow to start: the server dies before it runs.
        create("late", {"app.py": "import time\ntime.sleep(3)\n" + RECORDER}, Timeout=30)
        s3.create_bucket(Bucket="durable")
        s3.put_bucket_notification_configuration(Bucket="durable", NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": function_arn("late"), "Events": ["s3:ObjectCreated:*"]}]})
        s3.put_object(Bucket="durable", Key="precious", Body=b"keep me")
        "#,
    ));
    // Killed right after the PUT answered: the event is already in SQLite.
    server.crash_and_restart();
    server.python(&snippet(
        r#"
        received = wait_for_events("late")
        keys = {e["Records"][0]["s3"]["object"]["key"] for e in received}
        assert keys == {"precious"}, received
        assert s3.get_object(Bucket="durable", Key="precious")["Body"].read() == b"keep me"
        "#,
    ));
}

#[test]
fn functions_deploy_from_a_bucket() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        s3.create_bucket(Bucket="deployments")
        s3.put_object(Bucket="deployments", Key="v1/fn.zip",
                      Body=make_zip({"app.py": "def handler(event, context):\n    return 'v1'\n"}))
        s3.put_object(Bucket="deployments", Key="v2/fn.zip",
                      Body=make_zip({"app.py": "def handler(event, context):\n    return 'v2'\n"}))
        created = lam.create_function(FunctionName="from-bucket", Runtime="python3.11", Role=ROLE,
                                      Handler="app.handler",
                                      Code={"S3Bucket": "deployments", "S3Key": "v1/fn.zip"})
        zip_bytes = s3.get_object(Bucket="deployments", Key="v1/fn.zip")["Body"].read()
        assert created["CodeSize"] == len(zip_bytes), created
        assert invoke("from-bucket").ok() == "v1"
        lam.update_function_code(FunctionName="from-bucket", S3Bucket="deployments", S3Key="v2/fn.zip")
        lam.get_waiter("function_updated_v2").wait(FunctionName="from-bucket")
        assert invoke("from-bucket").ok() == "v2"

        message = expect_error("InvalidParameterValueException", 400, lam.create_function,
                               FunctionName="nope", Runtime="python3.11", Role=ROLE, Handler="app.handler",
                               Code={"S3Bucket": "deployments", "S3Key": "missing.zip"})
        assert message == ("Error occurred while GetObject. S3 Error Code: NoSuchKey. "
                           "S3 Error Message: The specified key does not exist."), message
        message = expect_error("InvalidParameterValueException", 400, lam.update_function_code,
                               FunctionName="from-bucket", S3Bucket="no-such-bucket", S3Key="v1/fn.zip")
        assert "S3 Error Code: NoSuchBucket" in message, message
        "#,
    ));
}
