//! Finding the cgroup hierarchies from `/proc/self/mountinfo`: version 2
//! when the unified hierarchy offers memory, cpu and pids, else version 1
//! when each of them has a hierarchy of its own.

use std::path::{Path, PathBuf};

use super::CgroupFlavor;
use crate::mounts::unescape_mountinfo;

/// The controllers the sandbox needs.
const REQUIRED: [&str; 3] = ["memory", "cpu", "pids"];

/// The controllers the sandbox needs, for messages.
pub(crate) fn required_controllers() -> &'static [&'static str] {
    &REQUIRED
}

/// Picks the hierarchies to use from mountinfo text; `controllers_of`
/// reads a v2 mount's `cgroup.controllers`. On failure, says what is there
/// and what is missing.
pub(crate) fn detect(
    mountinfo: &str,
    controllers_of: impl Fn(&Path) -> Option<String>,
) -> Result<CgroupFlavor, String> {
    let mut unified: Option<(PathBuf, Vec<String>)> = None;
    let mut v1: [Option<PathBuf>; 3] = [None, None, None];
    for line in mountinfo.lines() {
        let Some((before, after)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = before.split(' ').nth(4) else {
            continue;
        };
        let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
        let mut after = after.split(' ');
        let fs_type = after.next().unwrap_or_default();
        let super_options = after.nth(1).unwrap_or_default();
        match fs_type {
            "cgroup2" if unified.is_none() => {
                let controllers = controllers_of(&mount_point).unwrap_or_default();
                let controllers = controllers.split_whitespace().map(str::to_string).collect();
                unified = Some((mount_point, controllers));
            }
            "cgroup" => {
                for option in super_options.split(',') {
                    if let Some(index) = REQUIRED.iter().position(|name| *name == option) {
                        v1[index].get_or_insert_with(|| mount_point.clone());
                    }
                }
            }
            _ => {}
        }
    }

    if let Some((root, controllers)) = &unified
        && REQUIRED
            .iter()
            .all(|name| controllers.iter().any(|c| c == name))
    {
        return Ok(CgroupFlavor::V2 { root: root.clone() });
    }
    if let [Some(memory), Some(cpu), Some(pids)] = &v1 {
        return Ok(CgroupFlavor::V1 {
            memory: memory.clone(),
            cpu: cpu.clone(),
            pids: pids.clone(),
        });
    }

    let v1_missing: Vec<&str> = REQUIRED
        .iter()
        .zip(&v1)
        .filter(|(_, found)| found.is_none())
        .map(|(name, _)| *name)
        .collect();
    let v2_part = match &unified {
        Some((root, controllers)) => {
            let missing: Vec<&str> = REQUIRED
                .iter()
                .filter(|name| !controllers.iter().any(|c| c == *name))
                .copied()
                .collect();
            format!(
                "the cgroup v2 hierarchy at {} lacks {}",
                root.display(),
                missing.join(", ")
            )
        }
        None => "no cgroup v2 hierarchy is mounted".to_string(),
    };
    Err(format!(
        "{v2_part}, and no cgroup v1 hierarchy is mounted for {}",
        v1_missing.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1_AND_EMPTY_V2: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const V2: &str = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

    fn controllers(list: &'static str) -> impl Fn(&Path) -> Option<String> {
        move |_| Some(list.to_string())
    }

    #[test]
    fn prefers_a_complete_v2() {
        assert_eq!(
            detect(V2, controllers("cpuset cpu io memory hugetlb pids rdma")),
            Ok(CgroupFlavor::V2 {
                root: PathBuf::from("/sys/fs/cgroup")
            })
        );
    }

    #[test]
    fn falls_back_to_v1() {
        assert_eq!(
            detect(V1_AND_EMPTY_V2, controllers("hugetlb")),
            Ok(CgroupFlavor::V1 {
                memory: PathBuf::from("/sys/fs/cgroup/memory"),
                cpu: PathBuf::from("/sys/fs/cgroup/cpu,cpuacct"),
                pids: PathBuf::from("/sys/fs/cgroup/pids"),
            })
        );
    }

    #[test]
    fn says_what_is_missing() {
        let error = detect(V2, controllers("cpu io")).expect_err("incomplete");
        assert_eq!(
            error,
            "the cgroup v2 hierarchy at /sys/fs/cgroup lacks memory, pids, and no cgroup v1 hierarchy is mounted for memory, cpu, pids"
        );
        let error = detect("", controllers("")).expect_err("nothing");
        assert!(
            error.starts_with("no cgroup v2 hierarchy is mounted"),
            "{error}"
        );
    }
}
