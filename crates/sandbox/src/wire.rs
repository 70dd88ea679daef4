//! The document the host side hands the sandbox init on its standard input.
//!
//! One JSON object, written whole into a pipe that is then closed, so the
//! init reads to end of file. Its shape is private to one rayo binary (the
//! init is the same executable re-executed), but it carries a `version` so
//! that a mismatch fails loudly. An example:
//!
//! ```json
//! {"version":1,"parent_pid":4242,
//!  "cgroup_procs":["/sys/fs/cgroup/memory/rayo/9f2c/cgroup.procs"],
//!  "hostname":"localhost","uid":200001,"gid":200001,
//!  "program":"/var/task/bootstrap","args":[],"env":[["PATH","/usr/bin:/bin"]],
//!  "cwd":"/var/task",
//!  "mounts":[{"op":"bind_read_only","source":"/usr","target":"/usr"},
//!            {"op":"symlink","target":"/bin","points_to":"usr/bin"},
//!            {"op":"tmpfs","target":"/tmp","mode":1023,"size_bytes":536870912,"exec":true}]}
//! ```
//!
//! `mounts` are applied in order under the new root; every `target` is a
//! path inside the sandbox, every `source` a host path.
//!
//! [`ForkSpec`] is the same sandbox described for a process that is forked
//! from a pre-initialized interpreter (a zygote) rather than executed: no
//! program, and the seccomp filters and the system call numbers the zygote
//! cannot know by itself.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The version of [`InitSpec`] this build writes and reads.
pub const VERSION: u32 = 1;

/// What the init needs to build the sandbox and start the program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitSpec {
    /// Must equal [`VERSION`].
    pub version: u32,
    /// The process that spawned the init; the init ends if it is gone.
    pub parent_pid: u32,
    /// The files the init writes its PID to, joining the instance's cgroup.
    pub cgroup_procs: Vec<PathBuf>,
    /// The host name inside the sandbox.
    pub hostname: String,
    /// The unprivileged user.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// The executable, a path inside the sandbox.
    pub program: PathBuf,
    /// Its arguments, without the program itself.
    pub args: Vec<String>,
    /// Its complete environment.
    pub env: Vec<(String, String)>,
    /// Its working directory inside the sandbox.
    pub cwd: PathBuf,
    /// The root file system, built in this order.
    pub mounts: Vec<MountOp>,
}

/// The version of [`ForkSpec`] this build writes; the zygote checks it.
pub const FORK_VERSION: u32 = 1;

/// What a zygote needs to fork an instance into its sandbox: the same
/// namespaces, cgroup, root, user and filters as [`InitSpec`] gives a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkSpec {
    /// Must equal [`FORK_VERSION`].
    pub version: u32,
    /// The files the instance's processes join the cgroup through.
    pub cgroup_procs: Vec<PathBuf>,
    /// The host name inside the sandbox.
    pub hostname: String,
    /// The unprivileged user.
    pub uid: u32,
    /// Its group.
    pub gid: u32,
    /// The instance's complete environment.
    pub env: Vec<(String, String)>,
    /// Its working directory inside the sandbox.
    pub cwd: PathBuf,
    /// The root file system, built in this order.
    pub mounts: Vec<MountOp>,
    /// The seccomp filters in installation order, each the hex of its
    /// `struct sock_filter` array in native byte order.
    pub seccomp: Vec<String>,
    /// System call numbers of this architecture that have no libc wrapper.
    pub syscalls: SyscallNumbers,
}

/// System call numbers, which differ between architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyscallNumbers {
    /// `pivot_root(2)`.
    pub pivot_root: i64,
    /// `capset(2)`.
    pub capset: i64,
}

impl SyscallNumbers {
    /// The numbers of the architecture rayo was built for.
    #[allow(
        clippy::useless_conversion,
        reason = "a system call number is an i32 on 32-bit targets"
    )]
    pub fn native() -> SyscallNumbers {
        SyscallNumbers {
            pivot_root: i64::from(libc::SYS_pivot_root),
            capset: i64::from(libc::SYS_capset),
        }
    }
}

/// One step of building the sandbox's root file system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum MountOp {
    /// A directory (and its missing parents, all 0755).
    Dir {
        /// Where.
        target: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A symbolic link.
    Symlink {
        /// Where the link is.
        target: PathBuf,
        /// What it points to, verbatim.
        points_to: PathBuf,
    },
    /// A host file or directory, with everything mounted below it, bound
    /// read-only, nosuid and nodev.
    BindReadOnly {
        /// The host path.
        source: PathBuf,
        /// Where it appears.
        target: PathBuf,
    },
    /// A host device node bound writable, nosuid and noexec.
    BindDevice {
        /// The host device.
        source: PathBuf,
        /// Where it appears.
        target: PathBuf,
    },
    /// A fresh tmpfs, nosuid and nodev.
    Tmpfs {
        /// Where.
        target: PathBuf,
        /// Permission bits of its root.
        mode: u32,
        /// Its size cap.
        size_bytes: u64,
        /// Whether programs on it may be executed.
        exec: bool,
    },
    /// A fresh procfs for the sandbox's PID namespace, showing other
    /// users' processes to nobody (`hidepid=2`).
    Proc {
        /// Where.
        target: PathBuf,
    },
    /// Makes a mount made earlier read-only.
    RemountReadOnly {
        /// Its mount point.
        target: PathBuf,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses() {
        let example = r#"{"version":1,"parent_pid":4242,
 "cgroup_procs":["/sys/fs/cgroup/memory/rayo/9f2c/cgroup.procs"],
 "hostname":"localhost","uid":200001,"gid":200001,
 "program":"/var/task/bootstrap","args":[],"env":[["PATH","/usr/bin:/bin"]],
 "cwd":"/var/task",
 "mounts":[{"op":"bind_read_only","source":"/usr","target":"/usr"},
           {"op":"symlink","target":"/bin","points_to":"usr/bin"},
           {"op":"tmpfs","target":"/tmp","mode":1023,"size_bytes":536870912,"exec":true}]}"#;
        let spec: InitSpec = serde_json::from_str(example).expect("the example parses");
        assert_eq!(spec.version, VERSION);
        assert_eq!(
            spec.env,
            vec![("PATH".to_string(), "/usr/bin:/bin".to_string())]
        );
        assert_eq!(
            spec.mounts[2],
            MountOp::Tmpfs {
                target: PathBuf::from("/tmp"),
                mode: 0o1777,
                size_bytes: 512 << 20,
                exec: true,
            }
        );
        let round_trip: InitSpec =
            serde_json::from_slice(&serde_json::to_vec(&spec).expect("encodes")).expect("decodes");
        assert_eq!(round_trip, spec);
    }
}
