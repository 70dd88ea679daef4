//! Zygotes: per host Python interpreter, one process that has imported the
//! built-in runtime (and boto3) once and forks each new instance of a Python
//! function straight into its sandbox, so that a cold start costs a fork and
//! the function's own imports rather than a whole interpreter start.
//!
//! A zygote is the interpreter running `zygote.py` as root on the host. rayo
//! talks to it over a Unix SOCK_SEQPACKET socket pair (one JSON object per
//! message; the protocol is described at the top of `zygote.py`): a request
//! per instance carries rayo-sandbox's [`ForkSpec`] and, as SCM_RIGHTS, the
//! instance's log pipe; the answer is the PID of the instance's first process
//! (PID 1 of its PID namespace), and a report comes with the runtime's wait
//! status once that process has ended and been reaped. [`Forked`] is the
//! executor's handle on such a process, as a `tokio::process::Child` is on a
//! spawned one.
//!
//! Zygotes start on first need, one cold start waiting for it; one that
//! fails to start is not tried again for a while, and its instances start
//! the ordinary way meanwhile. One that dies takes its instances with it
//! (the zygote is their parent, and their parent-death signal ends them) and
//! is started again at the next need. Some functions always start the
//! ordinary way: those whose environment changes how an interpreter starts
//! (`PYTHON*`, `LD_*`, `LC_*`) and those whose package would shadow a
//! standard module the zygote imported (see [`fit`]).
//!
//! What a forked instance shares with its zygote, and a fresh interpreter
//! would not: the address space layout (ASLR is per zygote, not per
//! instance) and the string hash seed (`PYTHONHASHSEED`); `random` is
//! reseeded at each fork.

use std::collections::{HashMap, HashSet};
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::socket::{
    AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, sendmsg, socketpair,
};
use rayo_runtimes::{PythonInterpreter, RuntimeCatalog};
use rayo_sandbox::wire::ForkSpec;
use rayo_sandbox::{Cgroup, SandboxSupport};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, Interest};
use tokio::net::UnixDatagram;
use tokio::sync::oneshot;

/// Whether Python instances are forked from zygotes, and the zygotes.
#[derive(Debug, Clone)]
pub struct Zygotes {
    manager: Option<Arc<Manager>>,
}

impl Zygotes {
    /// Sandboxed Python instances are forked from zygotes where they can be.
    pub fn enabled() -> Zygotes {
        Zygotes {
            manager: Some(Arc::new(Manager::default())),
        }
    }

    /// Every instance starts its own interpreter (`--no-zygotes`).
    pub fn disabled() -> Zygotes {
        Zygotes { manager: None }
    }

    /// The running zygote of `interpreter`, started if need be; `None` when
    /// zygotes are off or this one cannot start. `sandbox_bootstrap` is where
    /// instances see the runtime's `bootstrap.py`.
    pub(crate) async fn get(
        &self,
        catalog: &RuntimeCatalog,
        support: &Arc<SandboxSupport>,
        interpreter: &PythonInterpreter,
        sandbox_bootstrap: &Path,
    ) -> Option<Arc<Zygote>> {
        let manager = self.manager.as_ref()?;
        let slot = lock(&manager.slots)
            .entry(interpreter.executable.clone())
            .or_default()
            .clone();
        let mut slot = slot.lock().await;
        if let Some(zygote) = &slot.zygote
            && zygote.is_alive()
        {
            return Some(zygote.clone());
        }
        if let Some(zygote) = slot.zygote.take() {
            tracing::warn!(python = %interpreter, pid = zygote.pid, "the zygote ended; starting another");
            // Its spare's cgroup goes, which waits for its processes.
            tokio::task::spawn_blocking(move || drop(zygote));
        }
        if let Some((at, _)) = &slot.failure
            && at.elapsed() < RETRY_AFTER
        {
            return None;
        }
        let started = Instant::now();
        match Zygote::start(catalog, support, interpreter, sandbox_bootstrap).await {
            Ok(zygote) => {
                let zygote = Arc::new(zygote);
                zygote.prepare_spare();
                tracing::info!(
                    python = %interpreter,
                    pid = zygote.pid,
                    stdlib_modules = zygote.preloaded.stdlib.len(),
                    third_party_modules = zygote.preloaded.third_party.len(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "zygote ready: python instances are forked from it"
                );
                slot.failure = None;
                slot.zygote = Some(zygote.clone());
                Some(zygote)
            }
            Err(error) => {
                // Said once per distinct reason; the instances start the
                // ordinary way until the next try.
                let reason = error.to_string();
                if slot.failure.as_ref().map(|(_, r)| r) != Some(&reason) {
                    tracing::warn!(
                        python = %interpreter,
                        %reason,
                        "no zygote: python instances start their own interpreter"
                    );
                }
                slot.failure = Some((Instant::now(), reason));
                None
            }
        }
    }
}

/// How long after a failed start a zygote is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// How long a zygote may take to import what it preloads.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a zygote may take to answer a fork.
const FORK_TIMEOUT: Duration = Duration::from_secs(10);
/// The room a zygote keeps for an instance's environment (see `zygote.py`);
/// a larger environment starts the ordinary way.
const ENV_SPACE_BYTES: usize = 16 * 1024;
/// The variable holding that room.
const ENV_SPACE_VARIABLE: &str = "_RAYO_ZYGOTE_ENV_SPACE";
/// The largest message a zygote sends.
const MAX_REPLY_BYTES: usize = 64 * 1024;
/// The process limit of a cgroup made ahead; the instance's own replaces it.
const SPARE_PIDS_MAX: u32 = 1024;

#[derive(Debug, Default)]
struct Manager {
    /// By interpreter executable.
    slots: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<Slot>>>>,
}

#[derive(Debug, Default)]
struct Slot {
    zygote: Option<Arc<Zygote>>,
    /// When and why the last start failed.
    failure: Option<(Instant, String)>,
}

/// A running zygote.
#[derive(Debug)]
pub(crate) struct Zygote {
    pid: u32,
    /// Its modules, for [`fit`].
    pub(crate) preloaded: Preloaded,
    socket: Arc<UnixDatagram>,
    shared: Arc<Shared>,
    support: Arc<SandboxSupport>,
    /// Killed when the zygote is dropped.
    _process: tokio::process::Child,
}

/// What the reply reader and the requesters share.
#[derive(Debug, Default)]
struct Shared {
    alive: AtomicBool,
    next_id: AtomicU64,
    pending: Mutex<HashMap<u64, oneshot::Sender<Result<Forked, String>>>>,
    exits: Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>,
    /// The cgroup made ahead for the next instance.
    spare: Mutex<Option<SpareCgroup>>,
}

/// A cgroup made ahead for the next instance, into which the zygote moves
/// the processes it forked ahead (its spare) while it has nothing else to
/// do: moving a process waits for an RCU grace period, which can take
/// milliseconds, better not spent during a cold start. The next instance
/// takes it whether or not the move is done (the zygote moves whatever
/// serves the instance into the instance's cgroup, if it is not there).
#[derive(Debug)]
struct SpareCgroup {
    cgroup: Cgroup,
    /// Whether the zygote has been told of it: only then may an instance
    /// take it, so that the zygote never hears of it after a request for it.
    announced: bool,
}

/// The modules a zygote imported beyond the runtime's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Preloaded {
    /// Its Python version.
    pub(crate) version: String,
    /// Top-level standard modules.
    pub(crate) stdlib: HashSet<String>,
    /// Top-level third-party modules (boto3 and its dependencies).
    pub(crate) third_party: HashSet<String>,
    /// rayo's own package directories those came from, which instances must
    /// see at the same path.
    pub(crate) third_party_dirs: Vec<PathBuf>,
}

/// A message from a zygote.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Message {
    Ready(Preloaded),
    Prepared { id: u64 },
    Forked { id: u64, pid: i32 },
    Refused { id: u64, error: String },
    Exited { pid: i32, status: i32 },
}

/// One instance's request, besides its log pipe.
#[derive(Debug)]
pub(crate) struct ForkRequest<'a> {
    /// The sandbox.
    pub(crate) spec: &'a ForkSpec,
    /// The runtime's `sys.argv`.
    pub(crate) argv: Vec<String>,
    /// The command line the instance shows (`/proc/self/cmdline`).
    pub(crate) cmdline: Vec<String>,
    /// Whether the zygote's third-party modules are forgotten first.
    pub(crate) purge_third_party: bool,
}

impl Zygote {
    async fn start(
        catalog: &RuntimeCatalog,
        support: &Arc<SandboxSupport>,
        interpreter: &PythonInterpreter,
        sandbox_bootstrap: &Path,
    ) -> io::Result<Zygote> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        set_nonblocking(&ours)?;
        // Tokio has no sequenced-packet socket; its datagram socket reads
        // and writes one message at a time, which is what this one needs.
        let socket = Arc::new(UnixDatagram::from_std(
            std::os::unix::net::UnixDatagram::from(ours),
        )?);

        let runtime_dir = catalog.runtime_dir();
        let mut command = tokio::process::Command::new(&interpreter.executable);
        command
            .arg("-s")
            .arg("-B")
            .arg(catalog.zygote_py())
            .arg("--runtime")
            .arg(runtime_dir.join("python").join("bootstrap.py"))
            .arg("--runtime-as")
            .arg(sandbox_bootstrap);
        let support_dir = catalog.support_site_packages(interpreter.minor);
        if support_dir.is_dir() {
            command.arg("--path").arg(&support_dir);
        }
        command
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .env("LANG", "en_US.UTF-8")
            .env("TZ", ":UTC")
            .env("PYTHONUNBUFFERED", "1")
            .env(ENV_SPACE_VARIABLE, "x".repeat(ENV_SPACE_BYTES))
            .current_dir("/")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Not in rayo's process group: a Ctrl-C at rayo's terminal must
            // not end the instances before rayo's own orderly shutdown.
            .process_group(0)
            .kill_on_drop(true);
        let mut process = command.spawn()?;
        let pid = process.id().unwrap_or_default();
        if let Some(stderr) = process.stderr.take() {
            let python = interpreter.version.clone();
            tokio::spawn(async move {
                let mut lines = tokio::io::BufReader::new(stderr).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::warn!(%python, zygote = pid, "{line}");
                }
            });
        }

        let mut buffer = vec![0u8; MAX_REPLY_BYTES];
        let first = tokio::time::timeout(START_TIMEOUT, receive(&socket, &mut buffer)).await;
        let preloaded = match first {
            Ok(Ok(0)) => return Err(io::Error::other("the zygote exited while starting")),
            Ok(Ok(n)) => match parse_message(&buffer[..n]) {
                Ok(Message::Ready(preloaded)) => preloaded,
                Ok(other) => {
                    return Err(io::Error::other(format!("the zygote began with {other:?}")));
                }
                Err(error) => return Err(io::Error::other(error)),
            },
            Ok(Err(error)) => return Err(error),
            Err(_) => {
                return Err(io::Error::other(format!(
                    "the zygote was not ready within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
        };
        let shared = Arc::new(Shared::default());
        shared.alive.store(true, Ordering::SeqCst);
        shared.next_id.store(1, Ordering::Relaxed);
        tokio::spawn(read_replies(socket.clone(), shared.clone(), buffer));
        Ok(Zygote {
            pid,
            preloaded,
            socket,
            shared,
            support: support.clone(),
            _process: process,
        })
    }

    /// Makes a cgroup for the next instance, in the background, and asks the
    /// zygote to move its spare into it; nothing when one is made already.
    fn prepare_spare(self: &Arc<Self>) {
        let zygote = self.clone();
        tokio::spawn(async move {
            if !zygote.is_alive() || lock(&zygote.shared.spare).is_some() {
                return;
            }
            let id = zygote.shared.next_id.fetch_add(1, Ordering::Relaxed);
            let support = zygote.support.clone();
            let name = format!("zygote-{}-{id}", zygote.pid);
            let made = tokio::task::spawn_blocking(move || {
                rayo_sandbox::spare_cgroup(&support, &name, SPARE_PIDS_MAX)
            })
            .await;
            let cgroup = match made {
                Ok(Ok(cgroup)) => cgroup,
                Ok(Err(error)) => {
                    tracing::debug!(%error, "no cgroup made ahead for the next instance");
                    return;
                }
                Err(_) => return,
            };
            let procs = cgroup.procs_files();
            {
                let mut spare = lock(&zygote.shared.spare);
                if spare.is_some() {
                    // Another task made one meanwhile.
                    drop(spare);
                    tokio::task::spawn_blocking(move || drop(cgroup));
                    return;
                }
                *spare = Some(SpareCgroup {
                    cgroup,
                    announced: false,
                });
            }
            let document = serde_json::json!({ "prepare": { "id": id, "cgroup_procs": procs } });
            let bytes = serde_json::to_vec(&document).expect("a JSON value always encodes");
            match send(&zygote.socket, &bytes, None).await {
                Ok(()) => {
                    if let Some(spare) = lock(&zygote.shared.spare).as_mut() {
                        spare.announced = true;
                    }
                }
                Err(error) => tracing::debug!(%error, "asking the zygote to prepare its spare"),
            }
        });
    }

    /// The cgroup made ahead (the zygote's spare may be in it already), if
    /// there is one; the next one is prepared meanwhile.
    pub(crate) fn take_spare_cgroup(self: &Arc<Self>) -> Option<Cgroup> {
        let taken = {
            let mut spare = lock(&self.shared.spare);
            match spare.as_ref() {
                Some(made) if made.announced => spare.take().map(|spare| spare.cgroup),
                _ => None,
            }
        };
        if taken.is_some() {
            self.prepare_spare();
        }
        taken
    }

    fn is_alive(&self) -> bool {
        self.shared.alive.load(Ordering::SeqCst)
    }

    /// Forks an instance: sends the request with `log` attached and waits
    /// for the PID of its host-side process.
    pub(crate) async fn fork(
        &self,
        request: &ForkRequest<'_>,
        log: BorrowedFd<'_>,
    ) -> Result<Forked, String> {
        if !self.is_alive() {
            return Err("the zygote has ended".to_string());
        }
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let document = encode_request(id, request);
        let (reply, answer) = oneshot::channel();
        lock(&self.shared.pending).insert(id, reply);
        if let Err(error) = send(&self.socket, &document, Some(log)).await {
            self.forget(id);
            return Err(format!("sending the request to the zygote: {error}"));
        }
        match tokio::time::timeout(FORK_TIMEOUT, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err("the zygote ended before answering".to_string()),
            Err(_) => {
                self.forget(id);
                // A zygote that hangs would hold up every cold start: end
                // it, and the next need starts another.
                self.shared.alive.store(false, Ordering::SeqCst);
                if let Ok(pid) = i32::try_from(self.pid)
                    && pid > 0
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
                Err(format!(
                    "the zygote did not answer within {} s",
                    FORK_TIMEOUT.as_secs()
                ))
            }
        }
    }

    fn forget(&self, id: u64) {
        lock(&self.shared.pending).remove(&id);
    }
}

/// An instance's processes forked by a zygote: PID 1 of the instance's PID
/// namespace, and the runtime below it.
#[derive(Debug)]
pub(crate) struct Forked {
    /// PID 1 of the instance's namespace, as the host sees it: the leader
    /// of the instance's process group.
    pub(crate) pid: i32,
    exit: oneshot::Receiver<ExitStatus>,
    ended: Option<Option<ExitStatus>>,
}

impl Forked {
    /// Waits for the instance to end, with the runtime's wait status; an
    /// error when the zygote ended first (and, with it, the instance).
    pub(crate) async fn wait(&mut self) -> io::Result<ExitStatus> {
        let ended = match self.ended {
            Some(ended) => ended,
            None => {
                let ended = (&mut self.exit).await.ok();
                self.ended = Some(ended);
                ended
            }
        };
        ended.ok_or_else(|| io::Error::other("the zygote that forked the instance ended"))
    }
}

/// Whether an instance of a function can be forked from a zygote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fit {
    /// It can; with the zygote's third-party modules forgotten first when
    /// the function's package has its own copy of one.
    Fork { purge_third_party: bool },
    /// It cannot, for this reason.
    Spawn(String),
}

/// Decides from the function's own environment variables, the size of the
/// instance's whole environment and the top-level entries of its package
/// (name, whether a directory) whether an instance can come from a zygote
/// with `preloaded` modules.
pub(crate) fn fit(
    function_env: &[(&str, &str)],
    env_bytes: usize,
    package_entries: &[(String, bool)],
    preloaded: &Preloaded,
) -> Fit {
    // Read by the interpreter or the dynamic loader as a process starts,
    // which a forked instance does not do.
    if let Some((name, _)) = function_env.iter().find(|(name, _)| {
        name.starts_with("PYTHON") || name.starts_with("LD_") || name.starts_with("LC_")
    }) {
        return Fit::Spawn(format!("the function sets {name}"));
    }
    if env_bytes > ENV_SPACE_BYTES {
        return Fit::Spawn(format!(
            "its environment is larger than {ENV_SPACE_BYTES} bytes"
        ));
    }
    let mut purge_third_party = false;
    for (entry, is_dir) in package_entries {
        if !is_dir && entry.ends_with(".pth") {
            return Fit::Spawn(format!("its package has a path file, {entry}"));
        }
        let Some(module) = module_name(entry, *is_dir) else {
            continue;
        };
        if preloaded.stdlib.contains(module) {
            return Fit::Spawn(format!(
                "its package has its own {module}, a standard module the zygote imported"
            ));
        }
        if preloaded.third_party.contains(module) {
            purge_third_party = true;
        }
    }
    Fit::Fork { purge_third_party }
}

/// The top-level module a package entry would be imported as, if any.
fn module_name(entry: &str, is_dir: bool) -> Option<&str> {
    if is_dir {
        return Some(entry);
    }
    let (stem, _) = entry.split_once('.')?;
    let extension = entry.rsplit('.').next()?;
    matches!(extension, "py" | "pyc" | "so" | "pyd").then_some(stem)
}

/// The size of an environment as the zygote lays it out: `NAME=value\0`
/// for each name, a later value of a name winning.
pub(crate) fn environment_bytes(env: &[(String, String)]) -> usize {
    let mut by_name: HashMap<&str, &str> = HashMap::new();
    for (name, value) in env {
        by_name.insert(name, value);
    }
    by_name
        .iter()
        .map(|(name, value)| name.len() + value.len() + 2)
        .sum()
}

fn encode_request(id: u64, request: &ForkRequest<'_>) -> Vec<u8> {
    let document = serde_json::json!({
        "id": id,
        "fork": request.spec,
        "argv": request.argv,
        "cmdline": request.cmdline,
        "purge_third_party": request.purge_third_party,
    });
    serde_json::to_vec(&document).expect("a JSON value always encodes")
}

fn parse_message(bytes: &[u8]) -> Result<Message, String> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| format!("a message from the zygote is not JSON: {error}"))?;
    let bad = || format!("unexpected message from the zygote: {value}");
    if let Some(ready) = value.get("ready") {
        let names = |key: &str| -> HashSet<String> {
            ready
                .get(key)
                .and_then(Value::as_array)
                .map(|names| {
                    names
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        return Ok(Message::Ready(Preloaded {
            version: ready
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            stdlib: names("stdlib"),
            third_party: names("third_party"),
            third_party_dirs: names("third_party_dirs")
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        }));
    }
    let int = |key: &str| value.get(key).and_then(Value::as_i64);
    if let Some(id) = value.get("prepared").and_then(Value::as_u64) {
        return Ok(Message::Prepared { id });
    }
    if let Some(pid) = int("exit") {
        let status = int("status").ok_or_else(bad)?;
        return Ok(Message::Exited {
            pid: i32::try_from(pid).map_err(|_| bad())?,
            status: i32::try_from(status).map_err(|_| bad())?,
        });
    }
    let id = value.get("id").and_then(Value::as_u64).ok_or_else(bad)?;
    if let Some(pid) = int("pid").filter(|pid| *pid > 0) {
        return Ok(Message::Forked {
            id,
            pid: i32::try_from(pid).map_err(|_| bad())?,
        });
    }
    if let Some(error) = value.get("error").and_then(Value::as_str) {
        return Ok(Message::Refused {
            id,
            error: error.to_string(),
        });
    }
    Err(bad())
}

/// Hands each answer to its requester and each exit to its instance, until
/// the zygote is gone.
async fn read_replies(socket: Arc<UnixDatagram>, shared: Arc<Shared>, mut buffer: Vec<u8>) {
    loop {
        let n = match receive(&socket, &mut buffer).await {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "reading from the zygote");
                break;
            }
        };
        match parse_message(&buffer[..n]) {
            Ok(Message::Forked { id, pid }) => {
                // Registered before anyone can wait, and before the zygote
                // can report the exit: it reports after it answers.
                let (exited, exit) = oneshot::channel();
                lock(&shared.exits).insert(pid, exited);
                let forked = Forked {
                    pid,
                    exit,
                    ended: None,
                };
                let requester = lock(&shared.pending).remove(&id);
                let unwanted = match requester {
                    Some(requester) => requester.send(Ok(forked)).is_err(),
                    None => true,
                };
                if unwanted && pid > 0 {
                    // Nobody waits for this instance any more.
                    let _ = nix::sys::signal::killpg(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            Ok(Message::Refused { id, error }) => {
                let requester = lock(&shared.pending).remove(&id);
                if let Some(requester) = requester {
                    let _ = requester.send(Err(error));
                }
            }
            Ok(Message::Exited { pid, status }) => {
                let instance = lock(&shared.exits).remove(&pid);
                if let Some(instance) = instance {
                    let _ = instance.send(ExitStatus::from_raw(status));
                }
            }
            Ok(Message::Prepared { id }) => {
                tracing::trace!(id, "the zygote's spare is in the cgroup made ahead");
            }
            Ok(Message::Ready(_)) => {}
            Err(error) => tracing::warn!(%error, "ignored a message from the zygote"),
        }
    }
    shared.alive.store(false, Ordering::SeqCst);
    // Requesters and instances learn it as their channels close.
    lock(&shared.pending).clear();
    lock(&shared.exits).clear();
}

/// Sends one message, with `fd` attached when given.
async fn send(socket: &UnixDatagram, bytes: &[u8], fd: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let fds: Vec<i32> = fd.iter().map(AsRawFd::as_raw_fd).collect();
    let iov = [IoSlice::new(bytes)];
    socket
        .async_io(Interest::WRITABLE, || {
            let rights = [ControlMessage::ScmRights(&fds)];
            let control: &[ControlMessage<'_>] = if fds.is_empty() { &[] } else { &rights };
            sendmsg::<()>(
                socket.as_raw_fd(),
                &iov,
                control,
                MsgFlags::MSG_NOSIGNAL,
                None,
            )
            .map_err(io::Error::from)
        })
        .await
        .map(|_| ())
}

/// Receives one message into `buffer`; 0 at the end.
async fn receive(socket: &UnixDatagram, buffer: &mut [u8]) -> io::Result<usize> {
    socket.recv(buffer).await
}

/// Locks a table; one left poisoned by a panic is still consistent (each
/// critical section is a single map operation), so it is used as it is.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{FcntlArg, OFlag, fcntl};
    let flags = OFlag::from_bits_truncate(fcntl(fd.as_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preloaded() -> Preloaded {
        Preloaded {
            version: "3.11.7".to_string(),
            stdlib: ["uuid", "decimal", "xml"].map(str::to_string).into(),
            third_party: ["boto3", "botocore", "six"].map(str::to_string).into(),
            third_party_dirs: Vec::new(),
        }
    }

    fn check(env: &[(&str, &str)], entries: &[(&str, bool)], expected: Fit) {
        let entries: Vec<(String, bool)> =
            entries.iter().map(|(n, d)| (n.to_string(), *d)).collect();
        assert_eq!(
            fit(env, 100, &entries, &preloaded()),
            expected,
            "{env:?} {entries:?}"
        );
    }

    #[test]
    fn decides_which_functions_fork() {
        let fork = Fit::Fork {
            purge_third_party: false,
        };
        let purge = Fit::Fork {
            purge_third_party: true,
        };
        check(&[], &[("app.py", false)], fork.clone());
        check(
            &[("COLOR", "red"), ("PYTHON_IS_GREAT", "1")],
            &[],
            Fit::Spawn("the function sets PYTHON_IS_GREAT".to_string()),
        );
        check(
            &[("LD_PRELOAD", "/tmp/x.so")],
            &[],
            Fit::Spawn("the function sets LD_PRELOAD".to_string()),
        );
        check(
            &[("LC_ALL", "C")],
            &[],
            Fit::Spawn("the function sets LC_ALL".to_string()),
        );
        // Its own boto3, or a module that is a file, or a native one.
        check(&[], &[("app.py", false), ("boto3", true)], purge.clone());
        check(&[], &[("six.py", false)], purge.clone());
        check(
            &[],
            &[("botocore.cpython-311-x86_64-linux-gnu.so", false)],
            purge,
        );
        // Shadowing a standard module the zygote imported.
        check(
            &[],
            &[("uuid.py", false)],
            Fit::Spawn(
                "its package has its own uuid, a standard module the zygote imported".to_string(),
            ),
        );
        check(
            &[],
            &[("xml", true)],
            Fit::Spawn(
                "its package has its own xml, a standard module the zygote imported".to_string(),
            ),
        );
        check(
            &[],
            &[("extra.pth", false)],
            Fit::Spawn("its package has a path file, extra.pth".to_string()),
        );
        // Names that are not modules, or not these.
        check(
            &[],
            &[
                ("uuid.txt", false),
                ("README", false),
                ("data", true),
                ("boto3.json", false),
            ],
            fork,
        );
    }

    #[test]
    fn a_large_environment_spawns() {
        assert!(matches!(
            fit(&[], ENV_SPACE_BYTES + 1, &[], &preloaded()),
            Fit::Spawn(_)
        ));
        let env = vec![
            ("A".to_string(), "1".to_string()),
            ("B".to_string(), "22".to_string()),
            ("A".to_string(), "333".to_string()),
        ];
        assert_eq!(environment_bytes(&env), "A=333\0".len() + "B=22\0".len());
    }

    #[test]
    fn parses_the_zygote_s_messages() {
        let check = |text: &str, expected: Message| {
            assert_eq!(parse_message(text.as_bytes()), Ok(expected), "{text}");
        };
        check(
            r#"{"id": 7, "pid": 4242}"#,
            Message::Forked { id: 7, pid: 4242 },
        );
        check(
            r#"{"id": 8, "error": "fork: Resource temporarily unavailable (os error 11)"}"#,
            Message::Refused {
                id: 8,
                error: "fork: Resource temporarily unavailable (os error 11)".to_string(),
            },
        );
        check(r#"{"prepared": 3}"#, Message::Prepared { id: 3 });
        check(
            r#"{"exit": 4242, "status": 9}"#,
            Message::Exited {
                pid: 4242,
                status: 9,
            },
        );
        check(
            r#"{"ready": {"version": "3.11.7", "pid": 77, "stdlib": ["uuid"], "third_party": ["boto3"], "third_party_dirs": ["/srv/site"]}}"#,
            Message::Ready(Preloaded {
                version: "3.11.7".to_string(),
                stdlib: ["uuid".to_string()].into(),
                third_party: ["boto3".to_string()].into(),
                third_party_dirs: vec![PathBuf::from("/srv/site")],
            }),
        );
        for bad in [
            "not json",
            "{}",
            r#"{"id": 1}"#,
            r#"{"exit": 1}"#,
            r#"{"id": -1, "pid": 3}"#,
            r#"{"id": 1, "pid": 0}"#,
            r#"{"id": 1, "pid": -5}"#,
        ] {
            assert!(parse_message(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn wait_statuses_read_as_exit_reasons() {
        // The zygote reports raw wait statuses: an exit code in the second
        // byte, or the signal in the low bits.
        let status = |raw: i32| ExitStatus::from_raw(raw);
        assert_eq!(status(0).code(), Some(0));
        assert_eq!(status(1 << 8).code(), Some(1));
        assert_eq!(status(126 << 8).code(), Some(126));
        assert_eq!(status(9).signal(), Some(9));
        assert_eq!(status(15).signal(), Some(15));
    }

    #[test]
    fn requests_carry_the_spec_and_the_runtime_s_command_line() {
        let spec = ForkSpec {
            version: rayo_sandbox::wire::FORK_VERSION,
            cgroup_procs: vec![PathBuf::from("/sys/fs/cgroup/rayo/a/cgroup.procs")],
            hostname: "rayo-a".to_string(),
            uid: 200_001,
            gid: 200_001,
            env: vec![("A".to_string(), "1".to_string())],
            cwd: PathBuf::from("/var/task"),
            mounts: Vec::new(),
            seccomp: vec!["2000000004000000".to_string()],
            syscalls: rayo_sandbox::wire::SyscallNumbers::native(),
        };
        let request = ForkRequest {
            spec: &spec,
            argv: vec!["/var/runtime/python/bootstrap.py".to_string()],
            cmdline: vec![
                "/usr/bin/python3.11".to_string(),
                "/var/runtime/python/bootstrap.py".to_string(),
            ],
            purge_third_party: true,
        };
        let value: Value = serde_json::from_slice(&encode_request(3, &request)).unwrap();
        assert_eq!(value["id"], 3);
        assert_eq!(value["fork"]["version"], rayo_sandbox::wire::FORK_VERSION);
        assert_eq!(value["fork"]["env"], serde_json::json!([["A", "1"]]));
        assert_eq!(value["fork"]["cwd"], "/var/task");
        assert_eq!(
            value["argv"],
            serde_json::json!(["/var/runtime/python/bootstrap.py"])
        );
        assert_eq!(value["cmdline"][0], "/usr/bin/python3.11");
        assert_eq!(value["purge_third_party"], true);
    }
}
