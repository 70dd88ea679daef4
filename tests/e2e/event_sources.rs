//! Event source mappings on SQS queues, and queues as asynchronous
//! destinations and dead-letter queues, through boto3: the mapping API and
//! its errors, the SQS event a function receives (checked with
//! aws-lambda-powertools' `SqsModel`), deletes on success, visibility and
//! redrive on failure, `ReportBatchItemFailures`, `BatchSize` and the
//! batching window, disabled and deleted mappings, scaling with the backlog
//! and throttles, restarts, and async failures delivered to queues.

use rayo_tests::Server;

/// Python helpers: an SQS client, a function that logs every event it gets
/// (and fails or reports failures on request), readers of those events, and
/// a gate that holds invocations until the test opens it.
const HELPERS: &str = r#"
        import http.server
        import threading
        import urllib.parse

        sqs = boto3.client("sqs", config=CONFIG)

        # Logs each event. A record whose body starts with "fail" fails the
        # invocation on its first receive; with REPORT set, such records are
        # reported as batch item failures instead.
        RECORDER = '''
import json, os
def handler(event, context):
    print("EVENT " + json.dumps(event))
    records = event.get("Records", [])
    first = [r for r in records if r["attributes"]["ApproximateReceiveCount"] == "1"]
    failing = [r for r in first if r["body"].startswith("fail")]
    if os.environ.get("REPORT") == "invalid" and any(r["body"].startswith("invalid") for r in first):
        return {"batchItemFailures": [{"itemIdentifier": "not-a-message-of-the-batch"}]}
    if os.environ.get("REPORT"):
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in failing]}
    if failing:
        raise RuntimeError("failing on purpose")
    return {"ok": len(records)}
'''

        # Waits at the gate (GATE env) once per record, named by its body.
        GATED = '''
import json, os, urllib.request
def handler(event, context):
    for record in event.get("Records", [{"body": "hold"}]):
        print("EVENT " + json.dumps(record["body"]))
        with urllib.request.urlopen(os.environ["GATE"] + "/arrive?id=" + record["body"], timeout=600) as r:
            r.read()
    return {}
'''

        def queue_arn(name):
            return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"

        def make_queue(name, **attributes):
            return sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]

        def send_all(url, bodies):
            for start in range(0, len(bodies), 10):
                entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start:start + 10])]
                out = sqs.send_message_batch(QueueUrl=url, Entries=entries)
                assert not out.get("Failed"), out

        def counts(url):
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            return (int(attributes["ApproximateNumberOfMessages"]),
                    int(attributes["ApproximateNumberOfMessagesNotVisible"]))

        def wait_empty(url, what):
            poll(lambda: counts(url) == (0, 0), what, deadline_seconds=120)

        def received(name):
            return [json.loads(m.split("EVENT ", 1)[1]) for m in log_messages(name) if m.startswith("EVENT ")]

        def wait_for_events(name, check, what):
            return poll(lambda: (lambda got: got if check(got) else None)(received(name)), what, deadline_seconds=120)

        def bodies(events):
            return [r["body"] for e in events for r in e["Records"]]

        def drain(url, **kwargs):
            """Every message of a queue (receiving until two empty answers)."""
            messages, empty = [], 0
            while empty < 2:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, **kwargs).get("Messages", [])
                empty = 0 if got else empty + 1
                messages.extend(got)
            return messages

        def settle():
            """Gives pollers a moment: what a disabled mapping would have
            consumed by now, it would have."""
            time.sleep(2)

        class Gate:
            """Invocations arrive here and wait until the test opens it."""

            def __init__(self):
                self.arrivals = []
                self.opened = threading.Event()
                gate = self

                class Handler(http.server.BaseHTTPRequestHandler):
                    def do_GET(self):
                        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                        gate.arrivals.append(query.get("id", [""])[0])
                        gate.opened.wait(600)
                        self.send_response(200)
                        self.send_header("Content-Length", "0")
                        self.end_headers()

                    def log_message(self, *args):
                        pass

                self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
                self.server.daemon_threads = True
                self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
                threading.Thread(target=self.server.serve_forever, daemon=True).start()

            def wait_for(self, n):
                return poll(lambda: list(self.arrivals) if len(self.arrivals) >= n else None,
                            f"{n} arrivals at the gate", deadline_seconds=120)
"#;

fn snippet(body: &str) -> String {
    format!("{HELPERS}{body}")
}

#[test]
fn event_source_mappings_are_created_read_listed_updated_and_deleted() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("consumer", {"app.py": RECORDER})
        create("other", {"app.py": RECORDER})
        make_queue("jobs")
        make_queue("more-jobs")
        make_queue("ordered.fifo", FifoQueue="true")

        created = lam.create_event_source_mapping(EventSourceArn=queue_arn("jobs"), FunctionName="consumer")
        assert created["ResponseMetadata"]["HTTPStatusCode"] == 202, created
        uuid_ = created["UUID"]
        assert re.fullmatch(UUID, uuid_), created
        expected = {
            "UUID": uuid_,
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 0,
            "EventSourceArn": queue_arn("jobs"),
            "FunctionArn": function_arn("consumer"),
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": [],
            "EventSourceMappingArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{uuid_}",
        }
        for key, value in expected.items():
            assert created[key] == value, (key, created)
        assert created["State"] == "Creating", created
        assert abs(created["LastModified"].timestamp() - time.time()) < 600, created

        got = lam.get_event_source_mapping(UUID=uuid_)
        assert got["State"] == "Enabled", got
        for key, value in expected.items():
            assert got[key] == value, (key, got)

        # By ARN, with options.
        second = lam.create_event_source_mapping(
            EventSourceArn=queue_arn("more-jobs"), FunctionName=function_arn("consumer"),
            BatchSize=100, MaximumBatchingWindowInSeconds=2, Enabled=False,
            FunctionResponseTypes=["ReportBatchItemFailures"], ScalingConfig={"MaximumConcurrency": 5})
        assert second["BatchSize"] == 100 and second["MaximumBatchingWindowInSeconds"] == 2, second
        assert second["FunctionResponseTypes"] == ["ReportBatchItemFailures"], second
        assert second["ScalingConfig"] == {"MaximumConcurrency": 5}, second
        assert lam.get_event_source_mapping(UUID=second["UUID"])["State"] == "Disabled"
        third = lam.create_event_source_mapping(EventSourceArn=queue_arn("jobs"), FunctionName="other", BatchSize=1)

        # Listing: everything, by queue, by function, in pages.
        listed = lam.list_event_source_mappings()["EventSourceMappings"]
        assert [m["UUID"] for m in listed] == [uuid_, second["UUID"], third["UUID"]], listed
        assert [m["State"] for m in listed] == ["Enabled", "Disabled", "Enabled"], listed
        by_queue = lam.list_event_source_mappings(EventSourceArn=queue_arn("jobs"))["EventSourceMappings"]
        assert [m["UUID"] for m in by_queue] == [uuid_, third["UUID"]], by_queue
        by_function = lam.list_event_source_mappings(FunctionName="consumer")["EventSourceMappings"]
        assert [m["UUID"] for m in by_function] == [uuid_, second["UUID"]], by_function
        both = lam.list_event_source_mappings(EventSourceArn=queue_arn("jobs"), FunctionName=function_arn("other"))
        assert [m["UUID"] for m in both["EventSourceMappings"]] == [third["UUID"]], both
        page = lam.list_event_source_mappings(MaxItems=2)
        assert len(page["EventSourceMappings"]) == 2 and "NextMarker" in page, page
        rest = lam.list_event_source_mappings(MaxItems=2, Marker=page["NextMarker"])
        assert [m["UUID"] for m in rest["EventSourceMappings"]] == [third["UUID"]], rest
        assert "NextMarker" not in rest, rest
        pages = list(lam.get_paginator("list_event_source_mappings").paginate(PaginationConfig={"PageSize": 1}))
        assert [m["UUID"] for p in pages for m in p["EventSourceMappings"]] == [m["UUID"] for m in listed]

        # Updates: the answer says the transition, a read the state reached.
        updated = lam.update_event_source_mapping(UUID=uuid_, BatchSize=5, Enabled=False)
        assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202, updated
        assert (updated["State"], updated["BatchSize"]) == ("Disabling", 5), updated
        assert lam.get_event_source_mapping(UUID=uuid_)["State"] == "Disabled"
        assert lam.update_event_source_mapping(UUID=uuid_, Enabled=True)["State"] == "Enabling"
        assert lam.update_event_source_mapping(UUID=uuid_, FunctionResponseTypes=["ReportBatchItemFailures"])["State"] == "Updating"
        assert lam.get_event_source_mapping(UUID=uuid_)["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
        assert lam.update_event_source_mapping(UUID=uuid_, FunctionResponseTypes=[])["FunctionResponseTypes"] == []
        moved = lam.update_event_source_mapping(UUID=second["UUID"], FunctionName="other")
        assert moved["FunctionArn"] == function_arn("other"), moved

        # Errors, as Lambda answers them.
        message = expect_error("ResourceConflictException", 409, lam.create_event_source_mapping,
                               EventSourceArn=queue_arn("jobs"), FunctionName="consumer")
        assert uuid_ in message, message
        expect_error("ResourceConflictException", 409, lam.update_event_source_mapping,
                     UUID=third["UUID"], FunctionName="consumer")
        message = expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping,
                               EventSourceArn=queue_arn("missing"), FunctionName="consumer")
        assert "NonExistentQueue" in message, message
        expect_error("ResourceNotFoundException", 404, lam.create_event_source_mapping,
                     EventSourceArn=queue_arn("jobs"), FunctionName="nobody")
        message = expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping,
                               EventSourceArn=queue_arn("more-jobs"), FunctionName="consumer", BatchSize=11)
        assert "Maximum batch window in seconds must be greater than 0" in message, message
        expect_error("InvalidParameterValueException", 400, lam.update_event_source_mapping,
                     UUID=uuid_, BatchSize=11)
        expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping,
                     EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer", BatchSize=20,
                     MaximumBatchingWindowInSeconds=1)
        bad = unvalidated_lambda_client()
        expect_error("ValidationException", 400, bad.create_event_source_mapping,
                     EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer", BatchSize=10001)
        expect_error("ValidationException", 400, bad.create_event_source_mapping,
                     EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer",
                     MaximumBatchingWindowInSeconds=301)
        expect_error("ValidationException", 400, bad.create_event_source_mapping,
                     EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer",
                     FunctionResponseTypes=["Everything"])
        expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping,
                     EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer",
                     StartingPosition="LATEST")
        expect_error("InvalidParameterValueException", 400, lam.create_event_source_mapping,
                     EventSourceArn=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s", FunctionName="consumer")
        fifo = lam.create_event_source_mapping(EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer")
        assert fifo["BatchSize"] == 10, fifo
        unknown = "00000000-0000-4000-8000-000000000000"
        message = expect_error("ResourceNotFoundException", 404, lam.get_event_source_mapping, UUID=unknown)
        assert message == "The resource you requested does not exist.", message
        expect_error("ResourceNotFoundException", 404, lam.update_event_source_mapping, UUID=unknown, BatchSize=1)
        expect_error("ResourceNotFoundException", 404, lam.delete_event_source_mapping, UUID=unknown)

        # Deleting answers the mapping, Deleting; then it is gone.
        deleted = lam.delete_event_source_mapping(UUID=uuid_)
        assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202, deleted
        assert (deleted["UUID"], deleted["State"]) == (uuid_, "Deleting"), deleted
        expect_error("ResourceNotFoundException", 404, lam.get_event_source_mapping, UUID=uuid_)
        remaining = [m["UUID"] for m in lam.list_event_source_mappings()["EventSourceMappings"]]
        assert remaining == [second["UUID"], third["UUID"], fifo["UUID"]], remaining

        # The aws CLI's JSON has the same fields.
        "#,
    ));
    let listed = server
        .aws(&[
            "lambda",
            "list-event-source-mappings",
            "--function-name",
            "other",
        ])
        .expect("aws lambda list-event-source-mappings");
    let mappings = listed["EventSourceMappings"].as_array().expect("a list");
    assert_eq!(mappings.len(), 2, "{listed}");
    assert!(
        mappings
            .iter()
            .all(|m| m["State"] == "Enabled" || m["State"] == "Disabled")
    );
}

#[test]
fn queue_messages_reach_the_function_as_lambda_s_sqs_event_and_are_deleted() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        from aws_lambda_powertools.utilities.parser.models import SqsModel
        create("consumer", {"app.py": RECORDER})
        url = make_queue("inbox")
        lam.create_event_source_mapping(EventSourceArn=queue_arn("inbox"), FunctionName="consumer")
        before = int(time.time() * 1000)
        sent = sqs.send_message(QueueUrl=url, MessageBody='{"order": 7}', MessageAttributes={
            "color": {"DataType": "String", "StringValue": "blue"},
            "count": {"DataType": "Number", "StringValue": "3"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
        })
        events = wait_for_events("consumer", lambda got: got, "the SQS event")
        assert len(events) == 1, events
        event = events[0]
        assert list(event) == ["Records"], event
        parsed = SqsModel(**event)
        assert len(parsed.Records) == 1, parsed
        record = event["Records"][0]
        assert record["messageId"] == sent["MessageId"], record
        assert record["body"] == '{"order": 7}', record
        assert record["md5OfBody"] == hashlib.md5(b'{"order": 7}').hexdigest(), record
        assert record["md5OfMessageAttributes"] == sent["MD5OfMessageAttributes"], record
        assert record["eventSource"] == "aws:sqs"
        assert record["eventSourceARN"] == queue_arn("inbox")
        assert record["awsRegion"] == REGION
        assert record["receiptHandle"], record
        attributes = record["attributes"]
        assert set(attributes) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                   "ApproximateFirstReceiveTimestamp"}, attributes
        assert attributes["ApproximateReceiveCount"] == "1"
        assert attributes["SenderId"] == ACCOUNT
        sent_ms = int(attributes["SentTimestamp"])
        assert before - 60_000 <= sent_ms <= int(attributes["ApproximateFirstReceiveTimestamp"]), attributes
        assert record["messageAttributes"] == {
            "color": {"stringValue": "blue", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "count": {"stringValue": "3", "stringListValues": [], "binaryListValues": [], "dataType": "Number"},
            "blob": {"binaryValue": base64.b64encode(b"\x00\x01\xff").decode(), "stringListValues": [],
                     "binaryListValues": [], "dataType": "Binary"},
        }, record["messageAttributes"]
        assert parsed.Records[0].messageAttributes["blob"].binaryValue == "AAH/"

        # Processed, so deleted.
        wait_empty(url, "the processed message to be deleted")

        # A FIFO queue's records carry its attributes too.
        fifo_url = make_queue("ordered.fifo", FifoQueue="true")
        lam.create_event_source_mapping(EventSourceArn=queue_arn("ordered.fifo"), FunctionName="consumer")
        for i in range(3):
            sqs.send_message(QueueUrl=fifo_url, MessageBody=f"step-{i}", MessageGroupId="g", MessageDeduplicationId=f"d{i}")
        events = wait_for_events("consumer", lambda got: len(bodies(got)) >= 4, "the FIFO messages")
        fifo_records = [r for e in events for r in e["Records"] if r["eventSourceARN"] == queue_arn("ordered.fifo")]
        assert [r["body"] for r in fifo_records] == ["step-0", "step-1", "step-2"], fifo_records
        for record in fifo_records:
            SqsModel(Records=[record])
            assert record["attributes"]["MessageGroupId"] == "g", record
            assert re.fullmatch(r"\d{20}", record["attributes"]["SequenceNumber"]), record
        assert [r["attributes"]["MessageDeduplicationId"] for r in fifo_records] == ["d0", "d1", "d2"]
        wait_empty(fifo_url, "the FIFO queue to empty")
        "#,
    ));
}

#[test]
fn failed_batches_come_back_after_the_visibility_timeout_then_go_to_the_dead_letter_queue() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("always-fails", {"app.py": "def handler(event, context):\n    print('EVENT ' + __import__('json').dumps(event))\n    raise ValueError('no')\n"})
        dlq_url = make_queue("dead")
        url = make_queue("work", VisibilityTimeout=1,
                         RedrivePolicy=json.dumps({"deadLetterTargetArn": queue_arn("dead"), "maxReceiveCount": 2}))
        lam.create_event_source_mapping(EventSourceArn=queue_arn("work"), FunctionName="always-fails")
        sent = sqs.send_message(QueueUrl=url, MessageBody="poison")

        dead = poll(lambda: sqs.receive_message(QueueUrl=dlq_url, AttributeNames=["All"]).get("Messages"),
                    "the message in the dead-letter queue", deadline_seconds=120)
        assert dead[0]["MessageId"] == sent["MessageId"], dead
        assert dead[0]["Body"] == "poison"
        assert dead[0]["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn("work"), dead
        # The function saw it once per receive the redrive policy allows.
        events = received("always-fails")
        counts_seen = [r["attributes"]["ApproximateReceiveCount"] for e in events for r in e["Records"]]
        assert counts_seen == ["1", "2"], events
        assert counts(url) == (0, 0)
        "#,
    ));
}

#[test]
fn report_batch_item_failures_keeps_only_the_failed_messages() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("reporter", {"app.py": RECORDER}, Environment={"Variables": {"REPORT": "yes"}})
        url = make_queue("partial", VisibilityTimeout=1)
        # Sent before the mapping exists, so the first batch holds them all.
        send_all(url, ["ok-1", "fail-1", "ok-2", "fail-2", "ok-3"])
        lam.create_event_source_mapping(EventSourceArn=queue_arn("partial"), FunctionName="reporter",
                                        FunctionResponseTypes=["ReportBatchItemFailures"])
        events = wait_for_events("reporter", lambda got: sorted(bodies(got)).count("fail-1") >= 2
                                 and sorted(bodies(got)).count("fail-2") >= 2, "the failed messages again")
        assert sorted(bodies(events[:1])) == ["fail-1", "fail-2", "ok-1", "ok-2", "ok-3"], events
        retried = bodies(events[1:])
        assert sorted(retried) == ["fail-1", "fail-2"], retried
        for record in (r for e in events[1:] for r in e["Records"]):
            assert record["attributes"]["ApproximateReceiveCount"] == "2", record
        wait_empty(url, "the queue to empty")

        # An invalid batch response fails the whole batch.
        create("invalid", {"app.py": RECORDER}, Environment={"Variables": {"REPORT": "invalid"}})
        url = make_queue("invalid-responses", VisibilityTimeout=1)
        send_all(url, ["invalid-1", "fine"])
        lam.create_event_source_mapping(EventSourceArn=queue_arn("invalid-responses"), FunctionName="invalid",
                                        FunctionResponseTypes=["ReportBatchItemFailures"])
        events = wait_for_events("invalid", lambda got: len(bodies(got)) >= 4, "the whole batch again")
        assert sorted(bodies(events)) == ["fine", "fine", "invalid-1", "invalid-1"], events
        wait_empty(url, "the queue to empty")
        "#,
    ));
}

#[test]
fn batch_size_and_the_batching_window_shape_the_batches() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("sizes", {"app.py": RECORDER})
        url = make_queue("many")
        expected = [f"m{i:02}" for i in range(25)]
        send_all(url, expected)
        lam.create_event_source_mapping(EventSourceArn=queue_arn("many"), FunctionName="sizes", BatchSize=4)
        events = wait_for_events("sizes", lambda got: len(bodies(got)) >= 25, "every message")
        assert sorted(bodies(events)) == expected, bodies(events)
        sizes = [len(e["Records"]) for e in events]
        assert max(sizes) == 4, sizes
        wait_empty(url, "the queue to empty")

        # More than ten at once, with a batching window.
        create("big", {"app.py": RECORDER})
        url = make_queue("bulk")
        expected = [f"b{i:02}" for i in range(30)]
        send_all(url, expected)
        lam.create_event_source_mapping(EventSourceArn=queue_arn("bulk"), FunctionName="big",
                                        BatchSize=30, MaximumBatchingWindowInSeconds=1)
        events = wait_for_events("big", lambda got: len(bodies(got)) >= 30, "every message")
        assert [len(e["Records"]) for e in events] == [30], [len(e["Records"]) for e in events]

        # A window gathers messages sent one by one into one batch.
        create("windowed", {"app.py": RECORDER})
        url = make_queue("trickle")
        lam.create_event_source_mapping(EventSourceArn=queue_arn("trickle"), FunctionName="windowed",
                                        BatchSize=50, MaximumBatchingWindowInSeconds=5)
        for i in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=f"t{i}")
        events = wait_for_events("windowed", lambda got: len(bodies(got)) >= 3, "the trickled messages")
        assert [bodies([e]) for e in events] == [["t0", "t1", "t2"]], events
        "#,
    ));
}

#[test]
fn disabled_mappings_do_not_consume_and_deleted_ones_stop() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        create("consumer", {"app.py": RECORDER})
        url = make_queue("paused")
        mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn("paused"), FunctionName="consumer", Enabled=False)
        assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Disabled"
        sqs.send_message(QueueUrl=url, MessageBody="waiting")
        settle()
        assert counts(url) == (1, 0), counts(url)
        assert received("consumer") == []

        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
        events = wait_for_events("consumer", lambda got: got, "the message once enabled")
        assert bodies(events) == ["waiting"], events
        wait_empty(url, "the queue to empty")

        # Disabled again: messages stay. (Like Lambda's, a change takes
        # effect shortly after it is answered.)
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        settle()
        sqs.send_message(QueueUrl=url, MessageBody="held")
        settle()
        assert counts(url) == (1, 0), counts(url)

        # Deleted: nothing consumes any more, even what a re-enabled mapping would.
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)
        wait_empty(url, "the held message")
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
        settle()
        sqs.send_message(QueueUrl=url, MessageBody="after-delete")
        settle()
        assert counts(url) == (1, 0), counts(url)
        assert bodies(received("consumer")) == ["waiting", "held"], received("consumer")
        "#,
    ));
}

#[test]
fn pollers_scale_with_the_backlog_up_to_the_function_s_concurrency_and_outlast_throttles() {
    let server = Server::start();
    server.python(&snippet(
        r#"
        gate = Gate()
        create("gated", {"app.py": GATED}, Timeout=300, Environment={"Variables": {"GATE": gate.url}})
        lam.put_function_concurrency(FunctionName="gated", ReservedConcurrentExecutions=3)
        url = make_queue("backlog", VisibilityTimeout=120)
        expected = [f"job-{i}" for i in range(8)]
        send_all(url, expected)
        lam.create_event_source_mapping(EventSourceArn=queue_arn("backlog"), FunctionName="gated", BatchSize=1)
        # Three batches run at once: as many as the function may run.
        arrived = gate.wait_for(3)
        assert len(set(arrived)) == 3, arrived
        gate.opened.set()
        events = wait_for_events("gated", lambda got: len(set(got)) >= 8, "every job")
        assert sorted(set(events)) == expected, events
        wait_empty(url, "the backlog to be processed")

        # Throttled batches wait and are retried, not lost: a synchronous
        # invocation holds one of two slots while the queue has work.
        gate2 = Gate()
        create("narrow", {"app.py": GATED}, Timeout=300, Environment={"Variables": {"GATE": gate2.url}})
        lam.put_function_concurrency(FunctionName="narrow", ReservedConcurrentExecutions=2)
        holder = threading.Thread(target=lambda: invoke("narrow", {}), daemon=True)
        holder.start()
        gate2.wait_for(1)
        url = make_queue("throttled", VisibilityTimeout=120)
        expected = [f"t-{i}" for i in range(4)]
        send_all(url, expected)
        lam.create_event_source_mapping(EventSourceArn=queue_arn("throttled"), FunctionName="narrow", BatchSize=1)
        gate2.wait_for(2)
        # The slots are full; the next batch is throttled meanwhile.
        expect_error("TooManyRequestsException", 429, lam.invoke, FunctionName="narrow", Payload=b"{}")
        gate2.opened.set()
        holder.join(timeout=120)
        events = wait_for_events("narrow", lambda got: len(set(got) - {"hold"}) >= 4, "every throttled job")
        assert sorted(set(events) - {"hold"}) == expected, events
        wait_empty(url, "the throttled queue to be processed")
        "#,
    ));
}

#[test]
fn mappings_and_messages_survive_a_restart_and_wait_for_a_missing_function() {
    let mut server = Server::start();
    server.python(&snippet(
        r#"
        create("later", {"app.py": RECORDER})
        url = make_queue("durable")
        mapping = lam.create_event_source_mapping(EventSourceArn=queue_arn("durable"), FunctionName="later")
        # Deleting the function keeps the mapping (as Lambda does); with no
        # function to run, the messages stay in the queue.
        lam.delete_function(FunctionName="later")
        assert lam.get_event_source_mapping(UUID=mapping["UUID"])["State"] == "Enabled"
        send_all(url, ["before-1", "before-2"])
        settle()
        assert counts(url) == (2, 0), counts(url)
        "#,
    ));
    server.restart();
    server.python(&snippet(
        r#"
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        assert counts(url) == (2, 0), counts(url)
        [mapping] = lam.list_event_source_mappings()["EventSourceMappings"]
        assert mapping["State"] == "Enabled", mapping
        sqs.send_message(QueueUrl=url, MessageBody="after")
        create("later", {"app.py": RECORDER})
        events = wait_for_events("later", lambda got: len(bodies(got)) >= 3, "every message")
        assert sorted(bodies(events)) == ["after", "before-1", "before-2"], events
        wait_empty(url, "the queue to empty")
        "#,
    ));
}

#[test]
fn asynchronous_failures_go_to_queue_destinations_and_dead_letter_queues() {
    let server = Server::start_with(&["--async-retry-delay", "0"]);
    server.python(&snippet(
        r#"
        failures_url = make_queue("failures")
        successes_url = make_queue("successes")
        dlq_url = make_queue("dlq")
        make_queue("ordered.fifo", FifoQueue="true")
        code = {"app.py": "def handler(event, context):\n    if event.get('fail'):\n        raise ValueError('boom: ' + event['fail'])\n    return {'done': event}\n"}
        created = create("flaky", code, DeadLetterConfig={"TargetArn": queue_arn("dlq")})
        assert created["DeadLetterConfig"] == {"TargetArn": queue_arn("dlq")}, created
        assert lam.get_function_configuration(FunctionName="flaky")["DeadLetterConfig"] == {"TargetArn": queue_arn("dlq")}
        config = lam.put_function_event_invoke_config(
            FunctionName="flaky", MaximumRetryAttempts=1,
            DestinationConfig={"OnFailure": {"Destination": queue_arn("failures")},
                               "OnSuccess": {"Destination": queue_arn("successes")}})
        assert config["DestinationConfig"]["OnFailure"] == {"Destination": queue_arn("failures")}, config

        # A failure: retried once, then the record to the destination and
        # the event to the dead-letter queue.
        failed = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"fail": "x"}))
        assert failed["StatusCode"] == 202, failed
        request_id = failed["ResponseMetadata"]["RequestId"]
        [record_message] = poll(lambda: sqs.receive_message(QueueUrl=failures_url).get("Messages"),
                                "the failure record", deadline_seconds=120)
        record = json.loads(record_message["Body"])
        assert record["version"] == "1.0", record
        assert record["requestContext"] == {
            "requestId": request_id, "functionArn": function_arn("flaky") + ":$LATEST",
            "condition": "RetriesExhausted", "approximateInvokeCount": 2}, record
        assert record["requestPayload"] == {"fail": "x"}, record
        assert record["responseContext"]["functionError"] == "Unhandled", record
        assert record["responsePayload"]["errorMessage"] == "boom: x", record
        [dead] = poll(lambda: sqs.receive_message(QueueUrl=dlq_url, MessageAttributeNames=["All"]).get("Messages"),
                      "the event in the dead-letter queue", deadline_seconds=120)
        assert json.loads(dead["Body"]) == {"fail": "x"}, dead
        assert dead["MessageAttributes"] == {
            "RequestID": {"DataType": "String", "StringValue": request_id},
            "ErrorCode": {"DataType": "Number", "StringValue": "200"},
            "ErrorMessage": {"DataType": "String", "StringValue": "boom: x"},
        }, dead["MessageAttributes"]

        # A success: the record to the success queue, nothing to the others.
        ok = lam.invoke(FunctionName="flaky", InvocationType="Event", Payload=json.dumps({"n": 1}))
        [success] = poll(lambda: sqs.receive_message(QueueUrl=successes_url).get("Messages"),
                         "the success record", deadline_seconds=120)
        record = json.loads(success["Body"])
        assert record["requestContext"]["condition"] == "Success", record
        assert record["requestContext"]["requestId"] == ok["ResponseMetadata"]["RequestId"], record
        assert record["responsePayload"] == {"done": {"n": 1}}, record
        assert drain(failures_url) == [] and drain(dlq_url) == []

        # Only existing standard queues of this server.
        for bad in (queue_arn("missing"), queue_arn("ordered.fifo"), "arn:aws:sqs:eu-west-1:000000000000:dlq",
                    f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"):
            expect_error("InvalidParameterValueException", 400, lam.update_function_configuration,
                         FunctionName="flaky", DeadLetterConfig={"TargetArn": bad})
        for bad in (queue_arn("missing"), queue_arn("ordered.fifo")):
            expect_error("InvalidParameterValueException", 400, lam.put_function_event_invoke_config,
                         FunctionName="flaky", DestinationConfig={"OnFailure": {"Destination": bad}})
        # An empty TargetArn removes the dead-letter queue.
        cleared = lam.update_function_configuration(FunctionName="flaky", DeadLetterConfig={"TargetArn": ""})
        assert "DeadLetterConfig" not in cleared, cleared
        lam.get_waiter("function_updated_v2").wait(FunctionName="flaky")
        assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName="flaky")
        "#,
    ));
}
