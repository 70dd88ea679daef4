"""rayo's built-in Python runtime.

The executor runs ``python3.X -u bootstrap.py`` in the function's code
directory. This script loads the handler named by ``_HANDLER`` and serves
invocations from the Lambda Runtime API at ``AWS_LAMBDA_RUNTIME_API``,
behaving as AWS Lambda's managed Python runtime does: the same ``sys.path``,
the same context object, the same logging set-up and the same error shapes
and wording.

Log output goes to stdout, which rayo captures line by line. A record that
spans several lines (a log message with newlines, a traceback, an error
report) is written with its inner newlines turned into carriage returns and
one newline at the end, so that it stays one log event; rayo's capture turns
the carriage returns back into newlines. ``print()`` output is left alone.

Runs on Python 3.8 and later. Up front it imports only the standard modules
that every invocation uses; the rest (traceback, re, decimal handling) are
loaded on the paths that need them.
"""

# The runtime's own modules are imported before the function's directory goes
# onto sys.path, so that a module in the function's package cannot stand in
# for one of them.
import importlib
import json
import logging
import os
import socket
import sys
import time

_API_VERSION = "/2018-06-01"
_NEXT_PATH = _API_VERSION + "/runtime/invocation/next"
_ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
_XRAY_CAUSE_HEADER = "Lambda-Runtime-Function-XRay-Error-Cause"
# Lambda sends the X-Ray error cause header when it is under 1 MiB; rayo keeps
# it well under the header limits of common HTTP servers.
_XRAY_CAUSE_MAX_BYTES = 64 * 1024


def _runtime_minor():
    """The Python minor version the function asked for (AWS_EXECUTION_ENV is
    ``AWS_Lambda_python3.N``), else the running one."""
    name = os.environ.get("AWS_EXECUTION_ENV", "")
    prefix = "AWS_Lambda_python3."
    if name.startswith(prefix) and name[len(prefix):].isdigit():
        return int(name[len(prefix):])
    return sys.version_info[1]


# Lambda's Python runtimes from python3.12 on write JSON without escaping
# non-ASCII characters; older ones escape them. Set by _configure().
_ENSURE_ASCII = True

# The warning Lambda's Python runtime logs before reporting an init error.
_UNHANDLED_INIT_WARNING = (
    "LAMBDA_WARNING: Unhandled exception. "
    "The most likely cause is an issue in the function code. "
    "However, in rare cases, a Lambda runtime update can cause unexpected function behavior. "
    "For functions using managed runtimes, runtime updates can be triggered by a function change, "
    "or can be applied automatically. "
    "To determine if the runtime has been updated, check the runtime version in the INIT_START log entry. "
    "If this error correlates with a change in the runtime version, you may be able to mitigate this "
    "error by temporarily rolling back to the previous runtime version. "
    "For more information, see https://docs.aws.amazon.com/lambda/latest/dg/runtimes-update.html"
)


# ---------------------------------------------------------------------------
# sys.path and the environment
# ---------------------------------------------------------------------------


def _prepare_paths():
    """Lays out sys.path as Lambda's Python runtime does, plus rayo's extras.

    Order: the function's directory, the layer directories under /opt (unless
    the function sets PYTHONPATH, as on Lambda), the interpreter's own path,
    and last the directories rayo names in ``_RAYO_RUNTIME_PATH`` (where boto3
    lives), so that packages shipped in the function's zip win.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    own = {here, os.path.realpath(here)}
    kept = []
    for entry in sys.path:
        if entry and (entry in own or os.path.abspath(entry) in own):
            continue
        kept.append(entry)

    task_root = os.environ.get("LAMBDA_TASK_ROOT") or os.getcwd()
    pythonpath_set = "PYTHONPATH" in os.environ
    # Layers are at /opt in a sandbox; without one rayo names their directory.
    opt_root = os.environ.pop("_RAYO_OPT_ROOT", "/opt")
    front = [task_root]
    opt_dirs = []
    if not pythonpath_set:
        opt_dirs = [
            opt_root + "/python/lib/python%d.%d/site-packages" % sys.version_info[:2],
            opt_root + "/python",
        ]
        front.extend(opt_dirs)
    sys.path[:] = front + kept

    # Lambda makes these site directories so that their .pth files are read.
    site = sys.modules.get("site")
    if site is not None:
        for directory in [task_root] + opt_dirs:
            if os.path.isdir(directory):
                try:
                    site.addsitedir(directory)
                except Exception:
                    pass

    extra = os.environ.pop("_RAYO_RUNTIME_PATH", "")
    for entry in extra.split(os.pathsep):
        if entry and entry not in sys.path:
            sys.path.append(entry)

    # As on Lambda, subprocesses see the runtime directory as PYTHONPATH.
    if not pythonpath_set and os.environ.get("LAMBDA_RUNTIME_DIR"):
        os.environ["PYTHONPATH"] = os.environ["LAMBDA_RUNTIME_DIR"]


def _prepare_streams():
    """Makes stdout and stderr write UTF-8, as under Lambda's en_US.UTF-8 locale."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if encoding != "utf8" and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(encoding="utf-8")
            except Exception:
                pass


# ---------------------------------------------------------------------------
# Log output
# ---------------------------------------------------------------------------


def _write_event(text):
    """Writes ``text`` to stdout as one log event (one line)."""
    if text.endswith("\n"):
        text = text[:-1]
    if "\n" in text:
        text = text.replace("\n", "\r")
    sys.stdout.write(text + "\n")


def _flush_streams():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


_request_id = None
_tenant_id = None


class _RequestIdFilter(logging.Filter):
    """Stamps each record with the current invocation's request and tenant ids."""

    def filter(self, record):
        record.aws_request_id = _request_id or ""
        record.tenant_id = _tenant_id
        return True


class _LambdaLogHandler(logging.Handler):
    """The root logger's handler: each record becomes one log event on stdout.

    Like Lambda's, it lets an error raised while formatting a record reach
    the caller.
    """

    def emit(self, record):
        _write_event(self.format(record))


# LogRecord attributes that the JSON log format never copies into its output.
_JSON_SKIPPED_FIELDS = frozenset(
    (
        "name", "msg", "args", "levelname", "levelno", "pathname", "filename",
        "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
        "created", "msecs", "relativeCreated", "thread", "threadName",
        "processName", "process", "aws_request_id", "tenant_id", "_frame_type",
    )
)

_json_log_encoder = None


def _encode_log_json(value):
    global _json_log_encoder
    if _json_log_encoder is None:
        _json_log_encoder = json.JSONEncoder(ensure_ascii=False, default=str)
    return _json_log_encoder.encode(value)


class _JsonLogFormatter(logging.Formatter):
    """Lambda's JSON log format (``AWS_LAMBDA_LOG_FORMAT=JSON``)."""

    def __init__(self):
        super().__init__(datefmt="%Y-%m-%dT%H:%M:%SZ")

    def format(self, record):
        level = min(50, max(0, record.levelno)) // 10 * 10
        record.levelno = level
        record.levelname = logging.getLevelName(level)
        exc = record.exc_info
        has_exc = bool(exc) and exc[0] is not None
        if isinstance(record.msg, dict) and not record.args:
            message = record.msg
        else:
            message = record.getMessage()
        out = {
            "timestamp": self.formatTime(record, self.datefmt),
            "level": record.levelname,
            "message": message,
            "logger": record.name,
            "stackTrace": None,
            "errorType": None,
            "errorMessage": None,
            "requestId": getattr(record, "aws_request_id", None),
            "location": None,
        }
        if has_exc:
            import traceback

            out["stackTrace"] = traceback.format_tb(exc[2])
            out["errorType"] = exc[0].__name__
            out["errorMessage"] = str(exc[1])
            out["location"] = "%s:%s:%s" % (record.pathname, record.funcName, record.lineno)
        tenant = getattr(record, "tenant_id", None)
        if tenant is not None:
            out["tenantId"] = tenant
        for key, value in record.__dict__.items():
            if key not in _JSON_SKIPPED_FIELDS and key not in out:
                out[key] = value
        return _encode_log_json({k: v for k, v in out.items() if v is not None}) + "\n"


def _log_format_is_json():
    value = os.environ.get("AWS_LAMBDA_LOG_FORMAT")
    return bool(value) and value.upper() == "JSON"


def _setup_logging(json_format):
    """Installs Lambda's handler on the root logger.

    The root logger keeps Python's default level (WARNING) unless
    ``AWS_LAMBDA_LOG_LEVEL`` names a level; ``TRACE`` means DEBUG.
    """
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLogHandler()
    if json_format:
        handler.setFormatter(_JsonLogFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(
                "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
                "%Y-%m-%dT%H:%M:%S",
            )
        )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    level = os.environ.get("AWS_LAMBDA_LOG_LEVEL")
    level = "" if level is None else ("DEBUG" if level == "TRACE" else level).upper()
    if level and isinstance(logging.getLevelName(level), int):
        root.setLevel(level)
    root.addHandler(handler)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class _Fault(Exception):
    """An error the runtime reports with a type of its own (``Runtime.*``)."""

    MARSHAL = "Runtime.MarshalError"
    UNMARSHAL = "Runtime.UnmarshalError"
    SYNTAX = "Runtime.UserCodeSyntaxError"
    HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
    IMPORT_MODULE = "Runtime.ImportModuleError"
    BUILT_IN_CONFLICT = "Runtime.BuiltInModuleConflict"
    MALFORMED_HANDLER = "Runtime.MalformedHandlerName"
    CONTEXT_UNMARSHAL = "Runtime.LambdaContextUnmarshalError"

    def __init__(self, error_type, message, trace=None):
        Exception.__init__(self, message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


def _error_body(message, error_type, trace, request_id=None):
    return {
        "errorMessage": message or "",
        "errorType": error_type or "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": trace or [],
    }


def _safe_str(value):
    try:
        return str(value)
    except Exception:
        return "<exception str() failed>"


def _user_frames(tb):
    """The traceback's frames as (file, line, function, source) tuples, less
    the runtime's own frames at the top."""
    import traceback

    frames = [(f.filename, f.lineno, f.name, f.line) for f in traceback.extract_tb(tb)]
    for i, frame in enumerate(frames):
        if "/bootstrap.py" not in frame[0]:
            return frames[i:]
    return frames


def _format_frames(frames):
    import traceback

    return traceback.format_list(frames)


def _xray_cause(error_type, message, frames):
    files = []
    stack = []
    for path, line, label, _source in frames:
        stack.append({"label": label, "path": path, "line": line})
        if path not in files:
            files.append(path)
    try:
        cwd = os.getcwd()
    except OSError:
        cwd = ""
    return {
        "working_directory": cwd,
        "exceptions": [{"message": message, "type": error_type, "stack": stack}],
        "paths": files,
    }


def _log_error(error):
    """Logs an error report as Lambda does: one event, frames indented with
    no-break spaces."""
    if _JSON_LOGS:
        record = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": "ERROR",
        }
        record.update(error)
        _write_event(_to_json(record))
        return
    head = "[ERROR]"
    error_type = error.get("errorType")
    message = error.get("errorMessage")
    if error_type:
        head += " " + error_type
    if message:
        if error_type:
            head += ":"
        head += " " + message
    lines = [head]
    trace = error.get("stackTrace")
    if trace is not None:
        lines.append("Traceback (most recent call last):")
        for element in trace:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append("\u00a0" * (len(line) - len(stripped)) + stripped)
    _write_event("\n".join(lines))


# ---------------------------------------------------------------------------
# JSON in and out
# ---------------------------------------------------------------------------

_decimal_texts = []
_decimal_token = None


def _json_default(obj):
    decimal = sys.modules.get("decimal")
    if decimal is not None and isinstance(obj, decimal.Decimal):
        # A Decimal is written as its exact text, as Lambda's encoder does: it
        # goes out as a placeholder string that _to_json swaps back.
        if obj.is_nan():
            return float("nan")
        global _decimal_token
        if _decimal_token is None:
            _decimal_token = "rayo-decimal-%s-" % os.urandom(8).hex()
        _decimal_texts.append(str(obj))
        return "%s%d" % (_decimal_token, len(_decimal_texts) - 1)
    as_dict = getattr(obj, "_asdict", None)
    if callable(as_dict):
        value = as_dict()
        if not isinstance(value, dict):
            raise TypeError("_asdict() must return a dict, not %s" % type(value).__name__)
        return value
    raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)


_encoder = None  # Set by _configure().


def _to_json(value):
    del _decimal_texts[:]
    try:
        text = _encoder.encode(value)
        if _decimal_texts:
            import re

            texts = list(_decimal_texts)
            text = re.sub(
                '"%s([0-9]+)"' % re.escape(_decimal_token),
                lambda m: texts[int(m.group(1))],
                text,
            )
        return text
    finally:
        del _decimal_texts[:]


def _to_body(text):
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates: escape them rather than fail.
        return json.dumps(json.loads(text), ensure_ascii=True, allow_nan=True).encode("ascii")


def _marshal_response(value):
    """The response body and its content type."""
    if isinstance(value, bytes):
        return value, "application/unknown"
    try:
        return _to_body(_to_json(value)), "application/json"
    except Exception as e:
        raise _Fault(_Fault.MARSHAL, "Unable to marshal response: %s" % _safe_str(e))


class _NonFiniteConstant(Exception):
    pass


def _reject_constant(name):
    raise _NonFiniteConstant(name)


_decoder = json.JSONDecoder(parse_constant=_reject_constant)


_scan_once = _decoder.scan_once
_JSON_WHITESPACE = " \t\n\r"


def _parse_json(body):
    """Parses JSON as Lambda's decoder does: NaN and Infinity are errors."""
    # The common case first: a UTF-8 object or array, parsed by the C
    # scanner alone. Anything else, or any error, takes the full path below,
    # which words the errors.
    if isinstance(body, bytes) and body[:1] in (b"{", b"[") and body[1:2] != b"\x00":
        try:
            text = body.decode("utf-8", "surrogatepass")
            value, end = _scan_once(text, 0)
        except Exception:
            pass
        else:
            if end == len(text) or not text[end:].strip(_JSON_WHITESPACE):
                return value
    if isinstance(body, (bytes, bytearray)):
        body = body.decode(json.detect_encoding(body), "surrogatepass")
    try:
        return _decoder.decode(body)
    except _NonFiniteConstant:
        import re

        text = body
        match = None
        for m in re.finditer(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)', text):
            if m.group(1):
                match = m
                break
        raise json.JSONDecodeError("Expecting value", text, match.start() if match else 0)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            # Lambda's decoder names the span of the extra data.
            doc = e.doc
            end = len(doc)
            end_line = doc.count("\n", 0, end) + 1
            end_col = end - doc.rfind("\n", 0, end)
            raise ValueError(
                "Extra data: line %d column %d - line %d column %d (char %d - %d)"
                % (e.lineno, e.colno, end_line, end_col, e.pos, end)
            )
        raise


def _unmarshal_event(body, content_type):
    if content_type and not content_type.lower().startswith("application/json"):
        return body
    try:
        return _parse_json(body)
    except Exception as e:
        raise _Fault(_Fault.UNMARSHAL, "Unable to unmarshal input: %s" % _safe_str(e))


# ---------------------------------------------------------------------------
# The context object
# ---------------------------------------------------------------------------

_W3C_FIELDS = ("traceparent", "tracestate", "baggage")


def _fill(obj, source):
    for field in obj.__slots__:
        setattr(obj, field, source.get(field, None))
    return obj


def _slots_repr(obj):
    inner = ",".join("%s=%s" % (f, getattr(obj, f)) for f in obj.__slots__)
    return "%s([%s])" % (obj.__class__.__name__, inner)


class CognitoIdentity(object):
    __slots__ = ["cognito_identity_id", "cognito_identity_pool_id"]

    __repr__ = _slots_repr


class Client(object):
    __slots__ = [
        "installation_id",
        "app_title",
        "app_version_name",
        "app_version_code",
        "app_package_name",
    ]

    __repr__ = _slots_repr


class ClientContext(object):
    __slots__ = ["custom", "env", "client"]

    __repr__ = _slots_repr


def _parse_header_json(value, what):
    try:
        return json.loads(value)
    except Exception as e:
        raise _Fault(_Fault.CONTEXT_UNMARSHAL, "Unable to parse %s JSON: %s" % (what, _safe_str(e)))


class LambdaContext(object):
    """The handler's second argument, with the attributes and methods Lambda
    documents."""

    def __init__(
        self,
        aws_request_id,
        client_context,
        cognito_identity,
        deadline_ms,
        invoked_function_arn=None,
        tenant_id=None,
    ):
        self.aws_request_id = aws_request_id
        # Read from the environment once per instance by _configure(); the
        # memory size is a string, as in Lambda's Python runtime.
        (
            self.log_group_name,
            self.log_stream_name,
            self.function_name,
            self.memory_limit_in_mb,
            self.function_version,
        ) = _FUNCTION_IDENTITY
        self.invoked_function_arn = invoked_function_arn
        self.tenant_id = tenant_id

        w3c = {}
        if isinstance(client_context, dict) and "w3c" in client_context:
            raw = client_context.pop("w3c")
            if isinstance(raw, dict):
                for key in _W3C_FIELDS:
                    value = raw.get(key)
                    if isinstance(value, str):
                        w3c[key] = value
        self._w3c_fields = w3c

        if client_context is None:
            self.client_context = None
        else:
            context = _fill(ClientContext(), client_context)
            if context.client is not None:
                context.client = _fill(Client(), context.client)
            self.client_context = context

        identity = CognitoIdentity()
        identity.cognito_identity_id = None
        identity.cognito_identity_pool_id = None
        if cognito_identity is not None:
            identity.cognito_identity_id = cognito_identity.get("cognitoIdentityId")
            identity.cognito_identity_pool_id = cognito_identity.get("cognitoIdentityPoolId")
        self.identity = identity

        self._epoch_deadline_time_in_ms = deadline_ms

    def get_remaining_time_in_millis(self):
        remaining = self._epoch_deadline_time_in_ms - int(time.time() * 1000)
        return remaining if remaining > 0 else 0

    def w3c(self):
        """The W3C trace context sent with the invocation, if any."""
        return dict(self._w3c_fields)

    def log(self, msg):
        """Writes ``msg`` to the function's log as one event."""
        text = str(msg)
        if text:
            _write_event(text)

    def __repr__(self):
        return (
            "%s([aws_request_id=%s,log_group_name=%s,log_stream_name=%s,"
            "function_name=%s,memory_limit_in_mb=%s,function_version=%s,"
            "invoked_function_arn=%s,client_context=%s,identity=%s,tenant_id=%s])"
            % (
                self.__class__.__name__,
                self.aws_request_id,
                self.log_group_name,
                self.log_stream_name,
                self.function_name,
                self.memory_limit_in_mb,
                self.function_version,
                self.invoked_function_arn,
                self.client_context,
                self.identity,
                self.tenant_id,
            )
        )


# ---------------------------------------------------------------------------
# The Runtime API
# ---------------------------------------------------------------------------


class _ProtocolError(Exception):
    """The Runtime API answered something that is not HTTP/1.1 as expected."""


class _RuntimeApi(object):
    """One persistent HTTP/1.1 connection to the Runtime API, reopened when it
    drops.

    The Runtime API is a small, known peer, so requests are written and
    responses read directly on the socket: a request is one ``sendall`` and a
    response usually one ``recv``, which keeps the runtime's own time per
    invocation small (``http.client`` parses every header block with the
    ``email`` package).
    """

    def __init__(self, address):
        host, _, port = address.rpartition(":")
        self._peer = (host.strip("[]") or "127.0.0.1", int(port))
        self._sock = None
        self._buffer = b""
        agent = "aws-lambda-python/%d.%d.%d-rayo" % sys.version_info[:3]
        self._preamble = "Host: %s\r\nUser-Agent: %s\r\n" % (address, agent)

    def _connect(self):
        sock = socket.create_connection(self._peer)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        self._buffer = b""
        return sock

    def _close(self):
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
            self._sock = None
        self._buffer = b""

    def _request(self, method, path, body=None, headers=None):
        """One request's bytes."""
        lines = ["%s %s HTTP/1.1\r\n%s" % (method, path, self._preamble)]
        extra = []
        if headers:
            for name, value in headers.items():
                if isinstance(value, bytes):
                    extra.append(b"%s: %s\r\n" % (name.encode("latin-1"), value))
                else:
                    lines.append("%s: %s\r\n" % (name, value))
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode("utf-8")
        if method != "GET" or body:
            lines.append("Content-Length: %d\r\n" % len(body))
        return "".join(lines).encode("latin-1") + b"".join(extra) + b"\r\n" + body

    def exchange(self, requests):
        """Sends requests (bytes from ``_request``) back to back on the
        connection, HTTP/1.1 pipelining, and returns their responses in
        order, each (status, headers, body) with the headers as a dict of
        lower-case names. A connection lost on the way is opened again
        once, for the requests not yet answered."""
        responses = []
        for attempt in (0, 1):
            try:
                if self._sock is None:
                    self._sock = self._connect()
                self._sock.sendall(b"".join(requests[len(responses) :]))
                while len(responses) < len(requests):
                    if self._sock is None:
                        raise _ProtocolError("the Runtime API closed the connection")
                    responses.append(self._read_response())
                return responses
            except (OSError, _ProtocolError):
                self._close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def call(self, method, path, body=None, headers=None):
        """Sends one request; returns (status, headers, body)."""
        return self.exchange([self._request(method, path, body, headers)])[0]

    def _fill(self):
        chunk = self._sock.recv(262144)
        if not chunk:
            raise _ProtocolError("the Runtime API closed the connection")
        self._buffer += chunk

    def _read_response(self):
        while True:
            end = self._buffer.find(b"\r\n\r\n")
            if end >= 0:
                break
            if len(self._buffer) > 1048576:
                raise _ProtocolError("response headers too large")
            self._fill()
        head = self._buffer[:end].decode("latin-1").split("\r\n")
        self._buffer = self._buffer[end + 4 :]
        parts = head[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise _ProtocolError("malformed status line %r" % head[0])
        status = int(parts[1])
        fields = {}
        for line in head[1:]:
            name, sep, value = line.partition(":")
            if sep:
                fields[name.strip().lower()] = value.strip()
        if fields.get("transfer-encoding", "").lower() == "chunked":
            data = self._read_chunked()
        else:
            length = int(fields.get("content-length") or 0)
            while len(self._buffer) < length:
                self._fill()
            data = self._buffer[:length]
            self._buffer = self._buffer[length:]
        if fields.get("connection", "").lower() == "close" or parts[0] == "HTTP/1.0":
            self._close()
        return status, fields, data

    def _read_chunked(self):
        pieces = []
        while True:
            while b"\r\n" not in self._buffer:
                self._fill()
            line, self._buffer = self._buffer.split(b"\r\n", 1)
            size = int(line.split(b";", 1)[0], 16)
            while len(self._buffer) < size + 2:
                self._fill()
            if size == 0:
                # Trailers, if any, end with an empty line.
                while not (self._buffer.startswith(b"\r\n") or b"\r\n\r\n" in self._buffer):
                    self._fill()
                if self._buffer.startswith(b"\r\n"):
                    self._buffer = self._buffer[2:]
                else:
                    self._buffer = self._buffer.split(b"\r\n\r\n", 1)[1]
                return b"".join(pieces)
            pieces.append(self._buffer[:size])
            self._buffer = self._buffer[size + 2 :]

    def next_invocation(self):
        return self._next(self.call("GET", _NEXT_PATH))

    def _next(self, response):
        status, headers, body = response
        if status == 410:
            # rayo's Runtime API answers 410 Gone when the instance is ending.
            _flush_streams()
            sys.exit(0)
        if status != 200:
            raise _ApiError("GET /runtime/invocation/next", status, body)
        return headers, body

    def post_response(self, request_id, body, content_type):
        """Posts a result and asks for the next invocation in the same write;
        returns the next invocation."""
        _flush_streams()
        post = self._request(
            "POST",
            "%s/runtime/invocation/%s/response" % (_API_VERSION, request_id),
            body,
            {"Content-Type": content_type},
        )
        _posted, following = self.exchange([post, self._request("GET", _NEXT_PATH)])
        return self._next(following)

    def post_error(self, request_id, error, xray_cause):
        """Posts an error and asks for the next invocation in the same write;
        returns the next invocation."""
        _flush_streams()
        headers = {"Content-Type": "application/json"}
        cause = _to_body(_to_json(xray_cause))
        if len(cause) < _XRAY_CAUSE_MAX_BYTES:
            headers[_XRAY_CAUSE_HEADER] = cause
        post = self._request(
            "POST",
            "%s/runtime/invocation/%s/error" % (_API_VERSION, request_id),
            _to_body(_to_json(error)),
            headers,
        )
        _posted, following = self.exchange([post, self._request("GET", _NEXT_PATH)])
        return self._next(following)

    def post_init_error(self, error):
        _flush_streams()
        status, _headers, body = self.call(
            "POST",
            _API_VERSION + "/runtime/init/error",
            _to_body(_to_json(error)),
            {
                _ERROR_TYPE_HEADER: error["errorType"].encode("utf-8"),
                "Content-Type": "application/json",
            },
        )
        if status != 202:
            raise _ApiError("POST /runtime/init/error", status, body)


class _ApiError(Exception):
    def __init__(self, what, status, body):
        Exception.__init__(
            self,
            "Request to Lambda Runtime %s failed: HTTP %s: %r" % (what, status, body[:512]),
        )


# ---------------------------------------------------------------------------
# Init and the invocation loop
# ---------------------------------------------------------------------------


def _load_handler(handler):
    try:
        module_name, function_name = handler.rsplit(".", 1)
    except ValueError as e:
        raise _Fault(_Fault.MALFORMED_HANDLER, "Bad handler '%s': %s" % (handler, e))

    try:
        if module_name.split(".")[0] in sys.builtin_module_names:
            raise _Fault(
                _Fault.BUILT_IN_CONFLICT,
                "Cannot use built-in module %s as a handler module" % module_name,
            )
        module = importlib.import_module(module_name.replace("/", "."))
    except ImportError as e:
        raise _Fault(
            _Fault.IMPORT_MODULE,
            "Unable to import module '%s': %s" % (module_name, e),
        )
    except SyntaxError as e:
        trace = ['  File "%s" Line %s\n    %s' % (e.filename, e.lineno, e.text)]
        raise _Fault(
            _Fault.SYNTAX,
            "Syntax error in module '%s': %s" % (module_name, e),
            trace,
        )

    try:
        return getattr(module, function_name)
    except AttributeError:
        raise _Fault(
            _Fault.HANDLER_NOT_FOUND,
            "Handler '%s' missing on module '%s'" % (function_name, module_name),
        )


def _init(api):
    """Sets up logging and loads the handler; on failure reports the error
    and exits with status 1."""
    error = None
    try:
        _setup_logging(_JSON_LOGS)
        handler = _load_handler(os.environ.get("_HANDLER", ""))
    except _Fault as fault:
        error = _error_body(fault.message, fault.error_type, fault.trace)
    except Exception as e:
        frames = _user_frames(sys.exc_info()[2])
        error = _error_body(_safe_str(e), type(e).__name__, _format_frames(frames))
    if error is None:
        return handler

    # Lambda's message ends in a carriage return; in text format that would
    # only add an empty line to the event.
    logging.warning(_UNHANDLED_INIT_WARNING + ("\r" if _JSON_LOGS else ""))
    _log_error(error)
    try:
        api.post_init_error(error)
    except Exception as e:
        _flush_streams()
        sys.stderr.write("rayo runtime: could not report the init error: %s\n" % e)
    _flush_streams()
    sys.exit(1)


def _invoke(api, handler, headers, body):
    """Runs one invocation, posts its outcome and returns the next
    invocation (headers, body)."""
    global _request_id, _tenant_id
    get = headers.get
    request_id = get("lambda-runtime-aws-request-id")
    tenant_id = get("lambda-runtime-aws-tenant-id") or None
    _request_id = request_id
    _tenant_id = tenant_id

    trace_id = get("lambda-runtime-trace-id")
    if trace_id:
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
    elif "_X_AMZN_TRACE_ID" in os.environ:
        del os.environ["_X_AMZN_TRACE_ID"]

    try:
        deadline_ms = int(get("lambda-runtime-deadline-ms") or 0)
    except ValueError:
        deadline_ms = 0

    try:
        client_context = get("lambda-runtime-client-context")
        client_context = (
            _parse_header_json(client_context, "Client Context") if client_context else None
        )
        cognito_identity = get("lambda-runtime-cognito-identity")
        cognito_identity = (
            _parse_header_json(cognito_identity, "Cognito Identity") if cognito_identity else None
        )
        context = LambdaContext(
            request_id,
            client_context,
            cognito_identity,
            deadline_ms,
            get("lambda-runtime-invoked-function-arn"),
            tenant_id,
        )
        event = _unmarshal_event(body, get("content-type"))
        result = handler(event, context)
        payload, content_type = _marshal_response(result)
    except _Fault as fault:
        error = _error_body(fault.message, fault.error_type, fault.trace, request_id)
        cause = _xray_cause("LambdaValidationError", fault.message, [])
    except Exception as e:
        frames = _user_frames(sys.exc_info()[2])
        message = _safe_str(e)
        error_type = type(e).__name__
        error = _error_body(message, error_type, _format_frames(frames), request_id)
        cause = _xray_cause(error_type, message, frames)
    else:
        return api.post_response(request_id, payload, content_type)
    _log_error(error)
    return api.post_error(request_id, error, cause)


def _configure():
    """Reads the runtime's settings from the environment: at start, and again
    in each instance a zygote forks, once it has the instance's environment."""
    global _ENSURE_ASCII, _JSON_LOGS, _encoder, _FUNCTION_IDENTITY
    environ = os.environ
    _FUNCTION_IDENTITY = tuple(
        environ.get(name)
        for name in (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            "AWS_LAMBDA_LOG_STREAM_NAME",
            "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            "AWS_LAMBDA_FUNCTION_VERSION",
        )
    )
    _ENSURE_ASCII = _runtime_minor() < 12
    _JSON_LOGS = _log_format_is_json()
    _encoder = json.JSONEncoder(ensure_ascii=_ENSURE_ASCII, allow_nan=True, default=_json_default)


def main():
    serve()


def serve():
    """Loads the handler and serves invocations until the instance ends.

    rayo's zygote (zygote.py) imports this module ahead of time and calls
    this in each instance it forks, inside the sandbox, once the process
    looks as a fresh ``python bootstrap.py`` would.
    """
    _configure()
    _prepare_paths()
    _prepare_streams()
    api = _RuntimeApi(os.environ["AWS_LAMBDA_RUNTIME_API"])
    handler = _init(api)
    try:
        headers, body = api.next_invocation()
        while True:
            headers, body = _invoke(api, handler, headers, body)
    except (OSError, _ProtocolError, _ApiError) as e:
        _flush_streams()
        sys.stderr.write("rayo runtime: lost the Runtime API: %s\n" % e)
        sys.exit(1)


_JSON_LOGS = False  # Set by _configure().
_configure()

if __name__ == "__main__":
    main()
