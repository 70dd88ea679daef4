//! SQS queues through boto3 (JSON protocol), the aws CLI, and the query
//! protocol over plain HTTP: queues, messages and their attributes,
//! digests, long polling, visibility, batches, FIFO order and
//! deduplication, dead-letter queues, purges, errors, and restarts.
//!
//! boto3 itself does not check SQS's MD5 digests (the Java and Go SDKs
//! do), so every snippet's client does: `sqs_test.py` registers botocore
//! event handlers that recompute `MD5OfMessageBody` and
//! `MD5OfMessageAttributes` with SQS's documented algorithm for every
//! SendMessage, SendMessageBatch and ReceiveMessage, and fail the call when
//! rayo's differ.

use std::time::{Duration, Instant};

use rayo_tests::Server;

/// Helpers the snippets import with `from sqs_test import *`.
const SQS_PRELUDE: &str = r#"
"""SQS helpers: a boto3 client whose calls check SQS's digests, SQS's
digest of message attributes, and plain-HTTP query-protocol calls."""

import hashlib
import struct
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET

import boto3
from rayo_test import ACCOUNT, CONFIG, ENDPOINT, REGION

sqs = boto3.client("sqs", config=CONFIG)
# How many messages had their digests checked.
CHECKED = {"digests": 0}
NS = {"sqs": "http://queue.amazonaws.com/doc/2012-11-05/"}


def md5(data):
    return hashlib.md5(data).hexdigest()


def md5_of_attributes(attributes):
    """MD5OfMessageAttributes as SQS documents it: attributes sorted by
    name; each its name, data type, a transport byte (1 string, 2 binary)
    and value, strings and values prefixed by their 4-byte length."""

    def prefixed(data):
        return struct.pack(">I", len(data)) + data

    buffer = b""
    for name in sorted(attributes):
        value = attributes[name]
        buffer += prefixed(name.encode()) + prefixed(value["DataType"].encode())
        if "BinaryValue" in value:
            raw = value["BinaryValue"]
            buffer += b"\x02" + prefixed(raw if isinstance(raw, bytes) else raw.encode())
        else:
            buffer += b"\x01" + prefixed(value["StringValue"].encode())
    return md5(buffer)


def _check_sent(request, result):
    assert result["MD5OfMessageBody"] == md5(request["MessageBody"].encode()), (request, result)
    if request.get("MessageAttributes"):
        assert result["MD5OfMessageAttributes"] == md5_of_attributes(request["MessageAttributes"]), (request, result)
    else:
        assert "MD5OfMessageAttributes" not in result, result
    CHECKED["digests"] += 1


def _remember_params(params, context, **kwargs):
    context["rayo_params"] = params


def _check_digests(parsed, context, model, **kwargs):
    if "Error" in parsed:
        return
    params = context.get("rayo_params", {})
    if model.name == "SendMessage":
        _check_sent(params, parsed)
    elif model.name == "SendMessageBatch":
        entries = {entry["Id"]: entry for entry in params["Entries"]}
        for result in parsed["Successful"]:
            _check_sent(entries[result["Id"]], result)
    elif model.name == "ReceiveMessage":
        for message in parsed.get("Messages", []):
            assert message["MD5OfBody"] == md5(message["Body"].encode()), message
            if message.get("MessageAttributes"):
                assert message["MD5OfMessageAttributes"] == md5_of_attributes(message["MessageAttributes"]), message
            else:
                assert "MD5OfMessageAttributes" not in message, message
            CHECKED["digests"] += 1


sqs.meta.events.register("before-parameter-build.sqs.*", _remember_params)
sqs.meta.events.register("after-call.sqs.*", _check_digests)


def queue_arn(name):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def counts(url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
        int(attributes["ApproximateNumberOfMessagesDelayed"]),
    )


def receive(url, **kwargs):
    kwargs.setdefault("MaxNumberOfMessages", 10)
    return sqs.receive_message(QueueUrl=url, **kwargs).get("Messages", [])


def sqs_error(code, call, *args, **kwargs):
    """Calls, expects an SQS error with this query-protocol code (botocore
    reports it as the code), returns the error."""
    try:
        result = call(*args, **kwargs)
    except sqs.exceptions.ClientError as error:
        got = error.response["Error"]["Code"]
        assert got == code, (code, got, error.response)
        return error
    raise AssertionError(f"expected {code}, got {result!r}")


def query(path, params, method="POST", host=None):
    """A query-protocol call over plain HTTP: (status, parsed XML root)."""
    data = urllib.parse.urlencode(params)
    if method == "GET":
        request = urllib.request.Request(f"{ENDPOINT}{path}?{data}")
    else:
        request = urllib.request.Request(
            ENDPOINT + path,
            data=data.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        )
    if host:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["Content-Type"] == "text/xml", response.headers
            return response.status, ET.fromstring(response.read())
    except urllib.error.HTTPError as error:
        return error.code, ET.fromstring(error.read())


def text(element, path):
    found = element.find(path, NS)
    assert found is not None, (path, ET.tostring(element))
    return found.text or ""
"#;

/// A server whose clients' directory has `sqs_test.py`.
fn start() -> Server {
    let server = Server::start();
    server.write_file("sqs_test.py", SQS_PRELUDE.as_bytes());
    server
}

/// The aws CLI (v1) with an explicit `--endpoint-url`: for `sqs` it
/// replaces an unset `--endpoint-url` with SQS's legacy host name
/// (`overridesslcommonname.py`), ignoring `AWS_ENDPOINT_URL`.
fn sqs_cli(server: &Server, args: &[&str]) -> Result<serde_json::Value, rayo_tests::AwsCliError> {
    let mut full = vec!["--endpoint-url", server.url()];
    full.extend_from_slice(args);
    server.aws(&full)
}

#[test]
fn queues_are_created_listed_described_changed_and_deleted() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        created = sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "45"}, tags={"team": "core"})
        url = created["QueueUrl"]
        # The URL names the host the client used.
        assert url == f"{ENDPOINT}/{ACCOUNT}/orders", url
        assert sqs.get_queue_url(QueueName="orders")["QueueUrl"] == url
        assert sqs.get_queue_url(QueueName="orders", QueueOwnerAWSAccountId=ACCOUNT)["QueueUrl"] == url

        # Idempotent while the attributes asked for match; refused when they differ.
        assert sqs.create_queue(QueueName="orders")["QueueUrl"] == url
        assert sqs.create_queue(QueueName="orders", Attributes={"VisibilityTimeout": "45"})["QueueUrl"] == url
        error = sqs_error("QueueAlreadyExists", sqs.create_queue, QueueName="orders", Attributes={"VisibilityTimeout": "46"})
        assert isinstance(error, sqs.exceptions.QueueNameExists), type(error)
        assert "VisibilityTimeout" in error.response["Error"]["Message"]

        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        now = time.time()
        assert abs(int(attributes.pop("CreatedTimestamp")) - now) < 600, attributes
        assert abs(int(attributes.pop("LastModifiedTimestamp")) - now) < 600, attributes
        assert attributes == {
            "QueueArn": queue_arn("orders"),
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
            "ApproximateNumberOfMessagesDelayed": "0",
            "VisibilityTimeout": "45",
            "DelaySeconds": "0",
            "MaximumMessageSize": "1048576",
            "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "0",
            "SqsManagedSseEnabled": "true",
        }, attributes
        named = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "DelaySeconds"])
        assert named["Attributes"] == {"QueueArn": queue_arn("orders"), "DelaySeconds": "0"}, named
        assert "Attributes" not in sqs.get_queue_attributes(QueueUrl=url)
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core"}
        sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "platform"})
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "platform", "env": "test"}
        sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}

        sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "5", "MaximumMessageSize": "2048"})
        changed = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds", "MaximumMessageSize", "VisibilityTimeout"])
        assert changed["Attributes"] == {"DelaySeconds": "5", "MaximumMessageSize": "2048", "VisibilityTimeout": "45"}, changed

        # Listing, by prefix and in pages.
        for name in ["orders-b", "orders-a", "payments"]:
            sqs.create_queue(QueueName=name)
        everything = sqs.list_queues()["QueueUrls"]
        assert everything == [f"{ENDPOINT}/{ACCOUNT}/{n}" for n in ["orders", "orders-a", "orders-b", "payments"]], everything
        assert "NextToken" not in sqs.list_queues()
        prefixed = sqs.list_queues(QueueNamePrefix="orders-")["QueueUrls"]
        assert [u.rsplit("/", 1)[1] for u in prefixed] == ["orders-a", "orders-b"], prefixed
        assert "QueueUrls" not in sqs.list_queues(QueueNamePrefix="nothing")
        pages = list(sqs.get_paginator("list_queues").paginate(PaginationConfig={"PageSize": 3}))
        assert [len(p["QueueUrls"]) for p in pages] == [3, 1], pages
        assert [u for p in pages for u in p["QueueUrls"]] == everything

        sqs.delete_queue(QueueUrl=url)
        try:
            sqs.get_queue_url(QueueName="orders")
            raise AssertionError("the queue is gone")
        except sqs.exceptions.QueueDoesNotExist as error:
            assert error.response["Error"]["Code"] == "AWS.SimpleQueueService.NonExistentQueue", error.response
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            assert error.response["ResponseMetadata"]["HTTPHeaders"]["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
        sqs_error("AWS.SimpleQueueService.NonExistentQueue", sqs.send_message, QueueUrl=url, MessageBody="x")
        sqs_error("AWS.SimpleQueueService.NonExistentQueue", sqs.delete_queue, QueueUrl=url)
        "#,
    );
}

#[test]
fn messages_round_trip_with_attributes_and_digests() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="events")["QueueUrl"]
        attributes = {
            "color": {"DataType": "String", "StringValue": "blue ✓"},
            "count": {"DataType": "Number", "StringValue": "42"},
            "ratio": {"DataType": "Number.float", "StringValue": "0.5"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
            "meta.source": {"DataType": "String", "StringValue": "test"},
            "meta.kind": {"DataType": "String.custom", "StringValue": "k"},
        }
        body = "héllo <wörld> & \"friends\"\r\n\ttab"
        sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
        assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
        assert re.fullmatch(UUID, sent["MessageId"]), sent
        assert "SequenceNumber" not in sent
        plain = sqs.send_message(QueueUrl=url, MessageBody="plain")
        assert "MD5OfMessageAttributes" not in plain
        # A delayed message is counted, not received.
        sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=900)
        assert counts(url) == (2, 0, 1), counts(url)

        before_ms = int(time.time() * 1000)
        messages = receive(url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
        assert [m["Body"] for m in messages] == [body, "plain"], messages
        first = messages[0]
        assert first["MessageId"] == sent["MessageId"]
        assert first["MessageAttributes"] == attributes, first["MessageAttributes"]
        assert first["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
        system = first["Attributes"]
        assert system["ApproximateReceiveCount"] == "1", system
        assert system["SenderId"] == ACCOUNT, system
        assert abs(int(system["SentTimestamp"]) - before_ms) < 600_000, system
        assert int(system["ApproximateFirstReceiveTimestamp"]) >= int(system["SentTimestamp"]), system
        assert "Attributes" in messages[1] and "MessageAttributes" not in messages[1], messages[1]
        assert counts(url) == (0, 2, 1), counts(url)

        # Receipt handles are opaque and differ per receive.
        handle = first["ReceiptHandle"]
        assert sent["MessageId"] not in handle and len(handle) >= 64, handle
        for message in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        assert counts(url) == (0, 0, 1), counts(url)

        # Selected attributes: by name and by prefix; the digest covers what is returned.
        sqs.send_message(QueueUrl=url, MessageBody="again", MessageAttributes=attributes)
        selected = receive(url, MessageAttributeNames=["color", "meta.*"], AttributeNames=["SentTimestamp"], VisibilityTimeout=0)
        assert sorted(selected[0]["MessageAttributes"]) == ["color", "meta.kind", "meta.source"], selected
        assert list(selected[0]["Attributes"]) == ["SentTimestamp"], selected
        bare = receive(url)
        assert "MessageAttributes" not in bare[0] and "Attributes" not in bare[0], bare
        assert "MD5OfMessageAttributes" not in bare[0], bare
        assert CHECKED["digests"] >= 7, CHECKED
        "#,
    );
}

#[test]
fn a_long_poll_answers_as_soon_as_a_message_arrives() {
    let server = start();
    let out = server.python_json(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="waiting")["QueueUrl"]

        # An empty queue is waited on for the whole wait.
        started = time.monotonic()
        assert receive(url, WaitTimeSeconds=1) == []
        assert time.monotonic() - started >= 0.9

        got = {}
        polling = threading.Event()

        def poll():
            client = boto3.client("sqs", config=CONFIG)
            polling.set()
            started = time.monotonic()
            response = client.receive_message(QueueUrl=url, WaitTimeSeconds=20, MessageAttributeNames=["All"])
            got["elapsed"] = time.monotonic() - started
            got["messages"] = response.get("Messages", [])

        thread = threading.Thread(target=poll)
        thread.start()
        polling.wait()
        sqs.send_message(QueueUrl=url, MessageBody="wake up", MessageAttributes={"a": {"DataType": "String", "StringValue": "b"}})
        thread.join()
        assert [m["Body"] for m in got["messages"]] == ["wake up"], got
        assert got["messages"][0]["MD5OfMessageAttributes"] == md5_of_attributes({"a": {"DataType": "String", "StringValue": "b"}})

        # The queue's ReceiveMessageWaitTimeSeconds is the default wait.
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"ReceiveMessageWaitTimeSeconds": "1"})
        started = time.monotonic()
        assert receive(url) == []
        assert time.monotonic() - started >= 0.9
        emit({"elapsed": got["elapsed"]})
        "#,
    );
    // Far below the 20 s the poll would have waited for nothing.
    let elapsed = out["elapsed"].as_f64().expect("elapsed seconds");
    assert!(elapsed < 15.0, "the long poll took {elapsed} s");
}

#[test]
fn unacknowledged_messages_come_back_after_their_visibility_timeout() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "1"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="job")
        first = receive(url, MessageSystemAttributeNames=["ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp"])
        assert len(first) == 1 and first[0]["Attributes"]["ApproximateReceiveCount"] == "1", first
        assert receive(url) == []
        assert counts(url) == (0, 1, 0)

        # Not deleted: back after its timeout, which a long poll waits for.
        second = receive(url, WaitTimeSeconds=10, MessageSystemAttributeNames=["All"])
        assert [m["Body"] for m in second] == ["job"], second
        assert second[0]["Attributes"]["ApproximateReceiveCount"] == "2", second
        assert second[0]["Attributes"]["ApproximateFirstReceiveTimestamp"] == first[0]["Attributes"]["ApproximateFirstReceiveTimestamp"]
        assert second[0]["ReceiptHandle"] != first[0]["ReceiptHandle"]

        # The stale handle no longer changes visibility; the current one does.
        error = sqs_error("InvalidParameterValue", sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=30)
        assert "Message does not exist or is not available for visibility timeout change" in str(error)
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"], VisibilityTimeout=600)
        assert receive(url, WaitTimeSeconds=2) == []
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"], VisibilityTimeout=0)
        third = receive(url, VisibilityTimeout=600, AttributeNames=["ApproximateReceiveCount"])
        assert third[0]["Attributes"]["ApproximateReceiveCount"] == "3", third

        # A stale handle deletes nothing on a standard queue, and says so by succeeding.
        sqs.delete_message(QueueUrl=url, ReceiptHandle=second[0]["ReceiptHandle"])
        assert counts(url) == (0, 1, 0)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])
        assert counts(url) == (0, 0, 0)
        sqs.delete_message(QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])

        error = sqs_error("ReceiptHandleIsInvalid", sqs.delete_message, QueueUrl=url, ReceiptHandle="not-a-handle")
        assert isinstance(error, sqs.exceptions.ReceiptHandleIsInvalid), type(error)
        sqs_error("InvalidParameterValue", sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"], VisibilityTimeout=43201)
        "#,
    );
}

#[test]
fn batches_report_failures_per_entry() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="batch")["QueueUrl"]
        result = sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": "ok-1", "MessageBody": "one", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "1"}}},
            {"Id": "bad_chars", "MessageBody": "nul \u0000 inside"},
            {"Id": "ok-2", "MessageBody": "two", "DelaySeconds": 0},
            {"Id": "bad-delay", "MessageBody": "late", "DelaySeconds": 1000},
        ])
        assert sorted(e["Id"] for e in result["Successful"]) == ["ok-1", "ok-2"], result
        failed = {e["Id"]: e for e in result["Failed"]}
        assert failed["bad_chars"]["Code"] == "InvalidMessageContents" and failed["bad_chars"]["SenderFault"] is True, failed
        assert failed["bad-delay"]["Code"] == "InvalidParameterValue", failed
        assert "DelaySeconds" in failed["bad-delay"]["Message"], failed
        assert CHECKED["digests"] == 2

        sqs_error("AWS.SimpleQueueService.EmptyBatchRequest", sqs.send_message_batch, QueueUrl=url, Entries=[])
        sqs_error("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", sqs.send_message_batch, QueueUrl=url,
                  Entries=[{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)])
        error = sqs_error("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", sqs.send_message_batch, QueueUrl=url,
                          Entries=[{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}])
        assert isinstance(error, sqs.exceptions.BatchEntryIdsNotDistinct), type(error)
        sqs_error("AWS.SimpleQueueService.InvalidBatchEntryId", sqs.send_message_batch, QueueUrl=url,
                  Entries=[{"Id": "no.dots", "MessageBody": "x"}])
        sqs_error("AWS.SimpleQueueService.BatchRequestTooLong", sqs.send_message_batch, QueueUrl=url,
                  Entries=[{"Id": f"m{i}", "MessageBody": "x" * 200_000} for i in range(6)])
        assert counts(url) == (2, 0, 0), counts(url)

        messages = receive(url, VisibilityTimeout=600)
        assert sorted(m["Body"] for m in messages) == ["one", "two"], messages
        changed = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": "a", "ReceiptHandle": messages[0]["ReceiptHandle"], "VisibilityTimeout": 0},
            {"Id": "b", "ReceiptHandle": "bogus", "VisibilityTimeout": 0},
        ])
        assert [e["Id"] for e in changed["Successful"]] == ["a"], changed
        assert changed["Failed"][0]["Id"] == "b" and changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid", changed
        assert counts(url) == (1, 1, 0), counts(url)

        again = receive(url, VisibilityTimeout=600)
        handles = [messages[1]["ReceiptHandle"], again[0]["ReceiptHandle"]]
        deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": "first", "ReceiptHandle": handles[0]},
            {"Id": "second", "ReceiptHandle": handles[1]},
            {"Id": "bogus", "ReceiptHandle": "AQEBnotahandle"},
        ])
        assert sorted(e["Id"] for e in deleted["Successful"]) == ["first", "second"], deleted
        assert [(e["Id"], e["Code"], e["SenderFault"]) for e in deleted["Failed"]] == [("bogus", "ReceiptHandleIsInvalid", True)], deleted
        assert counts(url) == (0, 0, 0), counts(url)
        "#,
    );
}

#[test]
fn fifo_queues_keep_group_order_and_deduplicate() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        assert url.endswith("/orders.fifo"), url
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        assert attributes["FifoQueue"] == "true" and attributes["ContentBasedDeduplication"] == "true", attributes
        assert attributes["DeduplicationScope"] == "queue" and attributes["FifoThroughputLimit"] == "perQueue", attributes

        sent = [sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
                for group, body in [("a", "a1"), ("b", "b1"), ("a", "a2"), ("a", "a3")]]
        numbers = [int(s["SequenceNumber"]) for s in sent]
        assert numbers == sorted(numbers) and len(set(numbers)) == 4, sent
        # The same body within five minutes is a duplicate: accepted, not added.
        duplicate = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a")
        assert duplicate["MessageId"] == sent[0]["MessageId"], (duplicate, sent[0])
        explicit = sqs.send_message(QueueUrl=url, MessageBody="a1", MessageGroupId="a", MessageDeduplicationId="another-a1")
        assert explicit["MessageId"] != sent[0]["MessageId"]
        again = sqs.send_message(QueueUrl=url, MessageBody="different body", MessageGroupId="a", MessageDeduplicationId="another-a1")
        assert again["MessageId"] == explicit["MessageId"]
        assert counts(url) == (5, 0, 0), counts(url)

        # One group in order; a group with a message in flight is held back.
        first = receive(url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"])
        assert [m["Body"] for m in first] == ["a1"], first
        system = first[0]["Attributes"]
        assert system["MessageGroupId"] == "a" and system["SequenceNumber"] == sent[0]["SequenceNumber"], system
        assert system["MessageDeduplicationId"] == hashlib.sha256(b"a1").hexdigest(), system
        assert [m["Body"] for m in receive(url)] == ["b1"]
        assert receive(url) == []
        sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
        rest = receive(url, VisibilityTimeout=600)
        assert [m["Body"] for m in rest] == ["a2", "a3", "a1"], rest

        sqs_error("MissingParameter", sqs.send_message, QueueUrl=url, MessageBody="no group")
        sqs_error("InvalidParameterValue", sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="a", DelaySeconds=5)
        plain = sqs.create_queue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        sqs_error("InvalidParameterValue", sqs.send_message, QueueUrl=plain, MessageBody="x", MessageGroupId="a")
        sqs_error("InvalidParameterValue", sqs.create_queue, QueueName="not-fifo", Attributes={"FifoQueue": "true"})
        sqs_error("InvalidParameterValue", sqs.create_queue, QueueName="named.fifo")
        sqs_error("InvalidAttributeName", sqs.create_queue, QueueName="standard", Attributes={"ContentBasedDeduplication": "true"})
        "#,
    );
}

#[test]
fn redrive_moves_messages_to_the_dead_letter_queue_after_max_receives() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
        policy = json.dumps({"deadLetterTargetArn": queue_arn("dead"), "maxReceiveCount": "2"})
        src = sqs.create_queue(QueueName="source", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        shown = sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"]
        assert json.loads(shown) == {"deadLetterTargetArn": queue_arn("dead"), "maxReceiveCount": 2}, shown
        assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]

        sent = sqs.send_message(QueueUrl=src, MessageBody="poison", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        for n in (1, 2):
            got = receive(src, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"])
            assert got[0]["Attributes"]["ApproximateReceiveCount"] == str(n), got
        # The third receive would exceed maxReceiveCount: the message moves.
        assert receive(src) == []
        assert counts(src) == (0, 0, 0)
        dead = receive(dlq, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"])
        assert [m["MessageId"] for m in dead] == [sent["MessageId"]], dead
        assert dead[0]["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn("source"), dead
        assert dead[0]["MessageAttributes"] == {"k": {"DataType": "String", "StringValue": "v"}}

        missing = json.dumps({"deadLetterTargetArn": queue_arn("nowhere"), "maxReceiveCount": 1})
        sqs_error("InvalidParameterValue", sqs.create_queue, QueueName="bad-source", Attributes={"RedrivePolicy": missing})
        sqs_error("InvalidParameterValue", sqs.set_queue_attributes, QueueUrl=src,
                  Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": queue_arn("dead"), "maxReceiveCount": 0})})
        # Removing the policy: an empty value.
        sqs.set_queue_attributes(QueueUrl=src, Attributes={"RedrivePolicy": ""})
        assert "RedrivePolicy" not in sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["All"])["Attributes"]
        "#,
    );
}

#[test]
fn purge_deletes_every_message_once_a_minute() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="purged")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(5)])
        receive(url, MaxNumberOfMessages=2)
        sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=600)
        assert counts(url) == (3, 2, 1), counts(url)
        sqs.purge_queue(QueueUrl=url)
        assert counts(url) == (0, 0, 0), counts(url)
        assert receive(url) == []
        error = sqs_error("AWS.SimpleQueueService.PurgeQueueInProgress", sqs.purge_queue, QueueUrl=url)
        assert isinstance(error, sqs.exceptions.PurgeQueueInProgress), type(error)
        assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        # The queue still takes messages.
        sqs.send_message(QueueUrl=url, MessageBody="after")
        assert [m["Body"] for m in receive(url)] == ["after"]
        "#,
    );
}

#[test]
fn invalid_requests_get_sqs_errors() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        error = sqs_error("InvalidAttributeValue", sqs.create_queue, QueueName="q", Attributes={"VisibilityTimeout": "43201"})
        assert isinstance(error, sqs.exceptions.InvalidAttributeValue), type(error)
        assert error.response["Error"]["Message"] == "Invalid value for the parameter VisibilityTimeout.", error.response
        for name, value in [("DelaySeconds", "901"), ("MaximumMessageSize", "1023"), ("MessageRetentionPeriod", "59"),
                            ("ReceiveMessageWaitTimeSeconds", "21"), ("VisibilityTimeout", "soon")]:
            sqs_error("InvalidAttributeValue", sqs.create_queue, QueueName="q", Attributes={name: value})
        error = sqs_error("InvalidAttributeName", sqs.create_queue, QueueName="q", Attributes={"Colour": "red"})
        assert isinstance(error, sqs.exceptions.InvalidAttributeName), type(error)
        sqs_error("InvalidParameterValue", sqs.create_queue, QueueName="has space")
        sqs_error("InvalidParameterValue", sqs.create_queue, QueueName="x" * 81)
        assert sqs.list_queues().get("QueueUrls") is None

        url = sqs.create_queue(QueueName="q", Attributes={"MaximumMessageSize": "1024"})["QueueUrl"]
        sqs_error("InvalidAttributeName", sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Colour"])
        sqs_error("InvalidAttributeValue", sqs.set_queue_attributes, QueueUrl=url, Attributes={"DelaySeconds": "-1"})
        sqs_error("InvalidAttributeName", sqs.set_queue_attributes, QueueUrl=url, Attributes={"QueueArn": "x"})
        sqs_error("InvalidParameterValue", sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
        sqs_error("InvalidParameterValue", sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=0)
        sqs_error("InvalidParameterValue", sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
        sqs_error("InvalidParameterValue", sqs.receive_message, QueueUrl=url, VisibilityTimeout=43201)
        error = sqs_error("InvalidMessageContents", sqs.send_message, QueueUrl=url, MessageBody="bell \u0007")
        assert isinstance(error, sqs.exceptions.InvalidMessageContents), type(error)
        error = sqs_error("InvalidParameterValue", sqs.send_message, QueueUrl=url, MessageBody="x" * 1025)
        assert "Message must be shorter than 1024 bytes" in error.response["Error"]["Message"], error.response
        sqs_error("InvalidParameterValue", sqs.send_message, QueueUrl=url, MessageBody="x", DelaySeconds=901)
        sqs_error("InvalidParameterValue", sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
        for attributes in [
            {"AWS.reserved": {"DataType": "String", "StringValue": "x"}},
            {"n": {"DataType": "Number", "StringValue": "twelve"}},
            {"t": {"DataType": "Text", "StringValue": "x"}},
            {"e": {"DataType": "String", "StringValue": ""}},
            {f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)},
        ]:
            sqs_error("InvalidParameterValue", sqs.send_message, QueueUrl=url, MessageBody="x", MessageAttributes=attributes)
        sqs_error("InvalidAddress", sqs.send_message, QueueUrl="not-a-url", MessageBody="x")
        sqs_error("AWS.SimpleQueueService.NonExistentQueue", sqs.send_message, QueueUrl=f"{ENDPOINT}/111111111111/q", MessageBody="x")
        assert counts(url) == (0, 0, 0)
        "#,
    );
}

#[test]
fn aws_cli_creates_sends_receives_and_deletes() {
    let server = start();
    let created = sqs_cli(
        &server,
        &[
            "sqs",
            "create-queue",
            "--queue-name",
            "from-cli",
            "--attributes",
            "VisibilityTimeout=7",
        ],
    )
    .expect("aws sqs create-queue");
    let url = created["QueueUrl"]
        .as_str()
        .expect("a QueueUrl")
        .to_string();
    assert_eq!(url, format!("{}/000000000000/from-cli", server.url()));

    let sent = sqs_cli(
            &server,
            &[
            "sqs",
            "send-message",
            "--queue-url",
            &url,
            "--message-body",
            "hello from the cli",
            "--message-attributes",
            r#"{"color":{"DataType":"String","StringValue":"blue"},"n":{"DataType":"Number","StringValue":"3"}}"#,
        ])
        .expect("aws sqs send-message");
    // Computed with Python's hashlib from SQS's documented encoding.
    assert_eq!(
        sent["MD5OfMessageBody"], "d9753fc9dd33c4c963eaa685be8083bc",
        "{sent}"
    );
    assert_eq!(
        sent["MD5OfMessageAttributes"], "9b2dd1d48da45b07d4decd53edef7e68",
        "{sent}"
    );

    let received = sqs_cli(
        &server,
        &[
            "sqs",
            "receive-message",
            "--queue-url",
            &url,
            "--attribute-names",
            "All",
            "--message-attribute-names",
            "All",
            "--wait-time-seconds",
            "5",
        ],
    )
    .expect("aws sqs receive-message");
    let message = &received["Messages"][0];
    assert_eq!(message["Body"], "hello from the cli", "{received}");
    assert_eq!(message["MessageId"], sent["MessageId"]);
    assert_eq!(message["MD5OfBody"], sent["MD5OfMessageBody"]);
    assert_eq!(
        message["MD5OfMessageAttributes"],
        sent["MD5OfMessageAttributes"]
    );
    assert_eq!(message["MessageAttributes"]["n"]["StringValue"], "3");
    assert_eq!(message["Attributes"]["ApproximateReceiveCount"], "1");

    let attributes = sqs_cli(
        &server,
        &[
            "sqs",
            "get-queue-attributes",
            "--queue-url",
            &url,
            "--attribute-names",
            "ApproximateNumberOfMessagesNotVisible",
            "VisibilityTimeout",
        ],
    )
    .expect("aws sqs get-queue-attributes");
    assert_eq!(
        attributes["Attributes"],
        serde_json::json!({"ApproximateNumberOfMessagesNotVisible": "1", "VisibilityTimeout": "7"})
    );
    let handle = message["ReceiptHandle"].as_str().expect("a receipt handle");
    sqs_cli(
        &server,
        &[
            "sqs",
            "delete-message",
            "--queue-url",
            &url,
            "--receipt-handle",
            handle,
        ],
    )
    .expect("aws sqs delete-message");
    let empty = sqs_cli(&server, &["sqs", "receive-message", "--queue-url", &url])
        .expect("aws sqs receive-message");
    assert_eq!(empty, serde_json::Value::Null, "{empty}");

    let error = sqs_cli(
        &server,
        &["sqs", "get-queue-url", "--queue-name", "missing"],
    )
    .expect_err("no such queue");
    assert!(
        error
            .stderr
            .contains("AWS.SimpleQueueService.NonExistentQueue")
            && error.stderr.contains("The specified queue does not exist"),
        "{error:?}"
    );
    sqs_cli(&server, &["sqs", "delete-queue", "--queue-url", &url]).expect("aws sqs delete-queue");
}

#[test]
fn query_protocol_over_plain_http() {
    let server = start();
    server.python(
        r#"
        from sqs_test import *
        # CreateQueue to / as a form POST; the URL names the Host header sent.
        host = ENDPOINT.split("://", 1)[1].replace("127.0.0.1", "localhost")
        status, root = query("/", {"Action": "CreateQueue", "QueueName": "legacy", "Version": "2012-11-05",
                                    "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "30"}, host=host)
        assert status == 200 and root.tag == "{%s}CreateQueueResponse" % NS["sqs"], ET.tostring(root)
        url = text(root, "sqs:CreateQueueResult/sqs:QueueUrl")
        assert url == f"http://{host}/{ACCOUNT}/legacy", url
        assert re.fullmatch(UUID, text(root, "sqs:ResponseMetadata/sqs:RequestId"))
        path = f"/{ACCOUNT}/legacy"

        # SendMessage posted to the queue's URL, with attributes.
        body = "query <body> & \"more\"\r\nline"
        status, root = query(path, {
            "Action": "SendMessage", "MessageBody": body,
            "MessageAttribute.1.Name": "color", "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "red",
            "MessageAttribute.2.Name": "raw", "MessageAttribute.2.Value.DataType": "Binary",
            "MessageAttribute.2.Value.BinaryValue": base64.b64encode(b"\x00\xff").decode(),
        })
        assert status == 200, ET.tostring(root)
        attributes = {"color": {"DataType": "String", "StringValue": "red"},
                      "raw": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}}
        assert text(root, "sqs:SendMessageResult/sqs:MD5OfMessageBody") == md5(body.encode())
        assert text(root, "sqs:SendMessageResult/sqs:MD5OfMessageAttributes") == md5_of_attributes(attributes)
        message_id = text(root, "sqs:SendMessageResult/sqs:MessageId")

        # ReceiveMessage as a GET to the queue URL.
        status, root = query(path, {"Action": "ReceiveMessage", "AttributeName.1": "All",
                                    "MessageAttributeName.1": "All", "MaxNumberOfMessages": "5"}, method="GET")
        assert status == 200, ET.tostring(root)
        messages = root.findall("sqs:ReceiveMessageResult/sqs:Message", NS)
        assert len(messages) == 1, ET.tostring(root)
        message = messages[0]
        assert text(message, "sqs:MessageId") == message_id
        assert text(message, "sqs:Body") == body, repr(text(message, "sqs:Body"))
        assert text(message, "sqs:MD5OfBody") == md5(body.encode())
        system = {text(a, "sqs:Name"): text(a, "sqs:Value") for a in message.findall("sqs:Attribute", NS)}
        assert system["ApproximateReceiveCount"] == "1", system
        received = {}
        for attribute in message.findall("sqs:MessageAttribute", NS):
            value = attribute.find("sqs:Value", NS)
            data_type = text(value, "sqs:DataType")
            if data_type == "Binary":
                received[text(attribute, "sqs:Name")] = {"DataType": data_type, "BinaryValue": base64.b64decode(text(value, "sqs:BinaryValue"))}
            else:
                received[text(attribute, "sqs:Name")] = {"DataType": data_type, "StringValue": text(value, "sqs:StringValue")}
        assert received == attributes, received
        assert text(message, "sqs:MD5OfMessageAttributes") == md5_of_attributes(received)

        # Attributes, then DeleteMessage with the handle, both to the queue URL.
        status, root = query(path, {"Action": "GetQueueAttributes", "AttributeName.1": "All"})
        queue_attributes = {text(a, "sqs:Name"): text(a, "sqs:Value")
                            for a in root.findall("sqs:GetQueueAttributesResult/sqs:Attribute", NS)}
        assert queue_attributes["ApproximateNumberOfMessagesNotVisible"] == "1", queue_attributes
        assert queue_attributes["QueueArn"] == queue_arn("legacy"), queue_attributes
        status, root = query(path, {"Action": "DeleteMessage", "ReceiptHandle": text(message, "sqs:ReceiptHandle")})
        assert status == 200 and root.find("sqs:ResponseMetadata", NS) is not None, ET.tostring(root)
        assert counts(f"{ENDPOINT}{path}") == (0, 0, 0)

        # Batches, with their per-entry results.
        status, root = query(path, {"Action": "SendMessageBatch",
            "SendMessageBatchRequestEntry.1.Id": "a", "SendMessageBatchRequestEntry.1.MessageBody": "one",
            "SendMessageBatchRequestEntry.2.Id": "b", "SendMessageBatchRequestEntry.2.MessageBody": "two",
            "SendMessageBatchRequestEntry.2.DelaySeconds": "901"})
        ok = root.findall("sqs:SendMessageBatchResult/sqs:SendMessageBatchResultEntry", NS)
        bad = root.findall("sqs:SendMessageBatchResult/sqs:BatchResultErrorEntry", NS)
        assert [text(e, "sqs:Id") for e in ok] == ["a"] and text(ok[0], "sqs:MD5OfMessageBody") == md5(b"one")
        assert [(text(e, "sqs:Id"), text(e, "sqs:Code"), text(e, "sqs:SenderFault")) for e in bad] == [("b", "InvalidParameterValue", "true")]

        # Tags, whose query form is Tag.N.Key and Tag.N.Value.
        status, root = query(path, {"Action": "TagQueue", "Tag.1.Key": "team", "Tag.1.Value": "core"})
        assert status == 200, ET.tostring(root)
        status, root = query(path, {"Action": "ListQueueTags"})
        tags = {text(t, "sqs:Key"): text(t, "sqs:Value") for t in root.findall("sqs:ListQueueTagsResult/sqs:Tag", NS)}
        assert tags == {"team": "core"}, ET.tostring(root)

        # ListQueues on /; errors as XML ErrorResponses.
        status, root = query("/", {"Action": "ListQueues"}, method="GET")
        assert [e.text for e in root.findall("sqs:ListQueuesResult/sqs:QueueUrl", NS)] == [f"{ENDPOINT}{path}"], ET.tostring(root)
        status, root = query("/", {"Action": "GetQueueUrl", "QueueName": "missing"})
        assert status == 400 and root.tag == "{%s}ErrorResponse" % NS["sqs"], ET.tostring(root)
        assert text(root, "sqs:Error/sqs:Code") == "AWS.SimpleQueueService.NonExistentQueue"
        assert text(root, "sqs:Error/sqs:Type") == "Sender"
        assert text(root, "sqs:Error/sqs:Message") == "The specified queue does not exist for this wsdl version."
        status, root = query(path, {"Action": "Explode"})
        assert status == 400 and text(root, "sqs:Error/sqs:Code") == "InvalidAction", ET.tostring(root)
        status, root = query(path, {"Action": "ReceiveMessage", "MaxNumberOfMessages": "11"})
        assert status == 400 and text(root, "sqs:Error/sqs:Code") == "InvalidParameterValue", ET.tostring(root)

        # Other routes are untouched: the Lambda API and rayo's own pages.
        assert server_healthy()
        "#,
    );
}

#[test]
fn messages_and_their_visibility_survive_a_restart() {
    let mut server = start();
    let before = server.python_json(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="durable")["QueueUrl"]
        fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="in flight")
        taken = receive(url, VisibilityTimeout=3600)
        assert [m["Body"] for m in taken] == ["in flight"]
        sent = sqs.send_message(QueueUrl=url, MessageBody="kept", MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
        original = sqs.send_message(QueueUrl=fifo, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d1")
        emit({"handle": taken[0]["ReceiptHandle"], "sent": sent["MessageId"], "original": original["MessageId"], "url": url})
        "#,
    );
    // A long poll in progress does not hold up the shutdown.
    let ready = server.work_dir().join("polling");
    let poll = server.spawn_python(
        r#"
        from sqs_test import *
        url = sqs.create_queue(QueueName="idle")["QueueUrl"]
        # Tells the test the long poll is being sent.
        sqs.meta.events.register("before-send.sqs.ReceiveMessage", lambda **kwargs: open("polling", "w").close())
        started = time.monotonic()
        try:
            outcome = "empty" if receive(url, WaitTimeSeconds=20) == [] else "messages"
        except Exception as error:
            outcome = f"error: {error}"
        emit({"outcome": outcome, "elapsed": time.monotonic() - started})
        "#,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !ready.exists() {
        assert!(Instant::now() < deadline, "the long poll never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.restart();
    let polled = poll.wait();
    let polled: serde_json::Value =
        serde_json::from_str(polled.lines().last().unwrap_or_default()).expect("JSON");
    if polled["outcome"] == "empty" {
        let elapsed = polled["elapsed"].as_f64().expect("elapsed seconds");
        assert!(
            elapsed < 15.0,
            "the long poll held up the shutdown: {polled}"
        );
    }

    let script = format!(
        r#"
        from sqs_test import *
        before = {before}
        # The old URL (another port) still names the queue.
        url = before["url"]
        assert counts(url) == (1, 1, 0), counts(url)
        got = receive(url, MessageAttributeNames=["All"])
        assert [m["MessageId"] for m in got] == [before["sent"]], got
        assert got[0]["MessageAttributes"] == {{"k": {{"DataType": "String", "StringValue": "v"}}}}
        # The handle from before the restart still acts on its message.
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=before["handle"], VisibilityTimeout=0)
        back = receive(url, AttributeNames=["ApproximateReceiveCount"])
        assert [m["Body"] for m in back] == ["in flight"], back
        assert back[0]["Attributes"]["ApproximateReceiveCount"] == "2", back
        # FIFO deduplication is remembered too.
        fifo = sqs.get_queue_url(QueueName="durable.fifo")["QueueUrl"]
        again = sqs.send_message(QueueUrl=fifo, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="d1")
        assert again["MessageId"] == before["original"], again
        assert counts(fifo) == (1, 0, 0)
        "#
    );
    server.python(&script);
}
