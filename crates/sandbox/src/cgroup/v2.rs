//! Cgroups version 2: the instance's cgroup is one directory of the unified
//! tree, below a parent whose ancestors delegate the memory, cpu and pids
//! controllers to their children.

use std::io;
use std::path::{Path, PathBuf};

use super::limits::keyed_value;
use super::{CgroupLimits, CpuLimits, fs};

/// The controllers enabled down to the instance's cgroup.
const CONTROLLERS: [&str; 3] = ["memory", "cpu", "pids"];

/// One instance's directory in the unified tree.
#[derive(Debug)]
pub(crate) struct CgroupV2 {
    dir: PathBuf,
}

impl CgroupV2 {
    pub(crate) fn create(root: &Path, parent: &Path, name: &str) -> io::Result<CgroupV2> {
        // Each ancestor must hand the controllers down; the parent itself
        // must stay free of processes for that.
        let mut ancestor = root.to_path_buf();
        enable_controllers(&ancestor)?;
        for component in parent.components() {
            ancestor.push(component);
            fs::create_parent(&ancestor)?;
            enable_controllers(&ancestor)?;
        }
        let dir = ancestor.join(name);
        fs::create_own(&dir)?;
        Ok(CgroupV2 { dir })
    }

    pub(crate) fn set_limits(&self, limits: &CgroupLimits) -> io::Result<()> {
        fs::write(&self.dir, "memory.max", &limits.memory_bytes.to_string())?;
        if self.dir.join("memory.swap.max").exists() {
            fs::write(&self.dir, "memory.swap.max", "0")?;
        }
        // An OOM kill takes the whole instance, as Lambda's does.
        if self.dir.join("memory.oom.group").exists() {
            fs::write(&self.dir, "memory.oom.group", "1")?;
        }
        fs::write(&self.dir, "pids.max", &limits.pids_max.to_string())?;
        self.set_cpu(&limits.cpu)
    }

    pub(crate) fn set_cpu(&self, cpu: &CpuLimits) -> io::Result<()> {
        fs::write(&self.dir, "cpu.weight", &cpu.weight.to_string())?;
        fs::write(&self.dir, "cpu.max", &cpu.cpu_max())
    }

    pub(crate) fn swap_capped(&self) -> bool {
        self.dir.join("memory.swap.max").exists()
    }

    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        vec![self.dir.join("cgroup.procs")]
    }

    pub(crate) fn pids(&self) -> io::Result<Vec<i32>> {
        fs::pids(&self.dir)
    }

    pub(crate) fn peak_memory_bytes(&self) -> io::Result<u64> {
        // memory.peak arrived in Linux 5.19.
        fs::read_u64(&self.dir, "memory.peak")
            .or_else(|_| fs::read_u64(&self.dir, "memory.current"))
    }

    pub(crate) fn oom_killed(&self) -> bool {
        let events = std::fs::read_to_string(self.dir.join("memory.events")).unwrap_or_default();
        keyed_value(&events, "oom_kill").is_some_and(|n_kills| n_kills > 0)
            || keyed_value(&events, "oom_group_kill").is_some_and(|n_kills| n_kills > 0)
    }

    pub(crate) fn kill_all(&self) -> io::Result<()> {
        // cgroup.kill (Linux 5.14) kills atomically, forks included.
        if self.dir.join("cgroup.kill").exists() && fs::write(&self.dir, "cgroup.kill", "1").is_ok()
        {
            return fs::wait_until_empty(&self.dir);
        }
        fs::kill_until_empty(&self.dir)
    }

    pub(crate) fn remove(&self) -> io::Result<()> {
        fs::remove_dir(&self.dir)
    }
}

/// Adds the controllers missing from `dir`'s `cgroup.subtree_control`.
fn enable_controllers(dir: &Path) -> io::Result<()> {
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control"))?;
    let missing: Vec<String> = CONTROLLERS
        .iter()
        .filter(|controller| !enabled.split_whitespace().any(|name| name == **controller))
        .map(|controller| format!("+{controller}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    fs::write(dir, "cgroup.subtree_control", &missing.join(" "))
}
