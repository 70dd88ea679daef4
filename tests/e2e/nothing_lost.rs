//! Nothing accepted is lost: 10,000 asynchronous invocations and 10,000
//! queued messages, accepted and still in flight when rayo is killed
//! outright (SIGKILL), are all delivered after it restarts — at least once.
//! The test prints how many were delivered twice.

use rayo_tests::Server;
use serde_json::Value;

/// Invocations, and messages, accepted before the kill.
const N: usize = 10_000;
/// The account concurrency the server runs with: a bound on what runs at once.
const CONCURRENCY: &str = "16";

#[test]
fn ten_thousand_invocations_and_messages_survive_a_kill() {
    let mut server = Server::start_with(&[
        "--async-retry-delay",
        "0.2",
        "--concurrency-limit",
        CONCURRENCY,
    ]);
    // One function serves both: an asynchronous event is recorded by its
    // OnSuccess destination (a queue), a batch of queued messages by the
    // function itself, which sends their ids on to a second queue before
    // it returns and the batch is deleted. Until the kill it takes 0.2 s
    // per event, so that most are still waiting or running then.
    server.python(
        r#"
        sqs = boto3.client("sqs", config=CONFIG)
        for name in ("async-done", "messages", "messages-done"):
            sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "10"})
        create("recorder", {"app.py": '''
import os, time
import boto3

sqs = boto3.client("sqs")
DONE = sqs.get_queue_url(QueueName="messages-done")["QueueUrl"]
HOLD = float(os.environ.get("HOLD", "0"))

def handler(event, context):
    records = event.get("Records")
    if records is None:
        time.sleep(HOLD)
        return event["n"]
    time.sleep(HOLD * len(records))
    sqs.send_message_batch(QueueUrl=DONE, Entries=[
        {"Id": str(i), "MessageBody": r["messageId"]} for i, r in enumerate(records)])
    return {}
'''}, Timeout=30, Environment={"Variables": {"HOLD": "0.2"}})
        arn = lambda name: f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        lam.put_function_event_invoke_config(FunctionName="recorder",
            DestinationConfig={"OnSuccess": {"Destination": arn("async-done")}})
        lam.create_event_source_mapping(EventSourceArn=arn("messages"), FunctionName="recorder",
                                        BatchSize=10)
        "#,
    );
    // Accept everything, from eight clients at once, then measure what is
    // still in flight just before the kill.
    let before: Value = serde_json::from_str(
        server
            .python(&format!(
                r#"
        import concurrent.futures, json, threading
        N = {N}
        local = threading.local()
        def clients():
            if not hasattr(local, "lam"):
                local.lam = boto3.client("lambda", config=CONFIG)
                local.sqs = boto3.client("sqs", config=CONFIG)
            return local.lam, local.sqs
        url = boto3.client("sqs", config=CONFIG).get_queue_url(QueueName="messages")["QueueUrl"]

        def invoke(n):
            r = clients()[0].invoke(FunctionName="recorder", InvocationType="Event",
                                    Payload=json.dumps({{"n": n}}))
            assert r["StatusCode"] == 202, r
        def send(first):
            r = clients()[1].send_message_batch(QueueUrl=url, Entries=[
                {{"Id": str(i), "MessageBody": f"message {{first + i}}"}} for i in range(10)])
            assert not r.get("Failed"), r
            return [m["MessageId"] for m in r["Successful"]]

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            sent = pool.map(send, range(0, N, 10))
            list(pool.map(invoke, range(N)))
            message_ids = [i for batch in sent for i in batch]
        with open("sent-message-ids", "w") as f:
            f.write("\n".join(message_ids))

        def depth(name):
            q = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            a = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["All"])["Attributes"]
            return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])
        sqs = boto3.client("sqs", config=CONFIG)
        emit({{"async_recorded": depth("async-done"), "messages_waiting": depth("messages")}})
        "#
            ))
            .lines()
            .last()
            .expect("the snippet emits its measures"),
    )
    .expect("JSON from the snippet");
    server.crash_and_restart();
    let after: Value = serde_json::from_str(
        server
            .python(&format!(
                r#"
        import collections, json, time
        N = {N}
        sqs = boto3.client("sqs", config=CONFIG)
        lam.update_function_configuration(FunctionName="recorder",
                                          Environment={{"Variables": {{"HOLD": "0"}}}})
        sent = set(open("sent-message-ids").read().split())
        assert len(sent) == N, len(sent)
        async_seen = collections.Counter()
        messages_seen = collections.Counter()

        def drain(name, counter, parse):
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            got = got.get("Messages", [])
            for m in got:
                counter[parse(m["Body"])] += 1
            if got:
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}} for i, m in enumerate(got)])
            return len(got)

        deadline = time.monotonic() + 480
        while len(async_seen) < N or not sent <= set(messages_seen):
            got = drain("async-done", async_seen, lambda b: json.loads(b)["requestPayload"]["n"])
            got += drain("messages-done", messages_seen, lambda b: b)
            if not got:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        missing_async = N - len(async_seen)
        missing_messages = len(sent - set(messages_seen))
        assert missing_async == 0 and missing_messages == 0, (
            f"lost: {{missing_async}} asynchronous invocations, {{missing_messages}} messages")
        assert set(async_seen) == set(range(N)), "records of events never sent"
        emit({{
            "async_delivered": len(async_seen),
            "async_duplicates": sum(async_seen.values()) - len(async_seen),
            "messages_delivered": len(messages_seen),
            "message_duplicates": sum(messages_seen.values()) - len(messages_seen),
        }})
        "#
            ))
            .lines()
            .last()
            .expect("the snippet emits its counts"),
    )
    .expect("JSON from the snippet");

    let count = |v: &Value, key: &str| v[key].as_u64().expect(key) as usize;
    let concurrency: usize = CONCURRENCY.parse().unwrap();
    let async_in_flight = N - count(&before, "async_recorded").min(N);
    let messages_in_flight = count(&before, "messages_waiting");
    let async_duplicates = count(&after, "async_duplicates");
    let message_duplicates = count(&after, "message_duplicates");
    println!(
        "asynchronous invocations: {N} accepted, {} delivered after the kill, {async_duplicates} \
         delivered twice; {async_in_flight} were not yet recorded at the kill",
        count(&after, "async_delivered")
    );
    println!(
        "queued messages: {N} accepted, {} delivered after the kill, {message_duplicates} \
         delivered twice; {messages_in_flight} were still in the queue at the kill",
        count(&after, "messages_delivered")
    );
    // Only what had not finished at the kill can run again: what was not
    // yet recorded, and what was running (recorded, not yet finished).
    assert!(
        async_duplicates <= async_in_flight + concurrency,
        "{async_duplicates} duplicates, more than the {async_in_flight} in flight"
    );
    assert!(
        message_duplicates <= messages_in_flight + concurrency * 10,
        "{message_duplicates} duplicates, more than the {messages_in_flight} in flight"
    );
}
