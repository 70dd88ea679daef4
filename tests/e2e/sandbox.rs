//! Hostile functions: each tries to escape, starve or disturb its sandbox
//! (reading the host, other functions' code and rayo's data; exhausting
//! `/tmp`, memory and processes; killing its parent; flooding its log;
//! outliving its invocation; taking another instance's invocations;
//! mounting). Each ends with the outcome Lambda gives, only its own instance
//! suffers, and the server keeps serving other functions.

use rayo_tests::Server;

#[test]
fn a_function_sees_only_its_own_processes_code_and_environment() {
    let server = Server::start();
    let server_pid = server.pid();
    server.python(&format!(
        "        SERVER_PID = {server_pid}\n{}",
        r#"
        data_dir = os.environ["RAYO_TEST_SERVER_DATA_DIR"]
        create("owner", {"owner_code.py": "SECRET = 'owner-secret'\ndef handler(event, context):\n    return SECRET\n"},
               handler="owner_code.handler")
        assert invoke("owner").ok() == "owner-secret"
        # Where the server keeps the owner's code on the host: the test can read it.
        owner_paths = [os.path.join(d, "owner_code.py") for d, _, names in os.walk(data_dir) if "owner_code.py" in names]
        assert owner_paths, f"no unpacked owner_code.py under {data_dir}"
        for path in owner_paths:
            with open(path) as f:
                assert "owner-secret" in f.read()

        create("peeker", {"app.py": '''
import os

def attempt(action):
    try:
        return {"ok": action()}
    except OSError as error:
        return {"errno": error.errno}

def read(path):
    with open(path, "rb") as f:
        return f.read(4096).decode(errors="replace")

def handler(event, context):
    return {
        "pid": os.getpid(),
        "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "environ": {p: attempt(lambda p=p: read(p)) for p in event["environ"]},
        "files": {p: attempt(lambda p=p: read(p)) for p in event["files"]},
        "dirs": {p: attempt(lambda p=p: sorted(os.listdir(p))) for p in event["dirs"]},
        "task": sorted(os.listdir("/var/task")),
    }
'''})
        event = {
            "environ": ["/proc/1/environ", f"/proc/{SERVER_PID}/environ", "/proc/self/environ"],
            "files": owner_paths + [os.path.join(data_dir, "rayo.db"), os.path.join(data_dir, "server.key")],
            "dirs": [data_dir, os.path.join(data_dir, "code"), os.path.dirname(owner_paths[0])],
        }
        seen = invoke("peeker", event).ok()

        # Its own PID namespace: its runtime and at most the sandbox's init.
        assert seen["pid"] in seen["pids"], seen
        assert set(seen["pids"]) <= {1, seen["pid"]}, seen["pids"]

        # Its own environment is readable; nothing of the server's is.
        own = seen["environ"]["/proc/self/environ"]
        assert "AWS_LAMBDA_FUNCTION_NAME=peeker" in own.get("ok", ""), own
        for path in ("/proc/1/environ", f"/proc/{SERVER_PID}/environ"):
            got = seen["environ"][path]
            assert "errno" in got or "RAYO_LOG" not in got["ok"], (path, got)
        assert "errno" in seen["environ"][f"/proc/{SERVER_PID}/environ"], seen["environ"]

        # Nothing of the data directory: not another function's code, not the database.
        for path, got in list(seen["files"].items()) + list(seen["dirs"].items()):
            assert got.get("errno") in (errno.ENOENT, errno.EACCES), (path, got)
        assert seen["task"] == ["app.py"], seen["task"]

        assert invoke("owner").ok() == "owner-secret"
        assert still_serving()
        "#
    ));
}

#[test]
fn instances_run_as_distinct_unprivileged_users_on_read_only_files() {
    let server = Server::start();
    server.python(
        r#"
        source = '''
import errno, os

def write(path):
    try:
        with open(path, "w") as f:
            f.write("x")
        return "written"
    except OSError as error:
        return errno.errorcode[error.errno]

def handler(event, context):
    return {
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "new in /var/task": write("/var/task/new.txt"),
        "over its own code": write("/var/task/app.py"),
        "new in /": write("/new.txt"),
        "new in /usr": write("/usr/new.txt"),
        "new in /tmp": write("/tmp/new.txt"),
    }
'''
        create("user-a", {"app.py": source})
        create("user-b", {"app.py": source})
        a = invoke("user-a").ok()
        b = invoke("user-b").ok()
        for got in (a, b):
            assert 0 not in (got["uid"], got["euid"], got["gid"]), got
            assert 0 not in got["groups"], got
            for target in ("new in /var/task", "over its own code", "new in /", "new in /usr"):
                assert got[target] in ("EROFS", "EACCES"), (target, got)
            assert got["new in /tmp"] == "written", got
        assert a["uid"] != b["uid"], (a, b)

        # The code is intact.
        assert invoke("user-a").ok() == a
        assert still_serving()
        "#,
    );
}

#[test]
fn filling_tmp_stops_at_the_ephemeral_storage_size() {
    let server = Server::start();
    server.python(
        r#"
        # Pages in /tmp count against memory: give it room for a full /tmp.
        create("filler", {"app.py": '''
import os

def handler(event, context):
    if event.get("clean"):
        os.remove("/tmp/fill")
        with open("/tmp/small", "wb") as f:
            f.write(b"x" * 1024 * 1024)
        return os.path.getsize("/tmp/small")
    total = 0
    chunk = b"x" * (8 * 1024 * 1024)
    try:
        with open("/tmp/fill", "ab") as f:
            while total < 1024 * 1024 * 1024:
                f.write(chunk)
                f.flush()
                total += len(chunk)
    except OSError as error:
        if event.get("raise"):
            raise
        return {"written": total, "errno": error.errno}
    return {"written": total}
'''}, MemorySize=1024, Timeout=60)
        config = lam.get_function_configuration(FunctionName="filler")
        assert config["EphemeralStorage"] == {"Size": 512}, config.get("EphemeralStorage")

        got = invoke("filler").ok()
        assert got.get("errno") == errno.ENOSPC, got
        mib = 1024 * 1024
        assert 448 * mib <= got["written"] <= 512 * mib, got
        assert got["written"] < 600 * 1000 * 1000, got

        # Uncaught, ENOSPC is the function's own error.
        run = invoke("filler", {"raise": True})
        assert run.error == "Unhandled", run
        assert run.payload["errorType"] == "OSError", run.payload
        assert run.payload["errorMessage"] == "[Errno 28] No space left on device", run.payload

        # The same instance goes on once the function frees its /tmp.
        run = invoke("filler", {"clean": True})
        assert run.ok() == 1024 * 1024, run
        assert "Init Duration" not in report_fields(run), run.log
        assert still_serving()
        "#,
    );
}

#[test]
fn exceeding_memory_kills_only_the_instance() {
    let server = Server::start();
    server.python(
        r#"
        create("hog", {"app.py": '''
import uuid
INSTANCE = uuid.uuid4().hex

def handler(event, context):
    size = event["mb"] * 1024 * 1024
    block = bytearray(size)
    for i in range(0, size, 4096):
        block[i] = 1
    return {"instance": INSTANCE, "allocated": len(block)}
'''}, MemorySize=128, Timeout=60)
        before = invoke("hog", {"mb": 1}).ok()

        run = invoke("hog", {"mb": 256})
        assert run.status == 200 and run.error == "Unhandled", run
        request_id = run.log_request_id()
        assert run.payload == {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
        }, run.payload
        report = report_fields(run)
        assert 120 <= max_memory_used_mb(run) <= 129, report
        assert report.get("Memory Size") == "128 MB", report
        assert report.get("Status") == "error", report
        assert report.get("Error Type") == "Runtime.OutOfMemory", report

        after = invoke("hog", {"mb": 1})
        assert after.ok()["instance"] != before["instance"], "a new instance serves the next invocation"
        assert "Init Duration" in report_fields(after), after.log
        assert still_serving()
        "#,
    );
}

#[test]
fn max_memory_used_grows_with_what_the_function_allocates() {
    let server = Server::start();
    server.python(
        r#"
        create("allocator", {"app.py": '''
KEPT = []

def handler(event, context):
    size = event["mb"] * 1024 * 1024
    block = bytearray(size)
    for i in range(0, size, 4096):
        block[i] = 1
    KEPT.append(block)
    return len(block)
'''}, MemorySize=256)
        baseline = invoke("allocator", {"mb": 0})
        assert baseline.ok() == 0
        grown = invoke("allocator", {"mb": 60})
        assert grown.ok() == 60 * 1024 * 1024
        assert max_memory_used_mb(baseline) < 60, baseline.log
        assert 60 <= max_memory_used_mb(grown) <= 256, grown.log
        assert max_memory_used_mb(grown) >= max_memory_used_mb(baseline) + 50, (baseline.log, grown.log)
        "#,
    );
}

#[test]
fn a_fork_bomb_is_stopped_by_the_process_limit() {
    let server = Server::start();
    server.python(
        r#"
        # Each forked child blocks on a pipe until released; memory is generous
        # so that the process limit, not memory, is what stops the bomb.
        create("bomb", {"app.py": '''
import os

HELD = []

def handler(event, context):
    if event.get("release"):
        reaped = 0
        for write_end, children in HELD:
            os.close(write_end)
            for pid in children:
                os.waitpid(pid, 0)
                reaped += 1
        HELD.clear()
        return {"reaped": reaped}
    read_end, write_end = os.pipe()
    children = []
    try:
        while len(children) < 5000:
            pid = os.fork()
            if pid == 0:
                try:
                    os.close(write_end)
                    os.read(read_end, 1)
                finally:
                    os._exit(0)
            children.append(pid)
    except OSError as error:
        return {"forked": len(children), "errno": error.errno}
    finally:
        os.close(read_end)
        HELD.append((write_end, children))
    return {"forked": len(children)}
'''}, MemorySize=2048, Timeout=120)
        got = invoke("bomb").ok()
        assert got.get("errno") == errno.EAGAIN, got
        assert 500 < got["forked"] < 1024, got

        # With the bomb's processes still alive, other functions start and run.
        assert still_serving()
        create("bystander", {"app.py": "def handler(event, context):\n    return 'unbothered'\n"})
        assert invoke("bystander").ok() == "unbothered"

        # The bomb's instance itself goes on.
        assert invoke("bomb", {"release": True}).ok() == {"reaped": got["forked"]}
        assert still_serving()
        "#,
    );
}

/// Lambda's quota of 1,024 file descriptors, whatever rayo's own limit is,
/// for instances forked from a zygote and for a `provided` bootstrap alike,
/// and without the sandbox too.
#[test]
fn instances_may_open_lambda_s_1024_files_and_no_more() {
    for flags in [&[][..], &["--insecure-no-sandbox"][..]] {
        let server = Server::start_with(flags);
        instances_may_open_1024_files(&server);
    }
}

fn instances_may_open_1024_files(server: &Server) {
    server.python(
        r##"
        hoard = """
import errno, os, resource

def hoard():
    held = []
    try:
        while len(held) < 5000:
            held.append(os.open("/dev/null", os.O_RDONLY))
        failed = None
    except OSError as error:
        failed = error.errno
    finally:
        for fd in held:
            os.close(fd)
    return {"limit": list(resource.getrlimit(resource.RLIMIT_NOFILE)), "opened": len(held), "errno": failed}
"""
        create("hoarder", {"app.py": hoard + "\ndef handler(event, context):\n    return hoard()\n"})
        runtime = hoard + """
import json, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as next_invocation:
        request_id = next_invocation.headers["Lambda-Runtime-Aws-Request-Id"]
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=json.dumps(hoard()).encode(), method="POST")).read()
"""
        create("custom-hoarder", {"bootstrap": ("#!/bin/sh\nexec python3 \"$LAMBDA_TASK_ROOT/runtime.py\"\n", 0o755),
                                  "runtime.py": runtime}, runtime="provided.al2023", handler="x.y")
        for name in ("hoarder", "custom-hoarder"):
            got = invoke(name).ok()
            assert got["limit"] == [1024, 1024], (name, got)
            # What the runtime holds itself counts too; the rest is the function's.
            assert got["errno"] == errno.EMFILE and 1000 < got["opened"] < 1024, (name, got)
            # The instance goes on serving.
            assert invoke(name).ok()["errno"] == errno.EMFILE
        assert still_serving()
        "##,
    );
}

#[test]
fn signalling_the_parent_or_everyone_ends_at_most_that_instance() {
    let server = Server::start();
    server.python(
        r#"
        create("bystander", {"app.py": '''
import uuid
INSTANCE = uuid.uuid4().hex

def handler(event, context):
    return INSTANCE
'''})
        bystander = invoke("bystander").ok()

        # kill(-1) outside a sandbox, as root, would end every process of the
        # machine: the function refuses unless it looks sandboxed.
        create("killer", {"app.py": '''
import os, signal

def handler(event, context):
    if os.getuid() == 0 or os.getpid() > 10:
        return {"refused": f"not sandboxed? uid {os.getuid()}, pid {os.getpid()}"}
    if event["target"] == "nobody":
        return {"alive": True}
    target = {"parent": os.getppid(), "everyone": -1, "own group": 0}[event["target"]]
    try:
        os.kill(target, signal.SIGKILL)
        return {"sent": True}
    except OSError as error:
        return {"errno": error.errno}
'''})
        for target in ("parent", "everyone", "own group"):
            run = invoke("killer", {"target": target})
            if run.error is None:
                assert "refused" not in run.payload, run.payload
            else:
                # Killing its own process group ends the instance, as on Lambda.
                assert run.error == "Unhandled", run
                assert run.payload["errorType"] == "Runtime.ExitError", run.payload
                assert "Runtime exited with error: signal: killed" in run.payload["errorMessage"], run.payload
            assert invoke("bystander").ok() == bystander, f"after {target}: the bystander's instance was ended"
            assert still_serving()
            assert invoke("killer", {"target": "nobody"}).ok() == {"alive": True}
        "#,
    );
}

#[test]
fn endless_output_times_out_and_the_server_keeps_serving() {
    let server = Server::start();
    server.python(
        r#"
        create("spewer", {"app.py": '''
def handler(event, context):
    i = 0
    while True:
        print("spew", i, "x" * 100)
        i += 1
'''}, Timeout=2)
        run = invoke("spewer")
        assert run.error == "Unhandled", run.payload
        # The tail is the last 4 KB of the flood: no START line.
        request_id = run.request_id
        assert re.fullmatch(UUID, request_id), run.response
        assert run.payload == {
            "errorType": "Sandbox.Timedout",
            "errorMessage": f"RequestId: {request_id} Error: Task timed out after 2.00 seconds",
        }, run.payload
        assert report_fields(run).get("Status") == "timeout", run.log

        assert server_healthy()
        # The Logs API still answers, and has the timeout line.
        def timed_out_line():
            events = cwl.filter_log_events(logGroupName="/aws/lambda/spewer",
                                           filterPattern='"Task timed out after 2.00 seconds"')["events"]
            return [e["message"] for e in events if request_id in e["message"]]
        poll(timed_out_line, "the timeout line through FilterLogEvents", deadline_seconds=LONG_WAIT)
        streams = cwl.describe_log_streams(logGroupName="/aws/lambda/spewer")["logStreams"]
        assert len(streams) == 1 and streams[0]["storedBytes"] > 0, streams
        assert still_serving()
        "#,
    );
}

#[test]
fn work_left_running_after_the_response_does_not_hold_invocations() {
    let server = Server::start();
    server.python(
        r#"
        # A thread and a child process keep printing (holding the log pipe open)
        # after the handler returns; no invocation waits for them.
        create("lingerer", {"app.py": '''
import os, subprocess, sys, threading, time, uuid
INSTANCE = uuid.uuid4().hex

# One write per line: the thread and the child share the log pipe, and
# print() may write a line in pieces that would interleave.
def chatter():
    i = 0
    while True:
        os.write(1, f"background tick {i}\\n".encode())
        i += 1
        time.sleep(0.02)

CHILD = "import os, time\\nwhile True:\\n    os.write(1, b'child tick\\\\n')\\n    time.sleep(0.02)\\n"

def handler(event, context):
    if event.get("start"):
        threading.Thread(target=chatter, daemon=True).start()
        subprocess.Popen([sys.executable, "-c", CHILD])
    return INSTANCE
'''}, Timeout=60)
        first = invoke("lingerer", {"start": True})
        instance = first.ok()
        # The background work went on after the response.
        wait_for_messages("lingerer", lambda m: m == "background tick 100", "background ticks after the response")
        wait_for_messages("lingerer", lambda m: m == "child tick", "the child's ticks after the response", n=10)
        for _ in range(3):
            run = invoke("lingerer")
            assert run.ok() == instance, run
        assert still_serving()
        "#,
    );
}

#[test]
fn an_instance_cannot_use_another_instance_s_runtime_api() {
    let server = Server::start();
    server.python(
        r#"
        create("victim", {"app.py": '''
import os, uuid
INSTANCE = uuid.uuid4().hex

def handler(event, context):
    return {"api": os.environ["AWS_LAMBDA_RUNTIME_API"], "instance": INSTANCE}
'''})
        create("thief", {"app.py": '''
import os, urllib.error, urllib.request

def attempt(method, url, data=None):
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return {"served": response.status, "body": response.read().decode(errors="replace")}
    except urllib.error.HTTPError as error:
        return {"served": error.code, "body": error.read().decode(errors="replace")}
    except Exception as error:
        return {"refused": type(error).__name__, "detail": str(error)}

def handler(event, context):
    base = "http://" + event["api"] + "/2018-06-01/runtime"
    own = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"
    return {
        "next": attempt("GET", base + "/invocation/next"),
        "response": attempt("POST", base + "/invocation/" + event["request_id"] + "/response", b'"stolen"'),
        "init error": attempt("POST", base + "/init/error", b"{}"),
        # Its own Runtime API serves it (a bad request id gets an answer).
        "own": attempt("POST", own + "/invocation/not-a-request/response", b'"x"'),
    }
'''})
        victim = invoke("victim").ok()
        got = invoke("thief", {"api": victim["api"], "request_id": str(uuid.uuid4())}).ok()
        for what in ("next", "response", "init error"):
            assert "refused" in got[what], (what, got[what])
        assert got["own"].get("served") == 400, got["own"]

        # The victim's instance keeps serving, undisturbed.
        for _ in range(2):
            assert invoke("victim").ok() == victim
        assert still_serving()
        "#,
    );
}

#[test]
fn mount_unshare_chroot_and_setuid_are_refused() {
    let server = Server::start();
    server.python(
        r#"
        create("escaper", {"app.py": '''
import ctypes, os

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x00020000, 0x10000000, 0x20000000, 0x40000000

def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    def call(function, *args):
        ctypes.set_errno(0)
        return [function(*args), ctypes.get_errno()]
    os.makedirs("/tmp/mnt", exist_ok=True)
    got = {
        "unshare user": call(libc.unshare, CLONE_NEWUSER),
        "unshare mount": call(libc.unshare, CLONE_NEWNS),
        "unshare user+mount": call(libc.unshare, CLONE_NEWUSER | CLONE_NEWNS),
        "unshare pid": call(libc.unshare, CLONE_NEWPID),
        "unshare net": call(libc.unshare, CLONE_NEWNET),
        "mount tmpfs": call(libc.mount, b"none", b"/tmp/mnt", b"tmpfs", ctypes.c_ulong(0), None),
        "remount /var/task": call(libc.mount, None, b"/var/task", None, ctypes.c_ulong(0x20 | 0x1000), None),
        "chroot": call(libc.chroot, b"/tmp"),
    }
    try:
        os.setuid(0)
        got["setuid"] = [0, 0]
    except OSError as error:
        got["setuid"] = [-1, error.errno]
    return got
'''})
        got = invoke("escaper").ok()
        for what, outcome in got.items():
            assert outcome == [-1, errno.EPERM], (what, outcome, got)
        assert still_serving()
        "#,
    );
}
