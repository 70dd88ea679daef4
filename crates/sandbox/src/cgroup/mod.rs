//! Per-instance cgroups: memory, CPU and process-count limits, peak memory,
//! OOM kills, and ending every process of an instance. Version 1 (one
//! hierarchy per controller) and version 2 (the unified tree) are sibling
//! files; this one holds the types they share.

mod detect;
mod fs;
mod limits;
mod v1;
mod v2;

use std::io;
use std::path::{Path, PathBuf};

pub(crate) use detect::{detect, required_controllers};
pub use limits::CpuLimits;

/// Where the cgroup hierarchies that rayo uses are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupFlavor {
    /// Version 1: a hierarchy per controller (some may share one).
    V1 {
        /// The memory hierarchy's mount point.
        memory: PathBuf,
        /// The cpu hierarchy's mount point.
        cpu: PathBuf,
        /// The pids hierarchy's mount point.
        pids: PathBuf,
    },
    /// Version 2: the unified hierarchy, with memory, cpu and pids available.
    V2 {
        /// Its mount point.
        root: PathBuf,
    },
}

/// The limits of one instance's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CgroupLimits {
    /// The memory cap; swap is capped at zero where the kernel allows.
    pub memory_bytes: u64,
    /// The most tasks (processes and threads).
    pub pids_max: u64,
    /// CPU weight and quota.
    pub cpu: CpuLimits,
}

/// One instance's cgroup. Dropping it ends every process in it and removes
/// it.
#[derive(Debug)]
pub struct Cgroup {
    inner: Inner,
    limits: CgroupLimits,
    removed: bool,
}

#[derive(Debug)]
enum Inner {
    V1(v1::CgroupV1),
    V2(v2::CgroupV2),
}

impl Cgroup {
    /// Creates the cgroup `parent/name` in `flavor`'s hierarchies, creating
    /// `parent` as needed, and sets `limits`.
    pub fn create(
        flavor: &CgroupFlavor,
        parent: &Path,
        name: &str,
        limits: &CgroupLimits,
    ) -> Result<Cgroup, crate::SandboxError> {
        let error = |source| crate::SandboxError::Cgroup {
            path: parent.join(name),
            source,
        };
        let inner = match flavor {
            CgroupFlavor::V1 { memory, cpu, pids } => {
                Inner::V1(v1::CgroupV1::create(memory, cpu, pids, parent, name).map_err(error)?)
            }
            CgroupFlavor::V2 { root } => {
                Inner::V2(v2::CgroupV2::create(root, parent, name).map_err(error)?)
            }
        };
        // From here on, dropping the value removes what was made.
        let cgroup = Cgroup {
            inner,
            limits: *limits,
            removed: false,
        };
        let set = match &cgroup.inner {
            Inner::V1(inner) => inner.set_limits(limits),
            Inner::V2(inner) => inner.set_limits(limits),
        };
        set.map_err(error)?;
        Ok(cgroup)
    }

    /// The files a process writes its PID to, to join the cgroup.
    pub fn procs_files(&self) -> Vec<PathBuf> {
        match &self.inner {
            Inner::V1(inner) => inner.procs_files(),
            Inner::V2(inner) => inner.procs_files(),
        }
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> io::Result<Vec<i32>> {
        match &self.inner {
            Inner::V1(inner) => inner.pids(),
            Inner::V2(inner) => inner.pids(),
        }
    }

    /// The most memory the cgroup has used, in bytes (page cache and tmpfs
    /// included).
    pub fn peak_memory_bytes(&self) -> io::Result<u64> {
        match &self.inner {
            Inner::V1(inner) => inner.peak_memory_bytes(),
            Inner::V2(inner) => inner.peak_memory_bytes(),
        }
    }

    /// Whether the kernel's OOM killer has killed a process of the cgroup.
    pub fn oom_killed(&self) -> bool {
        match &self.inner {
            Inner::V1(inner) => inner.oom_killed(),
            Inner::V2(inner) => inner.oom_killed(),
        }
    }

    /// Whether swap is capped along with memory (the kernel accounts swap).
    pub fn swap_capped(&self) -> bool {
        match &self.inner {
            Inner::V1(inner) => inner.swap_capped(),
            Inner::V2(inner) => inner.swap_capped(),
        }
    }

    /// Sets new limits, for a cgroup made before its instance was known.
    /// The memory limit may only be lowered (version 1 checks it against
    /// the memory-plus-swap limit, which is written after it).
    pub fn set_limits(&mut self, limits: &CgroupLimits) -> io::Result<()> {
        match &self.inner {
            Inner::V1(inner) => inner.set_limits(limits)?,
            Inner::V2(inner) => inner.set_limits(limits)?,
        }
        self.limits = *limits;
        Ok(())
    }

    /// Turns the CPU quota on or off (the weight stays), for instance to let
    /// an instance's init run at full speed.
    pub fn set_cpu_quota(&mut self, enabled: bool) -> io::Result<()> {
        let cpu = CpuLimits::from_memory_bytes(self.limits.memory_bytes, enabled);
        match &self.inner {
            Inner::V1(inner) => inner.set_cpu(&cpu)?,
            Inner::V2(inner) => inner.set_cpu(&cpu)?,
        }
        self.limits.cpu = cpu;
        Ok(())
    }

    /// Kills every process in the cgroup and waits until it is empty.
    pub fn kill_all(&self) -> io::Result<()> {
        match &self.inner {
            Inner::V1(inner) => inner.kill_all(),
            Inner::V2(inner) => inner.kill_all(),
        }
    }

    /// Kills every process in the cgroup and removes it, saying what failed.
    pub fn remove(mut self) -> io::Result<()> {
        self.removed = true;
        self.kill_and_remove()
    }

    fn kill_and_remove(&self) -> io::Result<()> {
        let killed = self.kill_all();
        let removed = match &self.inner {
            Inner::V1(inner) => inner.remove(),
            Inner::V2(inner) => inner.remove(),
        };
        killed.and(removed)
    }
}

impl CgroupFlavor {
    /// Removes the empty instance cgroups under `parent` last changed more
    /// than `min_age` ago: those left by a rayo that was killed. A cgroup in
    /// use is never empty for long (the init joins it within milliseconds of
    /// its creation), and one with processes cannot be removed. Returns how
    /// many were removed.
    pub fn remove_stale(&self, parent: &Path, min_age: std::time::Duration) -> usize {
        let mounts: Vec<&Path> = match self {
            CgroupFlavor::V1 { memory, cpu, pids } => vec![memory, cpu, pids],
            CgroupFlavor::V2 { root } => vec![root],
        };
        fs::remove_stale(&mounts, parent, min_age)
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if !self.removed {
            let _ = self.kill_and_remove();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn removes_only_stale_empty_cgroups() {
        let root = tempfile::tempdir().expect("temporary directory");
        let parent = root.path().join("rayo");
        std::fs::create_dir_all(parent.join("left-behind")).expect("stale");
        std::fs::create_dir_all(parent.join("running")).expect("busy");
        std::fs::write(parent.join("running/cgroup.procs"), "4242\n").expect("procs");
        let flavor = CgroupFlavor::V2 {
            root: root.path().to_path_buf(),
        };
        assert_eq!(
            flavor.remove_stale(Path::new("rayo"), Duration::from_secs(3600)),
            0
        );
        assert_eq!(flavor.remove_stale(Path::new("rayo"), Duration::ZERO), 1);
        assert!(!parent.join("left-behind").exists());
        assert!(parent.join("running").exists());
        assert_eq!(flavor.remove_stale(Path::new("missing"), Duration::ZERO), 0);
    }
}
