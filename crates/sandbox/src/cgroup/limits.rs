//! The limits' arithmetic, and parsing of the cgroup files read back.
//!
//! CPU follows Lambda, where 1,769 MB of memory buys one vCPU: the weight
//! (v1 `cpu.shares`, 1024 for one vCPU; v2 `cpu.weight`, 100 for one vCPU)
//! is proportional to memory, so busy instances share the host's CPUs in
//! that ratio, and the optional quota (`cpu.cfs_quota_us` / `cpu.max` over
//! a 100 ms period) caps an instance at memory / 1,769 of a CPU, never
//! below 1/16 of one (Lambda's smallest size, 128 MB, gets 0.072).

use super::CgroupLimits;

/// Lambda's memory per vCPU, in MB.
pub(crate) const MB_PER_VCPU: u64 = 1769;
/// The CFS period, in microseconds.
pub(crate) const CPU_PERIOD_US: u64 = 100_000;
const MIB: u64 = 1024 * 1024;

/// CPU weight and quota, as both cgroup versions spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuLimits {
    /// v1 `cpu.shares`: 2 to 262,144, 1,024 for one vCPU.
    pub shares: u64,
    /// v2 `cpu.weight`: 1 to 10,000, 100 for one vCPU.
    pub weight: u64,
    /// CPU time allowed per period, in microseconds; `None` for no cap.
    pub quota_us: Option<u64>,
    /// The period, in microseconds.
    pub period_us: u64,
}

impl CpuLimits {
    /// Lambda's CPU share for `memory_mb`, capped by a quota when `quota`.
    pub fn for_memory(memory_mb: u32, quota: bool) -> CpuLimits {
        CpuLimits::from_memory_bytes(u64::from(memory_mb) * MIB, quota)
    }

    pub(crate) fn from_memory_bytes(memory_bytes: u64, quota: bool) -> CpuLimits {
        let memory_mb = memory_bytes / MIB;
        CpuLimits {
            shares: (1024 * memory_mb / MB_PER_VCPU).clamp(2, 262_144),
            weight: ((100 * memory_mb + MB_PER_VCPU / 2) / MB_PER_VCPU).clamp(1, 10_000),
            quota_us: quota
                .then(|| (CPU_PERIOD_US * memory_mb / MB_PER_VCPU).max(CPU_PERIOD_US / 16)),
            period_us: CPU_PERIOD_US,
        }
    }

    /// The v2 `cpu.max` line.
    pub(crate) fn cpu_max(&self) -> String {
        match self.quota_us {
            Some(quota) => format!("{quota} {}", self.period_us),
            None => format!("max {}", self.period_us),
        }
    }
}

impl CgroupLimits {
    /// The limits of an instance with `memory_mb` of memory.
    pub fn for_instance(memory_mb: u32, pids_max: u32, cpu_quota: bool) -> CgroupLimits {
        CgroupLimits {
            memory_bytes: u64::from(memory_mb) * MIB,
            pids_max: u64::from(pids_max),
            cpu: CpuLimits::for_memory(memory_mb, cpu_quota),
        }
    }
}

/// The value of `key` in a flat-keyed file (`memory.events`,
/// `memory.oom_control`, `memory.stat`): lines of `key value`.
pub(crate) fn keyed_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, value) = line.split_once(char::is_whitespace)?;
        (name == key).then(|| value.trim().parse().ok()).flatten()
    })
}

/// The PIDs in a `cgroup.procs` or `tasks` file.
pub(crate) fn parse_pids(text: &str) -> Vec<i32> {
    text.split_whitespace()
        .filter_map(|pid| pid.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(memory_mb: u32, shares: u64, weight: u64, quota_us: u64) {
        let cpu = CpuLimits::for_memory(memory_mb, true);
        assert_eq!(
            (cpu.shares, cpu.weight, cpu.quota_us, cpu.period_us),
            (shares, weight, Some(quota_us), 100_000),
            "{memory_mb} MB"
        );
    }

    #[test]
    fn cpu_follows_memory() {
        check(128, 74, 7, 7_235);
        check(512, 296, 29, 28_942);
        check(1769, 1024, 100, 100_000);
        check(3538, 2048, 200, 200_000);
        check(10_240, 5_927, 579, 578_858);
        // Below Lambda's range: floors.
        check(64, 37, 4, 6_250);
        check(1, 2, 1, 6_250);
    }

    #[test]
    fn quota_is_optional() {
        let cpu = CpuLimits::for_memory(128, false);
        assert_eq!(cpu.quota_us, None);
        assert_eq!(cpu.cpu_max(), "max 100000");
        assert_eq!(CpuLimits::for_memory(1769, true).cpu_max(), "100000 100000");
    }

    #[test]
    fn instance_limits() {
        let limits = CgroupLimits::for_instance(128, 1024, true);
        assert_eq!(limits.memory_bytes, 134_217_728);
        assert_eq!(limits.pids_max, 1024);
    }

    #[test]
    fn parses_keyed_files() {
        let oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed_value(oom_control, "oom_kill"), Some(2));
        assert_eq!(keyed_value(oom_control, "oom_kill_disable"), Some(0));
        assert_eq!(keyed_value(oom_control, "oom"), None);
        let events = "low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n";
        assert_eq!(keyed_value(events, "oom_kill"), Some(1));
        assert_eq!(keyed_value(events, "max"), Some(12));
        assert_eq!(keyed_value("", "oom_kill"), None);
    }

    #[test]
    fn parses_pids() {
        assert_eq!(parse_pids("12\n345\n"), vec![12, 345]);
        assert_eq!(parse_pids(""), Vec::<i32>::new());
    }
}
