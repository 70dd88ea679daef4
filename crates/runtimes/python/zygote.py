"""rayo's Python zygote: an interpreter that has imported the runtime once
and forks a function instance, already sandboxed, for each cold start.

rayo's executor starts one per Python interpreter, as root on the host::

    python3.X -s -B zygote.py --runtime HOST_BOOTSTRAP --runtime-as SANDBOX_BOOTSTRAP
                              [--path SUPPORT_DIR]...

with its control socket (a Unix SOCK_SEQPACKET socket) as standard input.
It loads ``bootstrap.py`` (under the name it has inside a sandbox, so that
tracebacks and ``__file__`` read as they do there), imports what instances
commonly need (boto3 too, when it imports), and then says so, one JSON
message, listing the top-level modules it added to what the runtime imports
by itself (rayo runs a function whose package would shadow one of them the
ordinary way)::

    {"ready": {"version": "3.11.7", "pid": 77, "stdlib": ["uuid", ...],
               "third_party": ["boto3", ...], "third_party_dirs": [...]}}

Each request is one message, a JSON object with the instance's log pipe
attached (SCM_RIGHTS); ``fork`` is rayo-sandbox's ``wire::ForkSpec``::

    {"id": 7, "fork": {...}, "argv": ["/var/runtime/python/bootstrap.py"],
     "cmdline": ["/usr/bin/python3.11", "/var/runtime/python/bootstrap.py"],
     "purge_third_party": false}

It is answered ``{"id": 7, "pid": 4242}`` (or ``{"id": 7, "error": "..."}``)
and, once the instance has ended and been reaped,
``{"exit": 4242, "status": <wait status>}``: the runtime's own wait status.
The end of the socket (rayo is gone) ends the zygote, and every instance
with it.

Two processes make up an instance. The zygote's child is PID 1 of a new PID
namespace (the zygote unshares it for that one child and returns to its own):
it enters new mount, IPC and UTS namespaces, builds the root file system
while the zygote puts it in the instance's cgroup, starts the runtime, reaps
orphans, and tells the zygote how the runtime ended before it exits. The
runtime is PID 2: it drops every privilege, installs the seccomp filters,
takes the instance's environment and serves. This is rayo's
``__sandbox-init`` step for step, less the host-side process (the zygote is
the one). Any failure before the runtime serves is written to the instance's
log as ``rayo sandbox: <what>: <error>`` and ends the instance with status
126; nothing runs unsandboxed.

So that a cold start need not wait for forks, the zygote keeps one spare
instance forked ahead whenever it is idle: both processes, PID 1 in its new
namespaces and the runtime's process below it, waiting for a request (the
zygote forwards it, log pipe and all, and moves both into the instance's
cgroup). Finding the runtime's PID, to move it,
needs /proc/PID/task/TID/children; without it there are no spares. rayo
makes a cgroup ahead for the next instance and says so,
``{"prepare": {"id": 3, "cgroup_procs": [...]}}``; the zygote moves the
spare into it while idle, answers ``{"prepared": 3}``, and a request naming
that cgroup then need not wait for the move (an RCU grace period).
"""

import sys

# What any interpreter has imported by the time it runs a script: all else
# the zygote imports, its own modules included, is counted as preloaded.
_STARTUP_MODULES = frozenset(sys.modules)

import ctypes  # noqa: E402 (after the inventory above)
import errno
import gc
import json
import os
import resource
import select
import signal
import socket
import stat
import struct
import time

_FORK_VERSION = 1
_INIT_FAILED = 126
_MAX_MESSAGE = 1 << 20
_MAX_FDS = 4
# How long after a fork the zygote waits, idle, before it forks a spare.
_SPARE_PAUSE = 0.005
# rayo starts the zygote with this variable holding room for an instance's
# environment: /proc/self/environ shows the start-up environment, and an
# instance's own is written over it.
_ENV_SPACE = "_RAYO_ZYGOTE_ENV_SPACE"

# Linux's constants: the same on every architecture (system call numbers are
# not; rayo sends those).
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWPID = 0x20000000
_MS_RDONLY = 0x1
_MS_NOSUID = 0x2
_MS_NODEV = 0x4
_MS_NOEXEC = 0x8
_MS_REMOUNT = 0x20
_MS_BIND = 0x1000
_MS_REC = 0x4000
_MS_PRIVATE = 0x40000
_MNT_DETACH = 0x2
_PR_SET_PDEATHSIG = 1
_PR_SET_DUMPABLE = 4
_PR_SET_SECCOMP = 22
_PR_CAPBSET_DROP = 24
_PR_SET_NO_NEW_PRIVS = 38
_PR_CAP_AMBIENT = 47
_PR_CAP_AMBIENT_CLEAR_ALL = 4
_SECCOMP_MODE_FILTER = 2
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# Where the sandbox's root is built, in the scratch root, and where the
# host's root is meanwhile.
_NEW_ROOT = "/newroot"
_OLD_ROOT = "/oldroot"

# Standard modules that instances commonly use and the runtime imports only
# when needed (socket.getaddrinfo encodes host names with the idna codec).
_STDLIB_PRELOADS = (
    "encodings.idna",
    "traceback",
    "re",
    "decimal",
    "uuid",
    "datetime",
    "base64",
    "hashlib",
    "hmac",
    "random",
    "tempfile",
    "urllib.parse",
    "urllib.request",
    "typing",
    "dataclasses",
    "concurrent.futures",
    "subprocess",
    "ssl",
    "zlib",
    "gzip",
)

# boto3, which Lambda's Python runtimes include, and what creating a client
# imports; skipped where they do not import.
_THIRD_PARTY_PRELOADS = (
    "boto3",
    "boto3.session",
    "botocore.session",
    "botocore.client",
    "botocore.endpoint",
    "botocore.parsers",
    "botocore.serialize",
    "botocore.httpsession",
    "botocore.regions",
    "botocore.credentials",
    "botocore.handlers",
    "botocore.auth",
    "botocore.retries.standard",
    "botocore.retries.adaptive",
)


class _Failure(Exception):
    """A step of entering the sandbox failed: what, and why."""

    def __init__(self, what, error):
        Exception.__init__(self, what)
        self.what = what
        self.error = error


def _describe(error):
    """An error as rayo's own init words it."""
    if isinstance(error, OSError) and error.errno:
        return "%s (os error %d)" % (os.strerror(error.errno), error.errno)
    return str(error) or type(error).__name__


def _fail(what, error):
    """Writes why an instance could not start to its log and ends the process."""
    if isinstance(error, _Failure):
        what, error = error.what, error.error
    message = "rayo sandbox: %s: %s\n" % (what, _describe(error))
    try:
        os.write(2, message.encode("utf-8", "replace"))
    finally:
        os._exit(_INIT_FAILED)


# ---------------------------------------------------------------------------
# System calls
# ---------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]


def _check(result, what):
    if result != 0:
        code = ctypes.get_errno()
        raise _Failure(what, OSError(code, os.strerror(code)))


def _mount(source, target, fstype, flags, data, what):
    encode = lambda value: None if value is None else os.fsencode(value)
    _check(_libc.mount(encode(source), encode(target), encode(fstype), flags, encode(data)), what)


def _prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    return _libc.prctl(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(arg4),
        ctypes.c_ulong(arg5),
    )


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


# ---------------------------------------------------------------------------
# The zygote
# ---------------------------------------------------------------------------


def main():
    gc.disable()
    options = _parse_arguments(sys.argv[1:])
    # The control socket moves off standard input, which becomes /dev/null.
    control = socket.socket(fileno=os.dup(0))
    control.setblocking(True)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.close(null)
    env_space = _take_env_space()
    # Set by the interpreter when it coerced a C locale to UTF-8 (rayo gives
    # the zygote the instances' LANG, so an instance's would do the same).
    coerced_locale = os.environ.get("LC_CTYPE")

    runtime = _load_runtime(options["runtime"], options["runtime_as"])
    support_dirs = options["paths"]
    sys.path.extend(p for p in support_dirs if p not in sys.path)
    _preload()
    # The runtime lays sys.path out itself, as it would in a fresh process:
    # leave it as such a process starts with it.
    script_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p not in support_dirs and os.path.abspath(p or ".") != script_dir]
    inventory = _Inventory(_STARTUP_MODULES, support_dirs)
    # Nothing imported so far is ever collected: keep the collector off
    # these pages, so forked instances go on sharing them.
    gc.freeze()

    zygote = _Zygote(control, runtime, inventory, env_space, coerced_locale)
    instance = zygote.serve()
    # Only an instance's runtime process gets here, inside its sandbox.
    instance()


def _parse_arguments(args):
    options = {"runtime": None, "runtime_as": None, "paths": []}
    i = 0
    while i + 1 < len(args):
        name, value = args[i], args[i + 1]
        if name == "--runtime":
            options["runtime"] = value
        elif name == "--runtime-as":
            options["runtime_as"] = value
        elif name == "--path":
            options["paths"].append(value)
        else:
            break
        i += 2
    if i != len(args) or not options["runtime"] or not options["runtime_as"]:
        sys.stderr.write("usage: zygote.py --runtime PATH --runtime-as PATH [--path DIR]...\n")
        sys.exit(2)
    return options


def _take_env_space():
    """The address and size of the start-up environment's bytes, where an
    instance writes its own; rayo padded it with _ENV_SPACE."""
    value = os.environ.pop(_ENV_SPACE, None)
    if value is None:
        return None
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # Fields 48 to 51 (arg_start, arg_end, env_start, env_end), counted
        # from 1 with the command name as field 2.
        arg_start, arg_end, env_start, env_end = (int(fields[n - 3]) for n in (48, 49, 50, 51))
    except (OSError, IndexError, ValueError):
        return None
    return {"args": (arg_start, arg_end), "env": (env_start, env_end)}


def _load_runtime(path, path_as):
    """Loads bootstrap.py from `path` as if from `path_as`."""
    import types

    with open(path, "rb") as f:
        source = f.read()
    code = compile(source, path_as, "exec", dont_inherit=True)
    module = types.ModuleType("__rayo_runtime__")
    module.__file__ = path_as
    sys.modules["__rayo_runtime__"] = module
    exec(code, module.__dict__)
    return module


def _preload():
    import importlib

    for name in _STDLIB_PRELOADS + _THIRD_PARTY_PRELOADS:
        try:
            importlib.import_module(name)
        except Exception:
            pass


class _Inventory(object):
    """The modules the zygote imported beyond what an interpreter has at start
    (those the runtime itself imports included, to be safe: a function's
    package that has its own copy of any of them starts the ordinary way)."""

    def __init__(self, startup, support_dirs):
        roots = [p for p in sys.path if "site-packages" in p or "dist-packages" in p]
        roots.extend(support_dirs)
        self.third_party_roots = sorted({os.path.realpath(p) for p in roots if p})
        self.third_party = set()
        stdlib = set()
        used_dirs = set()
        for name in set(sys.modules) - startup:
            module = sys.modules.get(name)
            if module is None or name.startswith("__"):
                continue
            root = self._third_party_root(module)
            if root is not None:
                self.third_party.add(name)
                used_dirs.update(d for d in support_dirs if os.path.realpath(d) == root)
            elif "." not in name:
                stdlib.add(name)
        self.stdlib_tops = sorted(stdlib)
        self.third_party_tops = sorted({n for n in self.third_party if "." not in n})
        self.support_dirs_used = sorted(used_dirs)

    def _third_party_root(self, module):
        location = getattr(module, "__file__", None)
        if not location:
            paths = getattr(module, "__path__", None)
            location = next(iter(paths), None) if paths is not None else None
        if not location:
            return None
        location = os.path.realpath(location)
        for root in self.third_party_roots:
            if location == root or location.startswith(root + os.sep):
                return root
        return None

    def purge_third_party(self):
        """Forgets the third-party modules imported by the zygote, so that the
        function's own copies load instead."""
        for name in self.third_party:
            sys.modules.pop(name, None)
        purged = self.third_party
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ not in purged]
        sys.path_hooks[:] = [h for h in sys.path_hooks if getattr(h, "__module__", None) not in purged]
        sys.path_importer_cache.clear()


class _Spare(object):
    """An instance's two processes, forked before any request: PID 1 of a new
    PID namespace, in its own mount, IPC and UTS namespaces, and the runtime's
    process below it, each waiting for a request on its channel. The zygote
    keeps one, so that a cold start need not fork."""

    def __init__(self, pid, init_channel, runtime_channel, status_read, joined_write):
        self.pid = pid
        self.init_channel = init_channel
        self.runtime_channel = runtime_channel
        self.status_read = status_read
        self.joined_write = joined_write
        # Known once PID 1 says it has forked the runtime's process.
        self.runtime_pid = None
        # The cgroup rayo made ahead for the next instance, once both
        # processes are in it.
        self.joined_procs = None

    def close(self):
        for fd in (self.init_channel, self.runtime_channel, self.status_read, self.joined_write):
            os.close(fd)


class _Zygote(object):
    def __init__(self, control, runtime, inventory, env_space, coerced_locale):
        self.coerced_locale = coerced_locale
        self.control = control
        self.runtime = runtime
        self.inventory = inventory
        self.env_space = env_space
        # Each instance's namespace init, with the pipe it reports on.
        self.children = {}
        self.spare = None
        self.spare_at = 0.0
        self.spare_delay = 0.0
        # The cgroup rayo made ahead for the next instance: (id, procs files).
        self.spare_cgroup = None
        pid = os.getpid()
        if not os.path.exists("/proc/%d/task/%d/children" % (pid, pid)):
            # No way to find a spare's runtime process: no spares.
            self.spare_at = float("inf")
        # The filters of the last request: a spare's runtime installs them
        # ahead of its own request (they are the same for every instance).
        self.seccomp = None
        self.pid_namespace = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.wakeup_read, self.wakeup_write = os.pipe()
        os.set_blocking(self.wakeup_read, False)
        os.set_blocking(self.wakeup_write, False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wakeup_write)
        self._send(
            {
                "ready": {
                    "version": "%d.%d.%d" % sys.version_info[:3],
                    "pid": os.getpid(),
                    "stdlib": inventory.stdlib_tops,
                    "third_party": inventory.third_party_tops,
                    "third_party_dirs": inventory.support_dirs_used,
                }
            }
        )

    def serve(self):
        """Answers rayo until it goes away. Returns only in an instance's
        runtime process, sandboxed: what it is to run."""
        while True:
            # A spare is made when nothing else waits.
            timeout = None
            if self.spare is None and self.spare_at != float("inf"):
                timeout = max(0.0, self.spare_at - time.monotonic())
            waited = [self.control, self.wakeup_read]
            if self.spare is not None and self.spare.runtime_pid is None:
                waited.append(self.spare.init_channel)
            ready, _, _ = select.select(waited, [], [], timeout)
            if not ready:
                instance = self._make_spare()
                if instance is not None:
                    return instance
                continue
            if self.spare is not None and self.spare.init_channel in ready:
                self._spare_ready()
            if self.wakeup_read in ready:
                try:
                    while os.read(self.wakeup_read, 512):
                        pass
                except BlockingIOError:
                    pass
                self._reap()
            if self.control in ready:
                message, fds = _receive(self.control)
                if message is None:
                    # rayo is gone; the instances' parent-death signal ends them.
                    os._exit(0)
                instance = self._handle(message, fds)
                if instance is not None:
                    return instance

    def _handle(self, message, fds):
        request_id = None
        try:
            request = json.loads(message)
            request_id = request.get("id")
            if "prepare" in request:
                for fd in fds:
                    os.close(fd)
                self.spare_cgroup = (request["prepare"]["id"], request["prepare"]["cgroup_procs"])
                self._join_spare()
                return None
            spec = request["fork"]
            if spec.get("version") != _FORK_VERSION:
                raise ValueError("fork spec version %r where %d was expected" % (spec.get("version"), _FORK_VERSION))
            if len(fds) != 1:
                raise ValueError("expected the log pipe with the request, got %d descriptors" % len(fds))
        except Exception as error:
            for fd in fds:
                os.close(fd)
            self._send({"id": request_id, "error": "bad request: %s" % _describe(error)})
            return None
        self.seccomp = spec["seccomp"]
        if self.spare_cgroup is not None and self.spare_cgroup[1] == spec["cgroup_procs"]:
            # The cgroup made ahead is this instance's now, spare or not: the
            # next spare waits for another.
            self.spare_cgroup = None
        log_fd = fds[0]
        cgroups = []
        instance = None
        try:
            for procs in spec["cgroup_procs"]:
                try:
                    cgroups.append((os.open(procs, os.O_WRONLY | os.O_CLOEXEC), procs))
                except OSError as error:
                    raise _Failure("opening cgroup %s" % procs, error)
            if not self._hand_to_spare(message, request, log_fd, cgroups):
                instance = self._fork(request, log_fd, cgroups)
        except _Failure as failure:
            self._send({"id": request_id, "error": "%s: %s" % (failure.what, _describe(failure.error))})
        if instance is not None:
            # The new runtime's process: those descriptors are long closed.
            return instance
        for fd, _ in cgroups:
            os.close(fd)
        os.close(log_fd)
        return None

    def _fork_namespace_init(self):
        """Forks a child that is PID 1 of a new PID namespace; the zygote
        itself stays in its own, for the children after it."""
        try:
            _check(_libc.unshare(_CLONE_NEWPID), "unshare")
            try:
                pid = os.fork()
            except OSError as error:
                raise _Failure("fork", error)
        except _Failure:
            self._restore_pid_namespace()
            raise
        if pid != 0:
            self._restore_pid_namespace()
            # As the child does itself: whichever runs first, rayo can end the
            # instance's processes as one group once it has the PID.
            try:
                os.setpgid(pid, pid)
            except OSError:
                pass
        return pid

    def _fork(self, request, log_fd, cgroups):
        """Forks PID 1 of a new PID namespace, answers rayo with its PID and
        puts it in the instance's cgroup. Returns only in the runtime
        process of the new instance."""
        status_read, status_write = os.pipe()
        joined_read, joined_write = os.pipe()
        try:
            pid = self._fork_namespace_init()
        except _Failure:
            for fd in (status_read, status_write, joined_read, joined_write):
                os.close(fd)
            raise
        if pid == 0:
            try:
                return _Instance(self, status_write, joined_read).start(request, log_fd)
            except BaseException as error:
                _fail("starting", error)
        os.close(status_write)
        os.close(joined_read)
        self.children[pid] = status_read
        self._spare_later()
        self._send({"id": request.get("id"), "pid": pid})
        self._join(pid, [pid], cgroups, log_fd, joined_write)
        return None

    def _hand_to_spare(self, message, request, log_fd, cgroups):
        """Gives the request to the spare, if one is ready; answers rayo and
        puts the spare in the instance's cgroup."""
        spare = self.spare
        if spare is None or spare.runtime_pid in (None, -1):
            return False
        self.spare = None
        try:
            for channel in (spare.runtime_channel, spare.init_channel):
                _send_with_fd(channel, message, log_fd)
        except OSError:
            # It is gone; the zygote forks the instance itself.
            try:
                os.killpg(spare.pid, signal.SIGKILL)
            except OSError:
                pass
            spare.close()
            return False
        os.close(spare.init_channel)
        os.close(spare.runtime_channel)
        self.children[spare.pid] = spare.status_read
        self.spare_delay = 0.0
        self._spare_later()
        self._send({"id": request.get("id"), "pid": spare.pid})
        if spare.joined_procs == [procs for _, procs in cgroups]:
            # In the instance's cgroup already.
            try:
                os.write(spare.joined_write, b"j")
            except OSError:
                pass
            os.close(spare.joined_write)
        else:
            self._join(spare.pid, [spare.pid, spare.runtime_pid], cgroups, log_fd, spare.joined_write)
        return True

    def _join(self, pid, members, cgroups, log_fd, joined_write):
        """Puts `members` in the instance's cgroup and tells PID 1 (`pid`),
        which builds the root meanwhile and waits for the word before its
        runtime starts. Moving a process waits for an RCU grace period."""
        joined = True
        for fd, procs in cgroups:
            for member in members:
                try:
                    os.write(fd, str(member).encode())
                except OSError as error:
                    joined = False
                    if error.errno != errno.ESRCH:
                        os.killpg(pid, signal.SIGKILL)
                        message = "rayo sandbox: joining cgroup %s: %s\n" % (procs, _describe(error))
                        try:
                            os.write(log_fd, message.encode("utf-8", "replace"))
                        except OSError:
                            pass
                    # Otherwise it is gone already (it failed and said why).
                    break
            if not joined:
                break
        if joined:
            try:
                os.write(joined_write, b"j")
            except OSError:
                pass
        os.close(joined_write)

    def _make_spare(self):
        """Forks the spare. Returns only in the spare's runtime process, once
        it has had its request."""
        fds = []
        try:
            init_ours, init_theirs = (s.detach() for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET))
            runtime_ours, runtime_theirs = (
                s.detach() for s in socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            )
            fds = [init_ours, init_theirs, runtime_ours, runtime_theirs]
            status_read, status_write = os.pipe()
            joined_read, joined_write = os.pipe()
            fds += [status_read, status_write, joined_read, joined_write]
            pid = self._fork_namespace_init()
        except (OSError, _Failure) as error:
            sys.stderr.write("rayo zygote: making a spare: %s\n" % _describe(getattr(error, "error", error)))
            for fd in fds:
                os.close(fd)
            self._spare_failed()
            return None
        if pid == 0:
            try:
                return _Instance(self, status_write, joined_read).spare(init_theirs, runtime_theirs)
            except BaseException as error:
                # Said in the instance's log once there is a request (before,
                # standard error is /dev/null and the zygote sees it end).
                _fail("starting", error)
        for fd in (init_theirs, runtime_theirs, status_write, joined_read):
            os.close(fd)
        self.spare = _Spare(pid, init_ours, runtime_ours, status_read, joined_write)
        return None

    def _spare_ready(self):
        """PID 1 of the spare says it has forked the runtime's process."""
        spare = self.spare
        try:
            said = os.read(spare.init_channel, 16)
        except OSError:
            said = b""
        spare.runtime_pid = _only_child(spare.pid) if said == b"ready" else None
        if spare.runtime_pid is None:
            # It is failing; reaping it makes another.
            try:
                os.killpg(spare.pid, signal.SIGKILL)
            except OSError:
                pass
            spare.runtime_pid = -1
            return
        self._join_spare()

    def _join_spare(self):
        """Moves the spare into the cgroup rayo made ahead for it, if both
        are there: moving a process waits for an RCU grace period, better
        spent now than during a cold start."""
        spare = self.spare
        if spare is None or spare.runtime_pid in (None, -1) or spare.joined_procs is not None:
            return
        if self.spare_cgroup is None:
            return
        cgroup_id, procs = self.spare_cgroup
        self.spare_cgroup = None
        try:
            for path in procs:
                fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                try:
                    for member in (spare.pid, spare.runtime_pid):
                        os.write(fd, str(member).encode())
                finally:
                    os.close(fd)
        except OSError as error:
            # It is joined to the instance's cgroup at its request instead.
            sys.stderr.write("rayo zygote: moving the spare into its cgroup: %s\n" % _describe(error))
            return
        spare.joined_procs = procs
        self._send({"prepared": cgroup_id})

    def _spare_later(self):
        """The next spare waits a moment: the instance just started is
        building its root and loading its code, better not slowed down."""
        if self.spare_at != float("inf"):
            self.spare_at = time.monotonic() + _SPARE_PAUSE

    def _spare_failed(self):
        self.spare_delay = min(max(0.1, self.spare_delay * 2), 60.0)
        self.spare_at = time.monotonic() + self.spare_delay

    def _restore_pid_namespace(self):
        if _libc.setns(self.pid_namespace, _CLONE_NEWPID) != 0:
            # Its next child would land in the last instance's namespace.
            code = ctypes.get_errno()
            sys.stderr.write("rayo zygote: setns back to its PID namespace: %s\n" % os.strerror(code))
            os._exit(1)

    def _reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if self.spare is not None and pid == self.spare.pid:
                # The spare ended before it was used.
                self.spare.close()
                self.spare = None
                self._spare_failed()
                continue
            status_read = self.children.pop(pid, None)
            if status_read is None:
                continue
            # How the runtime ended, as its namespace init wrote it just
            # before it exited; nothing if the init itself was killed.
            os.set_blocking(status_read, False)
            try:
                reported = os.read(status_read, 4)
            except OSError:
                reported = b""
            os.close(status_read)
            if len(reported) == 4:
                outcome = struct.unpack("<i", reported)[0]
                status = (outcome & 0xFF) << 8 if outcome >= 0 else (-outcome) & 0x7F
            self._send({"exit": pid, "status": status})

    def _send(self, document):
        self.control.send(json.dumps(document).encode("utf-8"))

    def detach(self):
        """In a child: lets go of the zygote's signal handling and control
        socket (its other descriptors are closed by number)."""
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.close(self.control.detach())
        self.children.clear()
        self.spare = None


# ---------------------------------------------------------------------------
# An instance
# ---------------------------------------------------------------------------


class _Instance(object):
    """PID 1 of an instance's PID namespace, and what it passes on to the
    runtime's process."""

    def __init__(self, zygote, status_write, joined_read):
        self.zygote = zygote
        self.status_write = status_write
        self.joined_read = joined_read
        self.request = None
        self.spec = None

    def start(self, request, log_fd):
        """Forked for `request`: enters the other namespaces, builds the
        root, starts the runtime and reaps orphans until it ends. Returns
        only in the runtime process."""
        self.request = request
        self.spec = request["fork"]
        self._detach(log_fd, [self.status_write, self.joined_read])
        self._enter()
        self._build()
        # What the runtime inherits, done here while the zygote moves this
        # process into the cgroup: nothing below needs a capability or a
        # refused system call.
        _drop_bounding_set()
        _check(_prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL), "clearing ambient capabilities")
        _install_seccomp(self.spec["seccomp"])
        self._wait_joined()
        runtime = os.fork()
        if runtime == 0:
            os.close(self.status_write)
            try:
                return self._run_runtime()
            except BaseException as error:
                _fail("starting", error)
        self._supervise(runtime)

    def spare(self, init_channel, runtime_channel):
        """Forked ahead of a request: enters the other namespaces and forks
        the runtime's process, then both wait for the request. Returns only
        in the runtime process."""
        self._detach(None, [self.status_write, self.joined_read, init_channel, runtime_channel])
        self._enter()
        _drop_bounding_set()
        _check(_prctl(_PR_CAP_AMBIENT, _PR_CAP_AMBIENT_CLEAR_ALL), "clearing ambient capabilities")
        go_read, go_write = os.pipe()
        runtime = os.fork()
        if runtime == 0:
            for fd in (init_channel, self.status_write, self.joined_read, go_write):
                os.close(fd)
            installed = self.zygote.seccomp
            if installed is not None:
                _install_seccomp(installed)
            request, log_fd = _receive_request(runtime_channel)
            try:
                self._take(request, log_fd)
                if self.spec["seccomp"] != installed:
                    _install_seccomp(self.spec["seccomp"])
                # PID 1 says when the root is built and the cgroup joined.
                if os.read(go_read, 1) != b"g":
                    os._exit(_INIT_FAILED)
                os.close(go_read)
                return self._run_runtime()
            except BaseException as error:
                _fail("starting", error)
        os.close(runtime_channel)
        os.close(go_read)
        os.write(init_channel, b"ready")
        request, log_fd = _receive_request(init_channel)
        self._take(request, log_fd)
        self._build()
        self._wait_joined()
        os.write(go_write, b"g")
        os.close(go_write)
        self._supervise(runtime)

    def _detach(self, log_fd, kept):
        """Lets go of what the zygote holds but `kept`; standard input is
        /dev/null, standard output and error the instance's log (/dev/null
        until a spare has its request)."""
        self.zygote.detach()
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        output = null if log_fd is None else log_fd
        os.dup2(output, 1)
        os.dup2(output, 2)
        os.close(null)
        if log_fd is not None:
            os.close(log_fd)
        _close_all_but(0, 1, 2, *kept)

    def _take(self, request, log_fd):
        """A spare's request: its log becomes standard output and error."""
        self.request = request
        self.spec = request["fork"]
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)

    def _enter(self):
        """The process's own settings, and new mount, IPC and UTS namespaces."""
        # The zygote can only die by a signal from outside; take the whole
        # namespace with it then. (If it is gone already, the word that the
        # cgroup is joined never comes.)
        _check(_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL), "setting the parent-death signal")
        # A core dump could be handed to a host helper outside the sandbox.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Lambda's quota of 1,024 file descriptors (the sandbox's
        # OPEN_FILES_MAX); every inherited one above it is closed by now.
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
        # The instance's processes are a process group, ended as one.
        os.setpgid(0, 0)
        # Shielded from the OOM killer; the runtime's score goes to the top.
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("-1000")
        except OSError:
            pass
        _check(_libc.unshare(_CLONE_NEWNS | _CLONE_NEWIPC | _CLONE_NEWUTS), "unshare")

    def _build(self):
        """The root file system and the host name."""
        os.umask(0)
        _build_root(self.spec["mounts"], self.spec["syscalls"]["pivot_root"])
        try:
            socket.sethostname(self.spec["hostname"])
        except OSError as error:
            raise _Failure("setting the host name", error)

    def _wait_joined(self):
        if os.read(self.joined_read, 1) != b"j":
            # The zygote failed to place it in the cgroup and said so, or is gone.
            os._exit(_INIT_FAILED)
        os.close(self.joined_read)

    def _supervise(self, runtime):
        """Reaps orphans until the runtime ends, tells the zygote how, and
        exits, which ends everything else in the namespace."""
        while True:
            try:
                pid, status = os.wait()
            except InterruptedError:
                continue
            except ChildProcessError:
                os._exit(_INIT_FAILED)
            if pid != runtime:
                # An orphan, reaped.
                continue
            if os.WIFSIGNALED(status):
                outcome = -os.WTERMSIG(status)
            elif os.WIFEXITED(status):
                outcome = os.WEXITSTATUS(status)
            else:
                continue
            try:
                os.write(self.status_write, struct.pack("<i", outcome))
            except OSError:
                pass
            os._exit(0)

    def _run_runtime(self):
        """The runtime's process: drops the user's privileges (the bounding
        set and the seccomp filters it has from PID 1), takes the instance's
        environment and returns what serves it."""
        spec = self.spec
        # The OOM killer picks the runtime or its children first: within the
        # cgroup, so the namespace init can report the kill as the runtime's
        # own death, and on the host, before rayo itself.
        try:
            with open("/proc/self/oom_score_adj", "w") as f:
                f.write("1000")
        except OSError as error:
            raise _Failure("raising the OOM score", error)
        os.umask(0o022)

        for what, call in (
            ("setgroups", lambda: os.setgroups([])),
            ("setresgid", lambda: os.setresgid(spec["gid"], spec["gid"], spec["gid"])),
            ("setresuid", lambda: os.setresuid(spec["uid"], spec["uid"], spec["uid"])),
        ):
            try:
                call()
            except OSError as error:
                raise _Failure(what, error)
        header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
        data = (_CapData * 2)()
        _check(
            _libc.syscall(ctypes.c_long(spec["syscalls"]["capset"]), ctypes.byref(header), ctypes.byref(data)),
            "clearing capabilities",
        )
        # The user change made the process undumpable, which an execve would
        # undo: /proc/self would stay root's (its environ unreadable to it).
        _check(_prctl(_PR_SET_DUMPABLE, 1), "making the runtime dumpable")
        _check(_prctl(_PR_SET_NO_NEW_PRIVS, 1), "setting no_new_privs")
        # After the user change, which clears it.
        _check(_prctl(_PR_SET_PDEATHSIG, signal.SIGKILL), "setting the parent-death signal")
        if os.getppid() != 1:
            raise _Failure("starting", "the namespace init is gone")
        try:
            os.chdir(spec["cwd"])
        except OSError as error:
            raise _Failure("entering %s" % spec["cwd"], error)

        # The interpreter as a fresh `python bootstrap.py` would be. The
        # zygote's environment goes first: its strings are then free to
        # be written over.
        initial = _environment(spec["env"])
        environment = dict(initial)
        if self.zygote.coerced_locale is not None and "LC_CTYPE" not in environment:
            # Last, where the interpreter's setenv() puts it.
            environment["LC_CTYPE"] = self.zygote.coerced_locale
        os.environ.clear()
        os.environ.update(environment)
        self._present_as_runtime(initial)
        time.tzset()
        sys.argv[:] = self.request["argv"]
        sys.dont_write_bytecode = False
        if self.request.get("purge_third_party"):
            self.zygote.inventory.purge_third_party()
        runtime = self.zygote.runtime
        runtime.__name__ = "__main__"
        sys.modules["__main__"] = runtime
        if "__mp_main__" in sys.modules:
            sys.modules["__mp_main__"] = runtime
        gc.enable()
        return runtime.serve

    def _present_as_runtime(self, environment):
        """Writes the instance's command line and environment over the
        zygote's, where /proc/self/cmdline and /proc/self/environ read them."""
        space = self.zygote.env_space
        if space is None:
            return
        argv = b"".join(os.fsencode(a) + b"\0" for a in self.request["cmdline"])
        env = b"".join(os.fsencode(k) + b"=" + os.fsencode(v) + b"\0" for k, v in environment.items())
        for (start, end), content in ((space["args"], argv), (space["env"], env)):
            if len(content) <= end - start:
                ctypes.memmove(start, content + b"\0" * (end - start - len(content)), end - start)


def _parse_rights(ancillary):
    """The descriptors passed in a message's ancillary data."""
    fds = []
    size = struct.calcsize("i")
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(data) - len(data) % size
            fds.extend(struct.unpack("%di" % (usable // size), data[:usable]))
    return fds


def _receive(sock):
    """One message and the descriptors it carries; (None, []) at the end."""
    space = socket.CMSG_SPACE(_MAX_FDS * struct.calcsize("i"))
    message, ancillary, flags, _ = sock.recvmsg(_MAX_MESSAGE, space)
    fds = _parse_rights(ancillary)
    if not message and not fds:
        return None, []
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            os.close(fd)
        return b"", []
    return message, fds


def _receive_request(channel):
    """A spare's request and log pipe, from the zygote; the process ends if
    none comes (the zygote is gone)."""
    sock = socket.socket(fileno=channel)
    try:
        message, fds = _receive(sock)
    finally:
        os.close(sock.detach())
    if not message or len(fds) != 1:
        os._exit(_INIT_FAILED)
    return json.loads(message), fds[0]


def _send_with_fd(channel, message, fd):
    sock = socket.socket(fileno=channel)
    try:
        sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))])
    finally:
        sock.detach()


def _only_child(pid):
    """The PID of `pid`'s only child, or None."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            children = f.read().split()
    except OSError:
        return None
    return int(children[0]) if len(children) == 1 else None


def _drop_bounding_set():
    """Removes every capability from the bounding set, so that nothing this
    process starts can regain one. Needs CAP_SETPCAP."""
    for capability in range(64):
        if _prctl(_PR_CAPBSET_DROP, capability) != 0:
            code = ctypes.get_errno()
            # Past the last capability this kernel knows.
            if code == errno.EINVAL and capability > 0:
                return
            raise _Failure("dropping the capability bounding set", OSError(code, os.strerror(code)))


def _install_seccomp(programs):
    """Installs the filters (hex, as rayo sends them), in order, on this
    process and what it starts."""
    for program in (bytes.fromhex(text) for text in programs):
        buffer = ctypes.create_string_buffer(program, len(program))
        fprog = _SockFprog(len(program) // 8, ctypes.addressof(buffer))
        _check(
            _prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(fprog)),
            "installing the seccomp filter",
        )


def _close_all_but(*kept):
    """Closes every file descriptor but `kept`."""
    limit = min(max(resource.getrlimit(resource.RLIMIT_NOFILE)), 1 << 20)
    low = 0
    for fd in sorted(set(kept)) + [limit]:
        if fd > low:
            os.closerange(low, fd)
        low = fd + 1


def _environment(pairs):
    """The environment from rayo's pairs, a later value of a name winning,
    in the order an executed program gets it (by name)."""
    env = {}
    for key, value in pairs:
        env[key] = value
    return dict(sorted(env.items()))


# ---------------------------------------------------------------------------
# The root file system
# ---------------------------------------------------------------------------


def _pivot_root(new_root, put_old, number):
    _check(
        _libc.syscall(ctypes.c_long(number), os.fsencode(new_root), os.fsencode(put_old)),
        "pivot_root into %s" % new_root,
    )


def _build_root(ops, pivot_root_number):
    """Builds the new root from rayo's mount plan and makes it this process's
    root, read-only: rayo-sandbox's mounts::build_root, step for step."""
    # Nothing done here may reach the host's mount table.
    _mount(None, "/", None, _MS_REC | _MS_PRIVATE, None, "making / private")
    # A scratch tmpfs to hold the new root and the old one side by side.
    _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, "mode=0700,size=64k", "mounting the scratch tmpfs on /tmp")
    os.chdir("/tmp")
    for name in ("newroot", "oldroot"):
        _mkdir(name, 0o755)
    _pivot_root(".", "oldroot", pivot_root_number)
    os.chdir("/")
    _mount(
        "tmpfs",
        _NEW_ROOT,
        "tmpfs",
        _MS_NOSUID | _MS_NODEV,
        "mode=0755,size=1m,nr_inodes=4096",
        "mounting the root tmpfs",
    )
    for op in ops:
        _apply(op)
    _remount_submounts_read_only(ops)
    os.chdir(_NEW_ROOT)
    # The old root ends up stacked on the new one, then goes.
    _pivot_root(".", ".", pivot_root_number)
    _check(_libc.umount2(b".", _MNT_DETACH), "detaching the old root")
    os.chdir("/")
    _mount(
        None,
        "/",
        None,
        _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV,
        None,
        "making / read-only",
    )


def _apply(op):
    kind = op["op"]
    target = op["target"]
    if kind == "dir":
        _mkdir_all(_inside(_NEW_ROOT, target), op["mode"])
    elif kind == "symlink":
        link = _inside(_NEW_ROOT, target)
        _mkdir_all(os.path.dirname(link), 0o755)
        try:
            os.symlink(op["points_to"], link)
        except OSError as error:
            raise _Failure("linking %s to %s" % (target, op["points_to"]), error)
    elif kind == "bind_read_only":
        source = op["source"]
        origin = _inside(_OLD_ROOT, source)
        to = _inside(_NEW_ROOT, target)
        _make_mount_point(origin, to, source)
        what = "binding %s on %s" % (source, target)
        _mount(origin, to, None, _MS_BIND | _MS_REC, None, what)
        _remount_read_only(to, 0, what)
    elif kind == "bind_device":
        source = op["source"]
        origin = _inside(_OLD_ROOT, source)
        to = _inside(_NEW_ROOT, target)
        _make_mount_point(origin, to, source)
        what = "binding device %s" % source
        _mount(origin, to, None, _MS_BIND, None, what)
        _mount(None, to, None, _MS_REMOUNT | _MS_BIND | _MS_NOSUID | _MS_NOEXEC, None, what)
    elif kind == "tmpfs":
        to = _inside(_NEW_ROOT, target)
        _mkdir_all(to, 0o755)
        flags = _MS_NOSUID | _MS_NODEV
        if not op["exec"]:
            flags |= _MS_NOEXEC
        data = "mode=%o,size=%d" % (op["mode"], op["size_bytes"])
        _mount("tmpfs", to, "tmpfs", flags, data, "mounting a tmpfs on %s" % target)
    elif kind == "proc":
        to = _inside(_NEW_ROOT, target)
        _mkdir_all(to, 0o755)
        _mount("proc", to, "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "hidepid=2", "mounting proc on %s" % target)
    elif kind == "remount_read_only":
        _remount_read_only(_inside(_NEW_ROOT, target), _MS_NOEXEC, "making %s read-only" % target)
    else:
        raise _Failure("building the root", "unknown mount step %r" % kind)


def _remount_read_only(path, extra, what):
    flags = _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV | extra
    _mount(None, path, None, flags, None, what)


def _remount_submounts_read_only(ops):
    """Mounts found below a read-only bind (the host's own submounts, carried
    along by the recursive bind) get the same treatment as its top."""
    tops = [_inside(_NEW_ROOT, op["target"]) for op in ops if op["op"] == "bind_read_only"]
    try:
        with open(os.path.join(_NEW_ROOT, "proc/self/mountinfo"), "rb") as f:
            text = f.read()
    except OSError as error:
        raise _Failure("reading mountinfo", error)
    for mount_point, read_only in _parse_mountinfo(text):
        below_a_top = any(mount_point != top and _starts_with(mount_point, top) for top in tops)
        if below_a_top and not read_only:
            _remount_read_only(mount_point, 0, "making %s read-only" % mount_point)


def _parse_mountinfo(text):
    """Each mount point in mountinfo's bytes, with whether it is read-only."""
    found = []
    for line in text.split(b"\n"):
        fields = line.split(b" ")
        if len(fields) < 6:
            continue
        options = fields[5].split(b",")
        found.append((os.fsdecode(_unescape_mountinfo(fields[4])), b"ro" in options))
    return found


def _unescape_mountinfo(field):
    """Undoes mountinfo's octal escapes (\\040 for a space)."""
    out = bytearray()
    i = 0
    while i < len(field):
        digits = field[i + 1 : i + 4]
        if field[i : i + 1] == b"\\" and len(digits) == 3 and all(48 <= d <= 55 for d in digits):
            out.append(int(digits, 8) & 0xFF)
            i += 4
        else:
            out.append(field[i])
            i += 1
    return bytes(out)


def _starts_with(path, top):
    """Whether `path` is `top` or below it, component-wise."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def _inside(root, path):
    return os.path.join(root, path.lstrip("/"))


def _make_mount_point(origin, to, source):
    """Makes `to` a directory or an empty file, matching what `origin` is."""
    try:
        mode = os.stat(origin).st_mode
    except OSError as error:
        raise _Failure("reading %s" % source, error)
    if stat.S_ISDIR(mode):
        _mkdir_all(to, 0o755)
        return
    _mkdir_all(os.path.dirname(to), 0o755)
    try:
        os.close(os.open(to, os.O_WRONLY | os.O_CREAT, 0o644))
    except OSError as error:
        raise _Failure("creating %s" % to, error)


def _mkdir_all(path, mode):
    """Creates `path` and its missing parents, the parents 0755."""
    parts = [p for p in path.split("/") if p]
    so_far = ""
    for index, part in enumerate(parts):
        so_far += "/" + part
        _mkdir(so_far, mode if index + 1 == len(parts) else 0o755)


def _mkdir(path, mode):
    try:
        os.mkdir(path, mode)
    except FileExistsError:
        pass
    except OSError as error:
        raise _Failure("creating %s" % path, error)


if __name__ == "__main__":
    main()
