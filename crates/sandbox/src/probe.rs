//! Finding out, for real, whether this host can sandbox instances: the
//! privileges, the namespaces, tmpfs and seccomp are tried in a forked
//! child, and a throw-away cgroup is made with the limits instances get.

use std::fmt;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU32, Ordering};

use nix::fcntl::OFlag;
use nix::unistd::{geteuid, pipe2};

use crate::cgroup::{Cgroup, CgroupFlavor, CgroupLimits, detect, required_controllers};
use crate::{SandboxConfig, seccomp};

/// What the host offers, found by [`probe`]; needed to start sandboxes.
#[derive(Debug, Clone)]
pub struct SandboxSupport {
    config: SandboxConfig,
    cgroups: CgroupFlavor,
    weaknesses: Vec<String>,
}

impl SandboxSupport {
    /// The settings it was probed with.
    pub fn config(&self) -> &SandboxConfig {
        &self.config
    }

    /// The cgroup hierarchies in use.
    pub fn cgroups(&self) -> &CgroupFlavor {
        &self.cgroups
    }

    /// Where this host's sandbox is weaker than it could be, for the log.
    pub fn weaknesses(&self) -> &[String] {
        &self.weaknesses
    }

    /// One line for the start-up log.
    pub fn summary(&self) -> String {
        let cgroups = match &self.cgroups {
            CgroupFlavor::V1 { .. } => "cgroup v1",
            CgroupFlavor::V2 { .. } => "cgroup v2",
        };
        format!(
            "sandbox: mount, PID, IPC and UTS namespaces; {cgroups} memory, cpu and pids limits under {}; seccomp; unprivileged users",
            self.config.cgroup_parent.display()
        )
    }
}

/// A part of the sandbox that this host cannot provide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingFeature {
    /// Which part.
    pub feature: Feature,
    /// What is wrong.
    pub problem: String,
    /// How to get it.
    pub remedy: String,
}

/// The parts of the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Root, or the capabilities the init uses.
    Privileges,
    /// Mount, PID, IPC and UTS namespaces.
    Namespaces,
    /// tmpfs, for the root and `/tmp`.
    Tmpfs,
    /// Memory, cpu and pids cgroup controllers.
    Cgroups,
    /// Seccomp filters.
    Seccomp,
    /// The program run as the sandbox init.
    InitProgram,
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Feature::Privileges => "privileges",
            Feature::Namespaces => "namespaces",
            Feature::Tmpfs => "tmpfs",
            Feature::Cgroups => "cgroups",
            Feature::Seccomp => "seccomp",
            Feature::InitProgram => "sandbox init",
        })
    }
}

impl fmt::Display for MissingFeature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}; {}", self.feature, self.problem, self.remedy)
    }
}

/// The capabilities the init uses, by number, when rayo is not root.
const CAPABILITIES: [(u32, &str); 6] = [
    (21, "CAP_SYS_ADMIN"),
    (7, "CAP_SETUID"),
    (6, "CAP_SETGID"),
    (8, "CAP_SETPCAP"),
    (5, "CAP_KILL"),
    (24, "CAP_SYS_RESOURCE"),
];

/// Checks everything the sandbox needs on this host, by trying it. Returns
/// what is missing, each with a remedy, when anything is.
pub fn probe(config: &SandboxConfig) -> Result<SandboxSupport, Vec<MissingFeature>> {
    let mut missing = Vec::new();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();

    let lacking = lacking_capabilities(&status);
    if !geteuid().is_root() && !lacking.is_empty() {
        missing.push(MissingFeature {
            feature: Feature::Privileges,
            problem: format!(
                "rayo runs as uid {} without {}",
                geteuid(),
                lacking.join(", ")
            ),
            remedy: "run rayo as root (or with those capabilities)".to_string(),
        });
    }

    if !status.lines().any(|line| line.starts_with("Seccomp:")) {
        missing.push(MissingFeature {
            feature: Feature::Seccomp,
            problem: "this kernel has no seccomp (no Seccomp: line in /proc/self/status)"
                .to_string(),
            remedy: "use a kernel built with CONFIG_SECCOMP and CONFIG_SECCOMP_FILTER".to_string(),
        });
    }

    if !std::fs::metadata("/tmp").is_ok_and(|m| m.is_dir()) {
        missing.push(MissingFeature {
            feature: Feature::Tmpfs,
            problem: "/tmp is not a directory; the init mounts its scratch tmpfs there".to_string(),
            remedy: "create /tmp".to_string(),
        });
    } else if missing.is_empty()
        && let Err(feature) = try_in_child()
    {
        missing.push(feature);
    }

    let cgroups = match probe_cgroups(config) {
        Ok(found) => Some(found),
        Err(feature) => {
            missing.push(feature);
            None
        }
    };

    if !config.init_program.exists() {
        missing.push(MissingFeature {
            feature: Feature::InitProgram,
            problem: format!("{} does not exist", config.init_program.display()),
            remedy: "point the sandbox configuration at rayo's own executable".to_string(),
        });
    }

    match cgroups {
        Some((cgroups, swap_capped)) if missing.is_empty() => {
            let weaknesses = weaknesses(swap_capped);
            Ok(SandboxSupport {
                config: config.clone(),
                cgroups,
                weaknesses,
            })
        }
        _ => Err(missing),
    }
}

/// The capabilities from [`CAPABILITIES`] missing from the effective set.
fn lacking_capabilities(status: &str) -> Vec<&'static str> {
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or(0);
    CAPABILITIES
        .iter()
        .filter(|(number, _)| effective & (1 << number) == 0)
        .map(|(_, name)| *name)
        .collect()
}

/// The hierarchies to use, and whether swap can be capped in them.
fn probe_cgroups(config: &SandboxConfig) -> Result<(CgroupFlavor, bool), MissingFeature> {
    let remedy = "mount cgroup2 at /sys/fs/cgroup with memory, cpu and pids available, or cgroup v1 hierarchies for each of them (in a container: give it its own writable cgroup tree)";
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let flavor = detect(&mountinfo, |root| {
        std::fs::read_to_string(root.join("cgroup.controllers")).ok()
    })
    .map_err(|problem| MissingFeature {
        feature: Feature::Cgroups,
        problem,
        remedy: remedy.to_string(),
    })?;
    static N_PROBES: AtomicU32 = AtomicU32::new(0);
    let n_probe = N_PROBES.fetch_add(1, Ordering::Relaxed);
    let name = format!("probe-{}-{n_probe}", std::process::id());
    let limits = CgroupLimits::for_instance(64, 16, true);
    let cgroup =
        Cgroup::create(&flavor, &config.cgroup_parent, &name, &limits).map_err(|error| {
            MissingFeature {
                feature: Feature::Cgroups,
                problem: format!(
                    "cannot set up a cgroup with {} limits: {error}",
                    required_controllers().join(", ")
                ),
                remedy: remedy.to_string(),
            }
        })?;
    let swap_capped = cgroup.swap_capped();
    cgroup.remove().map_err(|error| MissingFeature {
        feature: Feature::Cgroups,
        problem: format!("cannot remove a cgroup: {error}"),
        remedy: remedy.to_string(),
    })?;
    Ok((flavor, swap_capped))
}

fn weaknesses(swap_capped: bool) -> Vec<String> {
    let has_swap =
        std::fs::read_to_string("/proc/swaps").is_ok_and(|swaps| swaps.lines().count() > 1);
    let mut weaknesses = Vec::new();
    if has_swap && !swap_capped {
        weaknesses.push(
            "swap accounting is off: an instance may swap beyond its memory limit (boot with swapaccount=1)"
                .to_string(),
        );
    }
    weaknesses
}

/// One step of [`try_in_child`].
#[derive(Debug, Clone, Copy)]
#[repr(u8)]
enum Step {
    Unshare = 1,
    MakePrivate = 2,
    Tmpfs = 3,
    NoNewPrivs = 4,
    Seccomp = 5,
}

/// Forks a child that enters new namespaces, mounts a tmpfs and installs
/// the sandbox's seccomp filter, as the init will.
fn try_in_child() -> Result<(), MissingFeature> {
    let unexpected = |what: &str, error: &dyn fmt::Display| MissingFeature {
        feature: Feature::Namespaces,
        problem: format!("{what}: {error}"),
        remedy: "this is unexpected; see the error".to_string(),
    };
    let filters = seccomp::filters().map_err(|error| MissingFeature {
        feature: Feature::Seccomp,
        problem: format!("cannot build the filter: {error}"),
        remedy: "report this as a rayo bug".to_string(),
    })?;
    let filter = &filters[0];
    let program = libc::sock_fprog {
        len: u16::try_from(filter.len()).map_err(|error| unexpected("filter length", &error))?,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    let (reader, writer) = pipe2(OFlag::O_CLOEXEC).map_err(|error| unexpected("pipe", &error))?;
    let report_fd = writer.as_raw_fd();

    // SAFETY: the child runs only `probe_child`, which makes raw system
    // calls (async-signal-safe, so safe after fork in a multi-threaded
    // process) on data prepared before the fork, and ends with _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: `program` points at `filter`, alive in this copy of the
        // address space; `report_fd` is open.
        unsafe { probe_child(report_fd, &program) }
    }
    if pid < 0 {
        return Err(unexpected("fork", &std::io::Error::last_os_error()));
    }
    drop(writer);
    let mut report = Vec::new();
    let _ = std::fs::File::from(reader).read_to_end(&mut report);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    if report.len() < 5 {
        return Ok(());
    }
    let errno = nix::errno::Errno::from_raw(i32::from_le_bytes([
        report[1], report[2], report[3], report[4],
    ]));
    let (feature, what, remedy) = match report[0] {
        1 => (
            Feature::Namespaces,
            "unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS)",
            "use a kernel with CONFIG_NAMESPACES, CONFIG_PID_NS, CONFIG_IPC_NS and CONFIG_UTS_NS; in a container, allow unshare (docker run --privileged, or a seccomp/AppArmor profile that permits it)",
        ),
        2 => (
            Feature::Namespaces,
            "making / a private mount",
            "in a container, allow mount (docker run --privileged)",
        ),
        3 => (
            Feature::Tmpfs,
            "mounting a tmpfs",
            "use a kernel with CONFIG_TMPFS; in a container, allow mount",
        ),
        4 => (
            Feature::Seccomp,
            "setting no_new_privs",
            "use a kernel from 3.5 on",
        ),
        _ => (
            Feature::Seccomp,
            "installing a seccomp filter",
            "use a kernel with CONFIG_SECCOMP_FILTER",
        ),
    };
    Err(MissingFeature {
        feature,
        problem: format!("{what} failed: {errno}"),
        remedy: remedy.to_string(),
    })
}

/// The probe's child: tries each step, reports the first failure as its
/// step number and errno on `report_fd`, and exits.
///
/// # Safety
///
/// Only to be called in a freshly forked child; `program` must point at a
/// valid filter.
unsafe fn probe_child(report_fd: libc::c_int, program: &libc::sock_fprog) -> ! {
    let fail = |step: Step| -> ! {
        // SAFETY: reading errno and writing a stack buffer to an open pipe
        // are async-signal-safe.
        unsafe {
            let errno = *libc::__errno_location();
            let mut message = [step as u8, 0, 0, 0, 0];
            message[1..].copy_from_slice(&errno.to_le_bytes());
            libc::write(report_fd, message.as_ptr().cast(), message.len());
            libc::_exit(1)
        }
    };
    let flags = libc::CLONE_NEWNS | libc::CLONE_NEWPID | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    // SAFETY: each call takes integers or NUL-terminated string literals
    // and `program`, valid per this function's contract.
    unsafe {
        if libc::unshare(flags) != 0 {
            fail(Step::Unshare);
        }
        let none = std::ptr::null::<libc::c_char>();
        if libc::mount(
            none,
            c"/".as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            fail(Step::MakePrivate);
        }
        if libc::mount(
            c"tmpfs".as_ptr(),
            c"/tmp".as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            c"size=64k,mode=0700".as_ptr().cast(),
        ) != 0
        {
            fail(Step::Tmpfs);
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(Step::NoNewPrivs);
        }
        if libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            program as *const libc::sock_fprog,
        ) != 0
        {
            fail(Step::Seccomp);
        }
        libc::_exit(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_from_status() {
        let root = "Name:\tx\nCapEff:\t000001ffffffffff\n";
        assert!(lacking_capabilities(root).is_empty());
        let admin_only = "CapEff:\t0000000000200000\n";
        assert_eq!(
            lacking_capabilities(admin_only),
            vec![
                "CAP_SETUID",
                "CAP_SETGID",
                "CAP_SETPCAP",
                "CAP_KILL",
                "CAP_SYS_RESOURCE"
            ]
        );
        assert_eq!(lacking_capabilities("").len(), CAPABILITIES.len());
    }

    #[test]
    fn missing_feature_says_how_to_fix_it() {
        let missing = MissingFeature {
            feature: Feature::Cgroups,
            problem: "no cgroup v2 hierarchy is mounted".to_string(),
            remedy: "mount one".to_string(),
        };
        assert_eq!(
            missing.to_string(),
            "cgroups: no cgroup v2 hierarchy is mounted; mount one"
        );
    }
}
