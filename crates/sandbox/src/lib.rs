//! How a function instance's process is started: either as a plain host
//! process ([`command`], the `--insecure-no-sandbox` mode) or inside a
//! sandbox ([`sandboxed_command`]): its own mount, PID, IPC and UTS
//! namespaces, a read-only root built from bind mounts, a size-capped `/tmp`,
//! a per-instance cgroup capping memory, CPU and process count, an
//! unprivileged user without capabilities, and a seccomp filter.
//!
//! # How a sandbox starts
//!
//! [`sandboxed_command`] creates the instance's cgroup and returns a command
//! that runs the init program (by default `/proc/self/exe __sandbox-init`,
//! that is rayo itself, whose `main` must call [`init_main`] for that
//! subcommand before it starts any thread). The command's standard input is
//! a pipe holding the instance's [`wire`] document, a JSON object, already
//! written and closed; its stdout and stderr are the instance's log pipe.
//! The init enters new namespaces, puts its child in the cgroup, builds the
//! mounts, drops privileges, installs the seccomp filter and executes the
//! function's program with stdin on `/dev/null`. Any failure before that
//! exec is written to the log as `rayo sandbox: <what failed>: <error>` and
//! the init exits with status 126; it never runs the program unsandboxed.
//!
//! An instance can also be forked from a pre-initialized interpreter (a
//! zygote, which rayo's executor runs): [`fork_spec`] creates the cgroup and
//! describes the same sandbox as a [`wire::ForkSpec`], which the zygote's
//! child applies itself, step for step as the init does, before it runs the
//! runtime it already holds in memory.
//!
//! Three processes make up a running instance: the init on the host side
//! (the spawned child, which exits the way the program exits, by the same
//! signal if it was killed, and is the only one outside the cgroup), PID 1
//! of the new PID namespace (which reaps orphans) and the program as PID 2.
//!
//! # Things to know
//!
//! - The init asks for SIGKILL when its parent dies, and Linux means the
//!   parent *thread*: spawn sandboxes from long-lived threads (tokio's
//!   workers are; its blocking pool's threads end when idle).
//! - Pages written to `/tmp` and `/dev/shm` are memory, charged to the
//!   instance's cgroup: they count against its memory limit.
//! - A runtime path may not be `/tmp`, `/proc`, `/dev`, `/opt`,
//!   `/var/task` or `/var/runtime` (the sandbox's own), nor below any of
//!   them but `/tmp`, nor above any; one below `/tmp` is bound read-only in the
//!   instance's private `/tmp`.
//! - Files under `/var/task` and the runtime paths must be readable by
//!   others (and directories searchable), as on Lambda: the program runs as
//!   an unprivileged user.

#![deny(unsafe_op_in_unsafe_fn)]

mod cgroup;
mod init;
mod mounts;
mod probe;
mod seccomp;
mod sys;
pub mod wire;

use std::ffi::OsString;
use std::io::{PipeWriter, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub use cgroup::{Cgroup, CgroupFlavor, CgroupLimits, CpuLimits};
pub use init::init_main;
pub use probe::{Feature, MissingFeature, SandboxSupport, probe};

/// Everything needed to start one instance's process without a sandbox.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The complete environment; nothing is inherited from rayo.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// The open files an instance's processes may each hold: Lambda's quota of
/// 1,024 file descriptors, soft and hard limit alike.
pub const OPEN_FILES_MAX: u64 = 1024;

/// Builds the command for `spec`, unsandboxed, with stdout and stderr both
/// writing to `log` and stdin closed, in a new process group, with Lambda's
/// limit on open files.
pub fn command(spec: &ProcessSpec, log: &PipeWriter) -> std::io::Result<Command> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log.try_clone()?))
        .process_group(0);
    // SAFETY: setrlimit is async-signal-safe and touches no memory of the
    // parent's; the closure allocates nothing.
    unsafe {
        command.pre_exec(|| {
            nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                OPEN_FILES_MAX,
                OPEN_FILES_MAX,
            )
            .map_err(std::io::Error::from)
        });
    }
    Ok(command)
}

/// Server-wide sandbox settings, fixed when rayo starts.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// The program that runs [`init_main`]; rayo itself by default.
    pub init_program: PathBuf,
    /// Its arguments, the hidden subcommand by default.
    pub init_args: Vec<OsString>,
    /// The cgroup under which instances' cgroups are made, relative to the
    /// root of each hierarchy (v1) or of the unified tree (v2).
    pub cgroup_parent: PathBuf,
    /// Host system directories bound read-only at the same path in every
    /// sandbox; those missing on the host are left out, symbolic links are
    /// reproduced as links.
    pub system_paths: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            init_program: PathBuf::from("/proc/self/exe"),
            init_args: vec![OsString::from("__sandbox-init")],
            cgroup_parent: PathBuf::from("rayo"),
            system_paths: ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"]
                .into_iter()
                .map(PathBuf::from)
                .collect(),
        }
    }
}

/// Everything needed to start one instance inside its sandbox.
#[derive(Debug, Clone)]
pub struct SandboxSpec {
    /// Names the instance's cgroup: ASCII letters, digits, `-` and `_`.
    pub instance_id: String,
    /// The executable, as a path inside the sandbox (for example
    /// `/var/task/bootstrap`, or an interpreter under a runtime path).
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The complete environment; nothing is inherited from rayo.
    pub env: Vec<(String, String)>,
    /// The host directory holding the function's code, read-only at `/var/task`.
    pub task_root: PathBuf,
    /// Host paths, files or directories, bound read-only at the same path:
    /// the interpreter, a virtualenv, the runtime's bootstrap.
    pub runtime_ro_paths: Vec<PathBuf>,
    /// The host directory with the merged layers, read-only at `/opt`;
    /// without one `/opt` is empty.
    pub opt_dir: Option<PathBuf>,
    /// A host directory with the runtime's own files, read-only at
    /// `/var/runtime` (where Lambda keeps its runtime).
    pub runtime_dir: Option<PathBuf>,
    /// The size of `/tmp` (Lambda's EphemeralStorage). Pages written there
    /// are memory and count against `memory_mb` too.
    pub tmp_size_mb: u32,
    /// The memory limit (Lambda's MemorySize); swap is not allowed past it.
    pub memory_mb: u32,
    /// The most tasks (processes and threads) the instance may have.
    pub pids_max: u32,
    /// Whether CPU time is capped at Lambda's share for `memory_mb`
    /// (1,769 MB is one vCPU); without it only the relative weight applies.
    pub cpu_quota: bool,
    /// The unprivileged user the program runs as; never 0.
    pub uid: u32,
    /// Its group; never 0.
    pub gid: u32,
    /// The host name inside the sandbox.
    pub hostname: String,
}

/// Why a sandboxed command could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The spec asks for something the sandbox cannot do.
    #[error("invalid sandbox spec: {0}")]
    InvalidSpec(String),
    /// The instance's cgroup could not be made.
    #[error("creating cgroup {path}: {source}")]
    Cgroup {
        /// The cgroup directory or file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Something else failed on the host side.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// What failed.
        source: std::io::Error,
    },
}

/// Creates the instance's cgroup and builds the command that starts the
/// sandbox for `spec`, with stdout and stderr writing to `log`, in a new
/// process group.
///
/// The command can be spawned once. Keep the [`Cgroup`] for as long as the
/// instance lives: it reads peak memory and OOM kills, ends every process of
/// the instance (the process group may not hold them all), and removes the
/// cgroup when dropped.
pub fn sandboxed_command(
    support: &SandboxSupport,
    spec: &SandboxSpec,
    log: &PipeWriter,
) -> Result<(Command, Cgroup), SandboxError> {
    let (mounts, cgroup) = prepare(support, spec, &[])?;
    let document = wire::InitSpec {
        version: wire::VERSION,
        parent_pid: std::process::id(),
        cgroup_procs: cgroup.procs_files(),
        hostname: spec.hostname.clone(),
        uid: spec.uid,
        gid: spec.gid,
        program: spec.program.clone(),
        args: spec.args.clone(),
        env: spec.env.clone(),
        cwd: PathBuf::from(mounts::TASK_ROOT),
        mounts,
    };
    let json = serde_json::to_vec(&document).map_err(|error| SandboxError::Io {
        what: "encoding the sandbox spec",
        source: error.into(),
    })?;
    let spec_reader = spec_pipe(&json)?;

    let config = support.config();
    let mut command = Command::new(&config.init_program);
    let io_error = |what| move |source| SandboxError::Io { what, source };
    command
        .args(&config.init_args)
        .env_clear()
        .current_dir("/")
        .stdin(Stdio::from(spec_reader))
        .stdout(Stdio::from(
            log.try_clone().map_err(io_error("cloning the log pipe"))?,
        ))
        .stderr(Stdio::from(
            log.try_clone().map_err(io_error("cloning the log pipe"))?,
        ))
        .process_group(0);
    Ok((command, cgroup))
}

/// Creates the instance's cgroup and describes, for a zygote, how to fork
/// the instance of `spec` into its sandbox: the same namespaces, cgroup,
/// root, user and seccomp filters that [`sandboxed_command`] gives a program.
/// `spec.program` and `spec.args` are not used (the zygote runs what it
/// holds). `hidden_paths` are host paths that the zygote's code goes on
/// using in the sandbox (modules it imported from there): they are bound
/// read-only at their own path, behind directories that can be traversed
/// but not listed.
///
/// The instance gets a new cgroup, or `cgroup` when given: one made ahead
/// by [`spare_cgroup`] (the zygote may have put processes forked ahead in
/// it), which takes the instance's limits. Keep the [`Cgroup`] for as long
/// as the instance lives, as with [`sandboxed_command`].
pub fn fork_spec(
    support: &SandboxSupport,
    spec: &SandboxSpec,
    hidden_paths: &[PathBuf],
    cgroup: Option<Cgroup>,
) -> Result<(wire::ForkSpec, Cgroup), SandboxError> {
    let seccomp = seccomp_hex()?;
    let (mounts, cgroup) = match cgroup {
        None => prepare(support, spec, hidden_paths)?,
        Some(mut cgroup) => {
            validate(spec)?;
            let mounts = mounts::plan(&support.config().system_paths, spec, hidden_paths)?;
            cgroup
                .set_limits(&instance_limits(spec))
                .map_err(|source| SandboxError::Io {
                    what: "setting the limits of a cgroup made ahead",
                    source,
                })?;
            (mounts, cgroup)
        }
    };
    let document = wire::ForkSpec {
        version: wire::FORK_VERSION,
        cgroup_procs: cgroup.procs_files(),
        hostname: spec.hostname.clone(),
        uid: spec.uid,
        gid: spec.gid,
        env: spec.env.clone(),
        cwd: PathBuf::from(mounts::TASK_ROOT),
        mounts,
        seccomp,
        syscalls: wire::SyscallNumbers::native(),
    };
    Ok((document, cgroup))
}

/// Creates a cgroup, named `name`, ahead of the instance that will use it
/// (see [`fork_spec`]), with the limits of the largest instance Lambda
/// allows (so that an instance's own only ever lower them) and `pids_max`.
pub fn spare_cgroup(
    support: &SandboxSupport,
    name: &str,
    pids_max: u32,
) -> Result<Cgroup, SandboxError> {
    /// Lambda's largest memory size.
    const LARGEST_MEMORY_MB: u32 = 10_240;
    let valid = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(SandboxError::InvalidSpec(format!("cgroup name {name:?}")));
    }
    let limits = CgroupLimits::for_instance(LARGEST_MEMORY_MB, pids_max, false);
    Cgroup::create(
        support.cgroups(),
        &support.config().cgroup_parent,
        name,
        &limits,
    )
}

/// The cgroup limits of the instance of `spec`.
fn instance_limits(spec: &SandboxSpec) -> CgroupLimits {
    CgroupLimits::for_instance(spec.memory_mb, spec.pids_max, spec.cpu_quota)
}

/// Checks `spec`, plans its mounts and creates its cgroup.
fn prepare(
    support: &SandboxSupport,
    spec: &SandboxSpec,
    hidden_paths: &[PathBuf],
) -> Result<(Vec<wire::MountOp>, Cgroup), SandboxError> {
    validate(spec)?;
    let mounts = mounts::plan(&support.config().system_paths, spec, hidden_paths)?;
    let cgroup = Cgroup::create(
        support.cgroups(),
        &support.config().cgroup_parent,
        &spec.instance_id,
        &instance_limits(spec),
    )?;
    Ok((mounts, cgroup))
}

/// The seccomp filters as [`wire::ForkSpec`] carries them, compiled once.
fn seccomp_hex() -> Result<Vec<String>, SandboxError> {
    static PROGRAMS: std::sync::OnceLock<Result<Vec<String>, String>> = std::sync::OnceLock::new();
    let programs = PROGRAMS.get_or_init(|| {
        let programs = seccomp::program_bytes().map_err(|error| error.to_string())?;
        Ok(programs
            .iter()
            .map(|program| program.iter().map(|byte| format!("{byte:02x}")).collect())
            .collect())
    });
    programs.clone().map_err(|error| SandboxError::Io {
        what: "building the seccomp filter",
        source: std::io::Error::other(error),
    })
}

/// Checks what the init would otherwise only find out after the spawn.
fn validate(spec: &SandboxSpec) -> Result<(), SandboxError> {
    let invalid = |message: String| Err(SandboxError::InvalidSpec(message));
    let id_ok = !spec.instance_id.is_empty()
        && spec.instance_id.len() <= 128
        && spec
            .instance_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !id_ok {
        return invalid(format!("instance id {:?}", spec.instance_id));
    }
    if spec.uid == 0 || spec.gid == 0 {
        return invalid("the sandbox never runs a program as root (uid or gid 0)".to_string());
    }
    if !spec.program.is_absolute() {
        return invalid(format!(
            "program {} is not absolute",
            spec.program.display()
        ));
    }
    if spec.memory_mb == 0 || spec.tmp_size_mb == 0 || spec.pids_max == 0 {
        return invalid("memory, /tmp size and pids limit must be positive".to_string());
    }
    let hostname_ok = !spec.hostname.is_empty()
        && spec.hostname.len() <= 64
        && spec.hostname.bytes().all(|b| b.is_ascii_graphic());
    if !hostname_ok {
        return invalid(format!("host name {:?}", spec.hostname));
    }
    if spec
        .env
        .iter()
        .any(|(k, v)| k.is_empty() || k.contains(['=', '\0']) || v.contains('\0'))
    {
        return invalid("an environment variable name is empty or holds '=' or NUL".to_string());
    }
    if spec.args.iter().any(|a| a.contains('\0')) {
        return invalid("an argument holds NUL".to_string());
    }
    is_dir(&spec.task_root)?;
    if let Some(opt_dir) = &spec.opt_dir {
        is_dir(opt_dir)?;
    }
    Ok(())
}

fn is_dir(path: &Path) -> Result<(), SandboxError> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(SandboxError::InvalidSpec(format!(
            "{} is not a directory",
            path.display()
        ))),
        Err(error) => Err(SandboxError::InvalidSpec(format!(
            "{}: {error}",
            path.display()
        ))),
    }
}

/// A pipe already holding `json` and closed for writing, so that the init
/// reads the whole document and then end of file. The pipe is grown when
/// the document does not fit (a write into a full pipe would block forever).
fn spec_pipe(json: &[u8]) -> Result<std::io::PipeReader, SandboxError> {
    use nix::fcntl::{FcntlArg, fcntl};
    let io_error = |what| move |source| SandboxError::Io { what, source };
    let errno_error = |what| {
        move |errno: nix::errno::Errno| SandboxError::Io {
            what,
            source: errno.into(),
        }
    };
    let (reader, mut writer) = std::io::pipe().map_err(io_error("creating the spec pipe"))?;
    let capacity =
        fcntl(&writer, FcntlArg::F_GETPIPE_SZ).map_err(errno_error("sizing the spec pipe"))?;
    if usize::try_from(capacity).unwrap_or(0) < json.len() {
        let size = i32::try_from(json.len()).map_err(|_| {
            SandboxError::InvalidSpec(format!("the spec is too large ({} bytes)", json.len()))
        })?;
        fcntl(&writer, FcntlArg::F_SETPIPE_SZ(size))
            .map_err(errno_error("growing the spec pipe"))?;
    }
    writer
        .write_all(json)
        .map_err(io_error("writing the spec pipe"))?;
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn valid() -> SandboxSpec {
        SandboxSpec {
            instance_id: "0123abcd-ef_9".to_string(),
            program: PathBuf::from("/var/task/bootstrap"),
            args: vec!["--flag".to_string()],
            env: vec![("PATH".to_string(), "/usr/bin".to_string())],
            task_root: std::env::temp_dir(),
            runtime_ro_paths: Vec::new(),
            opt_dir: None,
            runtime_dir: None,
            tmp_size_mb: 512,
            memory_mb: 128,
            pids_max: 1024,
            cpu_quota: true,
            uid: 200_001,
            gid: 200_001,
            hostname: "169.254.10.1".to_string(),
        }
    }

    fn check(change: impl FnOnce(&mut SandboxSpec), ok: bool) {
        let mut spec = valid();
        change(&mut spec);
        assert_eq!(validate(&spec).is_ok(), ok, "{spec:?}");
    }

    #[test]
    fn validates_specs() {
        check(|_| {}, true);
        check(|s| s.instance_id = "../escape".to_string(), false);
        check(|s| s.instance_id = String::new(), false);
        check(|s| s.uid = 0, false);
        check(|s| s.gid = 0, false);
        check(|s| s.program = PathBuf::from("bootstrap"), false);
        check(|s| s.memory_mb = 0, false);
        check(|s| s.pids_max = 0, false);
        check(|s| s.hostname = "a b".to_string(), false);
        check(|s| s.env.push(("A=B".to_string(), String::new())), false);
        check(
            |s| s.env.push(("A".to_string(), "nul\0".to_string())),
            false,
        );
        check(|s| s.args.push("nul\0".to_string()), false);
        check(|s| s.task_root = PathBuf::from("/nonexistent/code"), false);
        check(|s| s.opt_dir = Some(PathBuf::from("/etc/passwd")), false);
    }

    #[test]
    fn spec_pipe_holds_large_documents() {
        for size in [10, 70_000, 300_000] {
            let json = vec![b'x'; size];
            let mut reader = spec_pipe(&json).expect("pipe");
            let mut read = Vec::new();
            reader.read_to_end(&mut read).expect("read");
            assert_eq!(read.len(), size);
        }
    }
}
