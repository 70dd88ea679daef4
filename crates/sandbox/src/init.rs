//! The sandbox init: the code between rayo's re-execution as
//! `__sandbox-init` and the function program's `execve`.
//!
//! Three processes take part. The host-side init reads the spec, opens the
//! cgroup's files, enters new mount, PID, IPC and UTS namespaces and forks;
//! it moves its child into the cgroup (while the child builds the root:
//! a cgroup move waits for an RCU grace period), then waits and exits the
//! way the program did. Its child is PID 1 of the new namespace: it builds
//! the root file system, sets the host name, waits for the word that it is
//! in the cgroup, forks the program's process and reaps whatever is orphaned
//! until that process ends. The program's process drops every privilege,
//! installs the seccomp filter and executes the program. Every failure is
//! reported on stderr (the instance's log) and ends the init with status
//! 126.

use std::convert::Infallible;
use std::ffi::CString;
use std::fmt::Display;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::prctl;
use nix::sys::resource::{Resource, setrlimit};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, umask};
use nix::unistd::{ForkResult, Gid, Pid, Uid, chdir, execve, getppid, pipe2, sethostname};

use crate::wire::{InitSpec, VERSION};
use crate::{mounts, seccomp, sys};

/// The exit status of an init that failed before the program started.
pub(crate) const INIT_FAILED: i32 = 126;

/// Runs the sandbox init: reads the [`InitSpec`] on standard input, builds
/// the sandbox and executes the program in it. Never returns.
///
/// Call it first thing in `main` for the hidden `__sandbox-init` subcommand,
/// before any thread is started (it forks) and before any file is opened.
pub fn init_main() -> ! {
    let failure = match host_side() {
        Ok(never) => match never {},
        Err(failure) => failure,
    };
    let message = format!("rayo sandbox: {}: {}\n", failure.what, failure.error);
    let _ = std::io::stderr().write_all(message.as_bytes());
    std::process::exit(INIT_FAILED)
}

/// What went wrong, for the log.
#[derive(Debug)]
pub(crate) struct Failure {
    what: String,
    error: String,
}

/// Turns an error into a [`Failure`] saying what was being done.
pub(crate) fn failed<E: Display>(what: impl Into<String>) -> impl FnOnce(E) -> Failure {
    let what = what.into();
    move |error| Failure {
        what,
        error: error.to_string(),
    }
}

fn failure(what: &str, error: &str) -> Failure {
    Failure {
        what: what.to_string(),
        error: error.to_string(),
    }
}

/// The spawned process: everything up to the fork into the new PID namespace.
fn host_side() -> Result<Infallible, Failure> {
    // A core dump could be handed to a host helper outside the sandbox.
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(failed("disabling core dumps"))?;
    ensure_single_threaded()?;
    let spec = read_spec()?;
    stdin_from_dev_null()?;
    sys::close_fds_from(3).map_err(failed("closing inherited files"))?;

    prctl::set_pdeathsig(Signal::SIGKILL).map_err(failed("setting the parent-death signal"))?;
    if u32::try_from(getppid().as_raw()).ok() != Some(spec.parent_pid) {
        return Err(failure(
            "starting",
            "the process that spawned the sandbox is gone",
        ));
    }
    // Shields the init from the OOM killer where rayo may (it takes
    // CAP_SYS_RESOURCE); the program's score goes to the top below anyway.
    let _ = std::fs::write("/proc/self/oom_score_adj", "-1000");

    let cgroups = open_cgroups(&spec)?;
    unshare(
        CloneFlags::CLONE_NEWNS
            | CloneFlags::CLONE_NEWPID
            | CloneFlags::CLONE_NEWIPC
            | CloneFlags::CLONE_NEWUTS,
    )
    .map_err(failed("unshare"))?;
    let (status_reader, status_writer) =
        pipe2(OFlag::O_CLOEXEC).map_err(failed("creating the status pipe"))?;
    let (joined_reader, joined_writer) =
        pipe2(OFlag::O_CLOEXEC).map_err(failed("creating the cgroup pipe"))?;
    match sys::fork().map_err(failed("fork"))? {
        ForkResult::Parent { child } => {
            drop(status_writer);
            drop(joined_reader);
            // Moving a process between cgroups waits for an RCU grace
            // period; doing it here lets the namespace init build the root
            // meanwhile. It waits for the word before it forks the program.
            match join_cgroups(cgroups, child) {
                Ok(()) => {
                    // A namespace init that is gone has said why already.
                    let _ = std::fs::File::from(joined_writer).write_all(b"j");
                }
                // It is gone (it failed and said why); its status tells.
                Err((error, _)) if error.raw_os_error() == Some(libc::ESRCH) => {}
                Err((error, procs)) => {
                    let _ = kill(child, Signal::SIGKILL);
                    return Err(failed(format!("joining cgroup {}", procs.display()))(error));
                }
            }
            supervise(child, status_reader)
        }
        ForkResult::Child => {
            drop(status_reader);
            drop(joined_writer);
            drop(cgroups);
            namespace_init(&spec, status_writer, joined_reader)
        }
    }
}

/// Opens the instance's cgroup files while the host's root is still the
/// init's: the namespace init is about to change it for both.
fn open_cgroups(spec: &InitSpec) -> Result<Vec<(std::fs::File, &Path)>, Failure> {
    let mut files = Vec::with_capacity(spec.cgroup_procs.len());
    for procs in &spec.cgroup_procs {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(procs)
            .map_err(failed(format!("opening cgroup {}", procs.display())))?;
        files.push((file, procs.as_path()));
    }
    Ok(files)
}

/// Puts the namespace init, and so everything it will start, in the
/// instance's cgroup. The host-side init stays outside: it only waits.
/// On failure, says which file refused the PID.
fn join_cgroups(
    cgroups: Vec<(std::fs::File, &Path)>,
    namespace_init: Pid,
) -> Result<(), (std::io::Error, &Path)> {
    let pid = namespace_init.to_string();
    for (mut file, procs) in cgroups {
        file.write_all(pid.as_bytes())
            .map_err(|error| (error, procs))?;
    }
    Ok(())
}

/// Waits for PID 1 of the namespace and exits the way the program did.
fn supervise(namespace_init: Pid, status_reader: OwnedFd) -> Result<Infallible, Failure> {
    let (_, init_outcome) =
        sys::wait(namespace_init.as_raw()).map_err(failed("waiting for the namespace init"))?;
    let mut reported = [0u8; 4];
    let mut reader = std::fs::File::from(status_reader);
    let outcome = match reader.read_exact(&mut reported) {
        Ok(()) => Outcome::decode(i32::from_le_bytes(reported)),
        // The namespace init died before the program ended (it was killed,
        // or it failed and said why on stderr).
        Err(_) => init_outcome.unwrap_or(Outcome::Exited(INIT_FAILED)),
    };
    match outcome {
        Outcome::Exited(code) => std::process::exit(code),
        Outcome::Killed(signal) => sys::die_of(signal),
    }
}

/// How the program's process ended, as PID 1 tells the host-side init.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It exited with this status.
    Exited(i32),
    /// It was killed by this signal.
    Killed(i32),
}

impl Outcome {
    /// Non-negative for an exit status, the negated signal number otherwise.
    pub(crate) fn encode(self) -> i32 {
        match self {
            Outcome::Exited(code) => code & 0xff,
            Outcome::Killed(signal) => -signal,
        }
    }

    pub(crate) fn decode(value: i32) -> Outcome {
        if value < 0 {
            Outcome::Killed(-value)
        } else {
            Outcome::Exited(value)
        }
    }
}

/// PID 1 of the new namespace.
fn namespace_init(
    spec: &InitSpec,
    status_writer: OwnedFd,
    joined_reader: OwnedFd,
) -> Result<Infallible, Failure> {
    // The host-side init can only die by a signal from outside; take the
    // whole namespace with it then.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(failed("setting the parent-death signal"))?;
    umask(Mode::empty());
    mounts::build_root(&spec.mounts)?;
    sethostname(&spec.hostname).map_err(failed("setting the host name"))?;
    let filters = seccomp::filters().map_err(failed("building the seccomp filter"))?;
    let program = Program::new(spec)?;

    let mut joined = [0u8; 1];
    if std::fs::File::from(joined_reader)
        .read_exact(&mut joined)
        .is_err()
    {
        // The host-side init failed to place it in the cgroup and says so.
        std::process::exit(INIT_FAILED);
    }

    let runtime = match sys::fork().map_err(failed("fork"))? {
        ForkResult::Child => return run_program(spec, &program, &filters),
        ForkResult::Parent { child } => child,
    };
    let mut status_writer = std::fs::File::from(status_writer);
    loop {
        let outcome = match sys::wait(-1) {
            Ok((pid, Some(outcome))) if pid == runtime.as_raw() => outcome,
            // An orphan, reaped, or a stop.
            Ok(_) => continue,
            Err(error) => return Err(failed("waiting for the program")(error)),
        };
        // Nobody may be left to read this; the exit status still tells.
        let _ = status_writer.write_all(&outcome.encode().to_le_bytes());
        // Leaving kills everything else in the namespace.
        std::process::exit(0);
    }
}

/// The program's path, arguments and environment, ready for `execve`.
struct Program {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
}

impl Program {
    fn new(spec: &InitSpec) -> Result<Program, Failure> {
        let c_string =
            |bytes: &[u8]| CString::new(bytes).map_err(failed("preparing the program's arguments"));
        let path = c_string(spec.program.as_os_str().as_bytes())?;
        let mut argv = vec![path.clone()];
        for arg in &spec.args {
            argv.push(c_string(arg.as_bytes())?);
        }
        let mut envp = Vec::with_capacity(spec.env.len());
        for (key, value) in &spec.env {
            envp.push(c_string(format!("{key}={value}").as_bytes())?);
        }
        let cwd = c_string(spec.cwd.as_os_str().as_bytes())?;
        Ok(Program {
            path,
            argv,
            envp,
            cwd,
        })
    }
}

/// The program's process: drops privileges and becomes the program.
fn run_program(
    spec: &InitSpec,
    program: &Program,
    filters: &[seccompiler::BpfProgram],
) -> Result<Infallible, Failure> {
    sys::reset_signals().map_err(failed("resetting signal handling"))?;
    // The OOM killer picks the program or its children first: within the
    // cgroup, so the init can report the kill as the program's own death,
    // and on the host, before rayo itself.
    std::fs::write("/proc/self/oom_score_adj", "1000").map_err(failed("raising the OOM score"))?;
    umask(Mode::from_bits_truncate(0o022));
    setrlimit(
        Resource::RLIMIT_NOFILE,
        crate::OPEN_FILES_MAX,
        crate::OPEN_FILES_MAX,
    )
    .map_err(failed("limiting open files"))?;

    // Only possible while still holding CAP_SETPCAP.
    sys::drop_bounding_set().map_err(failed("dropping the capability bounding set"))?;
    sys::clear_ambient_capabilities().map_err(failed("clearing ambient capabilities"))?;
    nix::unistd::setgroups(&[]).map_err(failed("setgroups"))?;
    let gid = Gid::from_raw(spec.gid);
    let uid = Uid::from_raw(spec.uid);
    nix::unistd::setresgid(gid, gid, gid).map_err(failed("setresgid"))?;
    nix::unistd::setresuid(uid, uid, uid).map_err(failed("setresuid"))?;
    sys::clear_capabilities().map_err(failed("clearing capabilities"))?;
    prctl::set_no_new_privs().map_err(failed("setting no_new_privs"))?;
    // After the user change, which clears it.
    prctl::set_pdeathsig(Signal::SIGKILL).map_err(failed("setting the parent-death signal"))?;
    if getppid() != Pid::from_raw(1) {
        return Err(failure("starting", "the namespace init is gone"));
    }
    chdir(program.cwd.as_c_str()).map_err(failed(format!("entering {}", spec.cwd.display())))?;
    for filter in filters {
        seccompiler::apply_filter(filter).map_err(failed("installing the seccomp filter"))?;
    }
    let errno = match execve(&program.path, &program.argv, &program.envp) {
        Ok(never) => match never {},
        Err(errno) => errno,
    };
    Err(failed(format!("executing {}", spec.program.display()))(
        errno,
    ))
}

fn ensure_single_threaded() -> Result<(), Failure> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(failed("reading /proc/self/status"))?;
    let threads = status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .map(str::trim);
    if threads != Some("1") {
        return Err(failure(
            "starting",
            "init_main must run before any thread starts",
        ));
    }
    Ok(())
}

fn read_spec() -> Result<InitSpec, Failure> {
    let mut json = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut json)
        .map_err(failed("reading the spec"))?;
    let spec: InitSpec = serde_json::from_slice(&json).map_err(failed("parsing the spec"))?;
    if spec.version != VERSION {
        return Err(failure(
            "parsing the spec",
            &format!("version {} where {VERSION} was expected", spec.version),
        ));
    }
    Ok(spec)
}

fn stdin_from_dev_null() -> Result<(), Failure> {
    let null = std::fs::File::open(Path::new("/dev/null")).map_err(failed("opening /dev/null"))?;
    nix::unistd::dup2_stdin(&null).map_err(failed("making /dev/null stdin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_round_trips() {
        for outcome in [
            Outcome::Exited(0),
            Outcome::Exited(1),
            Outcome::Exited(255),
            Outcome::Killed(9),
            Outcome::Killed(15),
        ] {
            assert_eq!(Outcome::decode(outcome.encode()), outcome);
        }
    }
}
