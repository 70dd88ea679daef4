"""Helpers for the end-to-end tests' Python snippets.

The harness writes this file into each server's work directory; every
snippet starts with ``from rayo_test import *``. The environment names the
server (AWS_ENDPOINT_URL) and test credentials, so plain boto3 clients talk
to rayo.
"""

import base64
import hashlib
import io
import json
import os
import re
import sys
import time
import urllib.request
import uuid
import zipfile

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGION = "us-east-1"
ACCOUNT = "000000000000"
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
# A request id as Lambda writes it.
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# Retries would hide errors; the read timeout is only a safety net.
CONFIG = Config(retries={"total_max_attempts": 1}, connect_timeout=10, read_timeout=300)

lam = boto3.client("lambda", config=CONFIG)
cwl = boto3.client("logs", config=CONFIG)


def unvalidated_lambda_client():
    """A Lambda client that sends values botocore would refuse client-side
    (MemorySize below the model's minimum), so the server's checks are tested."""
    return boto3.client(
        "lambda",
        config=CONFIG.merge(Config(parameter_validation=False)),
    )


def function_arn(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def make_zip(files):
    """A deflated zip from {name: content}; content is str, bytes, or
    (content, unix_mode)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            mode = 0o644
            if isinstance(content, tuple):
                content, mode = content
            if isinstance(content, str):
                content = content.encode()
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def directory_files(root):
    """{relative name: (content, mode)} for a directory tree, as make_zip
    takes them (for vendoring installed packages into a function)."""
    files = {}
    for directory, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            if "__pycache__" in path:
                continue
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = (f.read(), os.stat(path).st_mode & 0o777)
    return files


def create(name, files, handler="app.handler", runtime="python3.11", **kwargs):
    """CreateFunction from {name: content} (or zip bytes); returns the answer."""
    zip_bytes = files if isinstance(files, bytes) else make_zip(files)
    return lam.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=ROLE,
        Handler=handler,
        Code={"ZipFile": zip_bytes},
        **kwargs,
    )


class Invocation:
    """A synchronous invocation's outcome."""

    def __init__(self, response):
        self.response = response
        self.status = response["StatusCode"]
        self.error = response.get("FunctionError")
        self.version = response.get("ExecutedVersion")
        self.request_id = response["ResponseMetadata"].get("RequestId")
        self.raw = response["Payload"].read()
        self.payload = json.loads(self.raw) if self.raw else None
        log = response.get("LogResult")
        self.log = base64.b64decode(log).decode() if log is not None else None

    def __repr__(self):
        return (
            f"Invocation(status={self.status}, error={self.error!r}, "
            f"payload={self.raw[:2000]!r}, log={self.log!r})"
        )

    def ok(self):
        """The payload of a successful invocation."""
        assert self.status == 200 and self.error is None, self
        return self.payload

    def log_request_id(self):
        """The request id of the START line in the log tail."""
        match = re.search(r"^START RequestId: (\S+) Version: ", self.log or "", re.M)
        assert match, f"no START line in the tail: {self.log!r}"
        return match.group(1)


_NO_EVENT = object()


def invoke(name, event=_NO_EVENT, *, raw=None, tail=True, **kwargs):
    """Invokes synchronously with the event as JSON (`{}` when not given),
    or with raw bytes."""
    if raw is not None:
        payload = raw
    else:
        payload = json.dumps({} if event is _NO_EVENT else event)
    response = lam.invoke(
        FunctionName=name,
        Payload=payload,
        LogType="Tail" if tail else "None",
        **kwargs,
    )
    return Invocation(response)


def client_error(call, *args, **kwargs):
    """Calls and returns the ClientError raised; fails if the call succeeds."""
    try:
        result = call(*args, **kwargs)
    except ClientError as error:
        return error
    raise AssertionError(f"expected an error from {call.__name__}, got {result!r}")


def expect_error(code, status, call, *args, **kwargs):
    """Calls, checks the exception name and HTTP status, returns the message."""
    error = client_error(call, *args, **kwargs)
    got = error.response["Error"].get("Code")
    got_status = error.response["ResponseMetadata"]["HTTPStatusCode"]
    message = error.response["Error"].get("Message", "")
    assert (got, got_status) == (code, status), (
        f"expected {code} ({status}), got {got} ({got_status}): {message}"
    )
    return message


def poll(check, what, deadline_seconds=30):
    """Calls check() until it returns something truthy. The deadline is a
    safety net, not an expectation about speed."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def log_events(name, **kwargs):
    """Every event of the function's log group, through FilterLogEvents."""
    events = []
    paginator = cwl.get_paginator("filter_log_events")
    try:
        for page in paginator.paginate(logGroupName=f"/aws/lambda/{name}", **kwargs):
            events.extend(page["events"])
    except cwl.exceptions.ResourceNotFoundException:
        return []
    return events


def log_messages(name, **kwargs):
    return [event["message"] for event in log_events(name, **kwargs)]


def wait_for_log(name, predicate, what):
    """The function's log messages once one of them satisfies predicate."""

    def check():
        messages = log_messages(name)
        return messages if any(predicate(m) for m in messages) else None

    return poll(check, what)


def server_healthy():
    """The server answers its health check and the Lambda API."""
    with urllib.request.urlopen(ENDPOINT + "/_rayo/health", timeout=30) as response:
        assert response.status == 200 and response.read() == b"ok\n"
    lam.list_functions()
    return True


def files_under(path):
    """Every file and link below path, relative, as a sorted list."""
    found = []
    for directory, dirs, names in os.walk(path):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            found.append(os.path.relpath(os.path.join(directory, name), path))
    return sorted(found)


def emit(value):
    """Prints a value for the Rust side (the last line is parsed as JSON)."""
    print(json.dumps(value))


# --- Gates, background calls, REPORT fields and second servers -------------
# (for the sandbox, concurrency and asynchronous-invocation tests)

import concurrent.futures
import errno
import http.server
import signal
import subprocess
import threading
import urllib.parse

# The safety net of the waits below, generous for a loaded machine.
LONG_WAIT = 120

# Function-side half of a Gate, to paste at the top of a function's source:
# pass_gate(url, ident) reports the arrival and returns once the gate opens.
GATE_CLIENT = '''
def pass_gate(url, ident):
    import urllib.request
    with urllib.request.urlopen(url + "/arrive?id=" + ident, timeout=600) as response:
        return response.read().decode()
'''


class Gate:
    """An HTTP server on 127.0.0.1 where functions (see GATE_CLIENT) say they
    are running and then wait until the test opens the gate. It makes "these
    invocations are in flight at the same time" a condition the test waits
    for, instead of a sleep that a slow machine could outlast."""

    def __init__(self):
        self.arrivals = []
        self._opened = threading.Event()
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
                gate.arrivals.append(query.get("id", [""])[0])
                body = b"open" if gate._opened.wait(600) else b"never opened"
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the instance is gone

            def log_message(self, *args):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def wait_for(self, n, what=None):
        """The arrivals once there are at least n."""
        return poll(
            lambda: list(self.arrivals) if len(self.arrivals) >= n else None,
            what or f"{n} invocation(s) at the gate",
            deadline_seconds=LONG_WAIT,
        )

    def open(self):
        self._opened.set()


_BACKGROUND = concurrent.futures.ThreadPoolExecutor(max_workers=16)


def background(call, *args, **kwargs):
    """Starts call(*args, **kwargs) on a thread; .result() waits for it (and
    raises what it raised)."""
    return _BACKGROUND.submit(call, *args, **kwargs)


def report_fields(run):
    """The REPORT line of an invocation's log tail as {field: value}, e.g.
    {"Max Memory Used": "12 MB", "Init Duration": "80.12 ms", ...}."""
    lines = [l for l in (run.log or "").splitlines() if l.startswith("REPORT RequestId: ")]
    assert len(lines) == 1, f"expected one REPORT line in the tail: {run.log!r}"
    fields = {}
    for part in lines[0].split("\t"):
        if ": " in part:
            key, value = part.split(": ", 1)
            fields[key] = value
    return fields


def max_memory_used_mb(run):
    """REPORT's Max Memory Used, in MB."""
    value = report_fields(run)["Max Memory Used"]
    assert value.endswith(" MB"), value
    return int(value[: -len(" MB")])


def wait_for_messages(name, predicate, what, n=1):
    """The function's log messages that satisfy predicate, once there are at
    least n (through the Logs API)."""

    def check():
        found = [m for m in log_messages(name) if predicate(m)]
        return found if len(found) >= n else None

    return poll(check, what, deadline_seconds=LONG_WAIT)


def still_serving():
    """The server is healthy and a normal function, created on first use,
    runs and answers."""
    assert server_healthy()
    try:
        lam.get_function(FunctionName="still-serving")
    except lam.exceptions.ResourceNotFoundException:
        create("still-serving", {"app.py": "def handler(event, context):\n    return {'echo': event}\n"})
    marker = uuid.uuid4().hex
    run = invoke("still-serving", {"marker": marker})
    assert run.ok() == {"echo": {"marker": marker}}, run
    return True


def kill_and_wait(pid):
    """SIGKILLs a process that is not this one's child and waits until it is
    dead (a zombie or gone)."""
    os.kill(pid, signal.SIGKILL)

    def dead():
        try:
            with open(f"/proc/{pid}/stat") as f:
                return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
        except FileNotFoundError:
            return True

    poll(dead, f"process {pid} to die", deadline_seconds=LONG_WAIT)


class ServerProcess:
    """A `rayo server` a snippet starts itself on 127.0.0.1:0, for instance on
    the data directory of a harness server it killed. Use as a context
    manager: it is killed on the way out; its stderr is printed if the block
    failed."""

    def __init__(self, binary, data_dir, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RAYO_"))}
        env["RAYO_LOG"] = "info"
        root = os.environ["RAYO_TEST_ROOT"]
        self.stderr_path = os.path.join(root, f"server-{uuid.uuid4().hex[:8]}.stderr")
        with open(self.stderr_path, "wb") as stderr:
            self.process = subprocess.Popen(
                [binary, "server", "--listen", "127.0.0.1:0", "--data-dir", data_dir, *args],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                env=env, cwd=root,
            )
        lines = []

        def read_stdout():
            for line in self.process.stdout:
                lines.append(line.decode(errors="replace"))

        threading.Thread(target=read_stdout, daemon=True).start()

        def started():
            if self.process.poll() is not None:
                raise AssertionError(f"rayo server exited ({self.process.returncode}):\n{self.stderr_text()}")
            return lines[0] if lines else None

        first = poll(started, "the rayo server to print its address", deadline_seconds=LONG_WAIT)
        assert first.startswith("rayo listening on "), first
        self.url = first[len("rayo listening on "):].strip()

    def stderr_text(self):
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=LONG_WAIT)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, tb):
        self.stop()
        if kind is not None:
            print(f"--- stderr of the rayo server at {self.url} ---\n{self.stderr_text()}", file=sys.stderr)
        return False


def use_endpoint(url):
    """Points this module's clients (and so every helper) at another server;
    returns the new (lam, cwl), since the snippet's own names still hold the
    old ones."""
    global ENDPOINT, lam, cwl
    ENDPOINT = url
    lam = boto3.client("lambda", endpoint_url=url, config=CONFIG)
    cwl = boto3.client("logs", endpoint_url=url, config=CONFIG)
    return lam, cwl
