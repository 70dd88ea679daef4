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
    /// `memory.peak` (Linux 5.19 on), else `memory.current`, kept open.
    peak: fs::CounterFile,
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
        let peak = fs::CounterFile::new(vec![dir.join("memory.peak"), dir.join("memory.current")]);
        Ok(CgroupV2 { dir, peak })
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
        self.peak.read()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cgroup::CgroupLimits;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    /// Plain files stand in for cgroupfs: what is written is what the
    /// kernel would be told.
    #[test]
    fn delegates_controllers_and_writes_limits() {
        let root = tempfile::tempdir().expect("temporary directory");
        std::fs::write(root.path().join("cgroup.subtree_control"), "cpu io\n").expect("root file");
        let parent = Path::new("rayo/pool");
        // The kernel gives each new cgroup an empty cgroup.subtree_control.
        for ancestor in ["rayo", "rayo/pool"] {
            std::fs::create_dir(root.path().join(ancestor)).expect("ancestor");
            std::fs::write(
                root.path().join(ancestor).join("cgroup.subtree_control"),
                "",
            )
            .expect("ancestor file");
        }
        let cgroup = CgroupV2::create(root.path(), parent, "abc").expect("created");
        assert_eq!(
            read(&root.path().join("cgroup.subtree_control")),
            "+memory +pids"
        );
        assert_eq!(
            read(&root.path().join("rayo/cgroup.subtree_control")),
            "+memory +cpu +pids"
        );
        assert_eq!(
            read(&root.path().join("rayo/pool/cgroup.subtree_control")),
            "+memory +cpu +pids"
        );
        let dir = root.path().join("rayo/pool/abc");
        assert_eq!(cgroup.procs_files(), vec![dir.join("cgroup.procs")]);

        cgroup
            .set_limits(&CgroupLimits::for_instance(128, 1024, true))
            .expect("limits");
        assert_eq!(read(&dir.join("memory.max")), "134217728");
        assert_eq!(read(&dir.join("pids.max")), "1024");
        assert_eq!(read(&dir.join("cpu.weight")), "7");
        assert_eq!(read(&dir.join("cpu.max")), "7235 100000");

        // memory.peak wins over memory.current, and every read is fresh
        // through the file kept open.
        std::fs::write(dir.join("memory.current"), "4096\n").expect("current");
        std::fs::write(dir.join("memory.peak"), "8192\n").expect("peak");
        assert_eq!(cgroup.peak_memory_bytes().expect("peak"), 8192);
        std::fs::write(dir.join("memory.peak"), "16384\n").expect("peak");
        assert_eq!(cgroup.peak_memory_bytes().expect("peak"), 16384);
        // Before Linux 5.19 there is no memory.peak.
        let older = CgroupV2::create(root.path(), parent, "older").expect("created");
        std::fs::write(root.path().join("rayo/pool/older/memory.current"), "4096\n")
            .expect("current");
        assert_eq!(older.peak_memory_bytes().expect("current"), 4096);

        assert!(!cgroup.oom_killed());
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 0\n",
        )
        .expect("events");
        assert!(!cgroup.oom_killed());
        std::fs::write(
            dir.join("memory.events"),
            "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n",
        )
        .expect("events");
        assert!(cgroup.oom_killed());
    }

    #[test]
    fn an_existing_instance_cgroup_is_an_error() {
        let root = tempfile::tempdir().expect("temporary directory");
        std::fs::write(
            root.path().join("cgroup.subtree_control"),
            "memory cpu pids",
        )
        .expect("root file");
        std::fs::create_dir_all(root.path().join("rayo/abc")).expect("stale cgroup");
        std::fs::write(
            root.path().join("rayo/cgroup.subtree_control"),
            "memory cpu pids",
        )
        .expect("file");
        let error = CgroupV2::create(root.path(), Path::new("rayo"), "abc").expect_err("exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
    }
}
