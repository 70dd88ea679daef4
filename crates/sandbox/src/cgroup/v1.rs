//! Cgroups version 1: the instance's cgroup is a directory of the same name
//! in the memory, cpu and pids hierarchies.

use std::io;
use std::path::{Path, PathBuf};

use super::limits::keyed_value;
use super::{CgroupLimits, CpuLimits, fs};

/// One instance's directories in the three hierarchies.
#[derive(Debug)]
pub(crate) struct CgroupV1 {
    memory: PathBuf,
    cpu: PathBuf,
    pids: PathBuf,
    /// Each directory once (hierarchies may be mounted together), in the
    /// order they were made.
    created: Vec<PathBuf>,
    /// `memory.max_usage_in_bytes`, kept open.
    peak: fs::CounterFile,
}

impl CgroupV1 {
    pub(crate) fn create(
        memory: &Path,
        cpu: &Path,
        pids: &Path,
        parent: &Path,
        name: &str,
    ) -> io::Result<CgroupV1> {
        let dir = |mount: &Path| mount.join(parent).join(name);
        let mut cgroup = CgroupV1 {
            memory: dir(memory),
            cpu: dir(cpu),
            pids: dir(pids),
            created: Vec::new(),
            peak: fs::CounterFile::new(vec![dir(memory).join("memory.max_usage_in_bytes")]),
        };
        for path in [
            cgroup.memory.clone(),
            cgroup.cpu.clone(),
            cgroup.pids.clone(),
        ] {
            if cgroup.created.contains(&path) {
                continue;
            }
            if let Some(parent_dir) = path.parent() {
                fs::create_parent(parent_dir).inspect_err(|_| cgroup.undo())?;
            }
            fs::create_own(&path).inspect_err(|_| cgroup.undo())?;
            cgroup.created.push(path);
        }
        Ok(cgroup)
    }

    fn undo(&self) {
        for dir in self.created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
    }

    pub(crate) fn set_limits(&self, limits: &CgroupLimits) -> io::Result<()> {
        let memory = limits.memory_bytes.to_string();
        fs::write(&self.memory, "memory.limit_in_bytes", &memory)?;
        // Present only with swap accounting; memory plus swap then gets the
        // same cap, so swap cannot extend it.
        if self.memory.join("memory.memsw.limit_in_bytes").exists() {
            fs::write(&self.memory, "memory.memsw.limit_in_bytes", &memory)?;
        }
        // Without swap accounting this at least keeps the group's pages out
        // of swap; absent on some kernels.
        let _ = fs::write(&self.memory, "memory.swappiness", "0");
        fs::write(&self.pids, "pids.max", &limits.pids_max.to_string())?;
        self.set_cpu(&limits.cpu)
    }

    pub(crate) fn set_cpu(&self, cpu: &CpuLimits) -> io::Result<()> {
        fs::write(&self.cpu, "cpu.shares", &cpu.shares.to_string())?;
        fs::write(&self.cpu, "cpu.cfs_period_us", &cpu.period_us.to_string())?;
        let quota = cpu
            .quota_us
            .map_or("-1".to_string(), |quota| quota.to_string());
        fs::write(&self.cpu, "cpu.cfs_quota_us", &quota)
    }

    pub(crate) fn swap_capped(&self) -> bool {
        self.memory.join("memory.memsw.limit_in_bytes").exists()
    }

    pub(crate) fn procs_files(&self) -> Vec<PathBuf> {
        self.created
            .iter()
            .map(|dir| dir.join("cgroup.procs"))
            .collect()
    }

    pub(crate) fn pids(&self) -> io::Result<Vec<i32>> {
        fs::pids(&self.memory)
    }

    pub(crate) fn peak_memory_bytes(&self) -> io::Result<u64> {
        self.peak.read()
    }

    pub(crate) fn oom_killed(&self) -> bool {
        let oom_control =
            std::fs::read_to_string(self.memory.join("memory.oom_control")).unwrap_or_default();
        match keyed_value(&oom_control, "oom_kill") {
            Some(n_kills) => n_kills > 0,
            // Kernels before 4.13 do not count kills; hitting the limit is
            // the nearest sign left.
            None => {
                fs::read_u64(&self.memory, "memory.failcnt").is_ok_and(|n_failures| n_failures > 0)
            }
        }
    }

    pub(crate) fn kill_all(&self) -> io::Result<()> {
        // Every process joined all hierarchies at once; any one lists them.
        for dir in &self.created {
            fs::kill_until_empty(dir)?;
        }
        Ok(())
    }

    pub(crate) fn remove(&self) -> io::Result<()> {
        let mut result = Ok(());
        for dir in self.created.iter().rev() {
            result = result.and(fs::remove_dir(dir));
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
    }

    /// Plain files stand in for cgroupfs, with cpu and cpuacct mounted
    /// together as many distributions do.
    #[test]
    fn makes_each_hierarchy_once_and_writes_limits() {
        let root = tempfile::tempdir().expect("temporary directory");
        let memory = root.path().join("memory");
        let cpu = root.path().join("cpu,cpuacct");
        let cgroup =
            CgroupV1::create(&memory, &cpu, &cpu, Path::new("rayo"), "abc").expect("created");
        assert_eq!(
            cgroup.procs_files(),
            vec![
                memory.join("rayo/abc/cgroup.procs"),
                cpu.join("rayo/abc/cgroup.procs")
            ]
        );
        cgroup
            .set_limits(&CgroupLimits::for_instance(512, 64, true))
            .expect("limits");
        let dir = |mount: &Path| mount.join("rayo/abc");
        assert_eq!(
            read(&dir(&memory).join("memory.limit_in_bytes")),
            "536870912"
        );
        // No swap accounting in this tree: nothing written for it.
        assert!(!dir(&memory).join("memory.memsw.limit_in_bytes").exists());
        assert!(!cgroup.swap_capped());
        assert_eq!(read(&dir(&cpu).join("pids.max")), "64");
        assert_eq!(read(&dir(&cpu).join("cpu.shares")), "296");
        assert_eq!(read(&dir(&cpu).join("cpu.cfs_quota_us")), "28942");
        assert_eq!(read(&dir(&cpu).join("cpu.cfs_period_us")), "100000");
        cgroup
            .set_cpu(&CpuLimits::for_memory(512, false))
            .expect("no quota");
        assert_eq!(read(&dir(&cpu).join("cpu.cfs_quota_us")), "-1");

        std::fs::write(dir(&memory).join("memory.max_usage_in_bytes"), "1048576\n").expect("usage");
        assert_eq!(cgroup.peak_memory_bytes().expect("peak"), 1_048_576);
        std::fs::write(
            dir(&memory).join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
        )
        .expect("oom_control");
        assert!(!cgroup.oom_killed());
        std::fs::write(
            dir(&memory).join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
        )
        .expect("oom_control");
        assert!(cgroup.oom_killed());
    }

    #[test]
    fn a_failed_creation_leaves_nothing() {
        let root = tempfile::tempdir().expect("temporary directory");
        let memory = root.path().join("memory");
        let pids = root.path().join("pids");
        // The pids cgroup is there already (a stale one).
        std::fs::create_dir_all(pids.join("rayo/abc")).expect("stale");
        let error = CgroupV1::create(&memory, &memory, &pids, Path::new("rayo"), "abc")
            .expect_err("exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        assert!(!memory.join("rayo/abc").exists(), "undone");
    }
}
