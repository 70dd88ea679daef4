//! Nothing accepted is lost: asynchronous invocations and queued messages
//! accepted before rayo is killed outright (SIGKILL, mid-load) are all
//! delivered after it restarts — at least once.

use std::time::{Duration, Instant};

use rayo_tests::Server;

/// Waits until the sender has had at least `n` items accepted.
fn wait_for_accepted(server: &Server, file: &str, n: usize) {
    let path = server.work_dir().join(file);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let lines = std::fs::read_to_string(&path)
            .map(|text| text.lines().count())
            .unwrap_or(0);
        if lines >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the sender had only {lines} accepted"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn async_invocations_accepted_before_a_crash_all_run_after_restart() {
    let mut server = Server::start_with(&["--async-retry-delay", "0.2"]);
    server.python(
        r#"
        create("recorder", {"app.py": '''
import time

def handler(event, context):
    time.sleep(0.02)
    print(f"done {context.aws_request_id} {event['n']}")
    return event["n"]
'''})
        "#,
    );
    // The sender keeps invoking until the server goes away, writing the
    // request id of every 202 it got, one per line, as it gets it.
    let sender = server.spawn_python(
        r#"
        import json
        out = open("accepted-invocations", "a", buffering=1)
        for n in range(100000):
            try:
                r = lam.invoke(FunctionName="recorder", InvocationType="Event", Payload=json.dumps({"n": n}))
            except Exception:
                break
            assert r["StatusCode"] == 202, r
            out.write(r["ResponseMetadata"]["RequestId"] + "\n")
        "#,
    );
    wait_for_accepted(&server, "accepted-invocations", 60);
    server.crash_and_restart();
    sender.wait();
    server.python(
        r#"
        accepted = set(open("accepted-invocations").read().split())
        assert len(accepted) >= 60, len(accepted)

        def all_done():
            done = set()
            for message in log_messages("recorder"):
                if message.startswith("done "):
                    done.add(message.split()[1])
            missing = accepted - done
            return not missing
        poll(all_done, "every accepted invocation to run", deadline_seconds=300)
        "#,
    );
}

#[test]
fn messages_accepted_before_a_crash_are_all_received_after_restart() {
    let mut server = Server::start();
    server.python(
        r#"
        sqs = boto3.client("sqs", config=CONFIG)
        sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "5"})
        "#,
    );
    let sender = server.spawn_python(
        r#"
        sqs = boto3.client("sqs", config=CONFIG)
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        out = open("accepted-messages", "a", buffering=1)
        for n in range(100000):
            try:
                r = sqs.send_message(QueueUrl=url, MessageBody=f"message {n}")
            except Exception:
                break
            out.write(r["MessageId"] + "\n")
        "#,
    );
    wait_for_accepted(&server, "accepted-messages", 100);
    server.crash_and_restart();
    sender.wait();
    server.python(
        r#"
        sqs = boto3.client("sqs", config=CONFIG)
        url = sqs.get_queue_url(QueueName="durable")["QueueUrl"]
        accepted = set(open("accepted-messages").read().split())
        assert len(accepted) >= 100, len(accepted)
        received = set()
        empty_polls = 0
        while empty_polls < 2:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not got:
                empty_polls += 1
                continue
            for message in got:
                received.add(message["MessageId"])
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ])
        missing = accepted - received
        assert not missing, f"{len(missing)} accepted messages were lost"
        "#,
    );
}
