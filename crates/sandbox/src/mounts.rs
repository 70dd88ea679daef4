//! The sandbox's root file system: the plan, made on the host side from the
//! spec, and its application by the init inside the new mount namespace.
//!
//! The root is a small tmpfs holding only directories, links and mount
//! points. Sources are reached through the old root while the new one is
//! built (bubblewrap's two-step `pivot_root`), so any host path can be bound,
//! even one under `/tmp`.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::unistd::{chdir, pivot_root};

use crate::init::{Failure, failed};
use crate::wire::MountOp;
use crate::{SandboxError, SandboxSpec};

/// Where the function's code appears.
pub(crate) const TASK_ROOT: &str = "/var/task";

/// Paths the plan itself fills; a runtime path may be neither one of them,
/// nor below one, nor above one.
const RESERVED: [&str; 6] = [TASK_ROOT, RUNTIME_DIR, "/opt", "/tmp", "/proc", "/dev"];

/// The instance's private, size-capped scratch directory.
const TMP: &str = "/tmp";

/// Where a spec's `runtime_dir` appears inside the sandbox.
pub(crate) const RUNTIME_DIR: &str = "/var/runtime";

/// Device nodes bound from the host when it has them; `null` is required.
const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

const MIB: u64 = 1024 * 1024;

/// What a host path is, as far as the plan cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostEntry {
    /// A directory or a file: bound.
    Bound(PathBuf),
    /// A symbolic link: reproduced verbatim.
    Link(PathBuf, PathBuf),
}

/// A runtime path, and whether it is hidden.
type RuntimePath = (bool, PathBuf);

/// Builds the mount plan for `spec`, looking at the host's system paths and
/// devices.
///
/// `hidden_paths` are bound read-only at their own path too, like runtime
/// paths, but the directories made to reach them can be traversed and not
/// listed (0711): a zygote's instance reaches host files it already holds
/// open by name without learning what else lies beside them.
pub(crate) fn plan(
    system_paths: &[PathBuf],
    spec: &SandboxSpec,
    hidden_paths: &[PathBuf],
) -> Result<Vec<MountOp>, SandboxError> {
    let system: Vec<HostEntry> = system_paths
        .iter()
        .filter_map(|path| classify(path))
        .collect();
    let devices: Vec<&str> = DEVICES
        .into_iter()
        .filter(|name| Path::new("/dev").join(name).exists())
        .collect();
    if !devices.contains(&"null") {
        return Err(SandboxError::InvalidSpec(
            "the host has no /dev/null".to_string(),
        ));
    }
    for path in spec.runtime_ro_paths.iter().chain(hidden_paths) {
        if let Err(error) = std::fs::metadata(path) {
            return Err(SandboxError::InvalidSpec(format!(
                "runtime path {}: {error}",
                path.display()
            )));
        }
    }
    // The init reaches sources through the old root, where an absolute
    // link would resolve against the wrong root: hand it real paths.
    let real_path =
        |path: &Path| std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    build(&system, &devices, spec, hidden_paths, real_path)
}

/// The plan, from what is known of the host; `real_path` resolves a source.
pub(crate) fn build(
    system: &[HostEntry],
    devices: &[&str],
    spec: &SandboxSpec,
    hidden_paths: &[PathBuf],
    real_path: impl Fn(&Path) -> PathBuf,
) -> Result<Vec<MountOp>, SandboxError> {
    let mut ops = Vec::new();
    for entry in system {
        ops.push(match entry {
            HostEntry::Bound(path) => MountOp::BindReadOnly {
                source: path.clone(),
                target: path.clone(),
            },
            HostEntry::Link(path, points_to) => MountOp::Symlink {
                target: path.clone(),
                points_to: points_to.clone(),
            },
        });
    }
    let covered: Vec<&Path> = system
        .iter()
        .map(|entry| match entry {
            HostEntry::Bound(path) | HostEntry::Link(path, _) => path.as_path(),
        })
        .collect();

    // (hidden, path): the visible paths first, so that the directories they
    // share with hidden ones keep their usual mode; parents before children,
    // so that a child bound inside a parent stays visible.
    let mut runtime_paths: Vec<RuntimePath> = Vec::new();
    for (hidden, path) in spec
        .runtime_ro_paths
        .iter()
        .map(|p| (false, p))
        .chain(hidden_paths.iter().map(|p| (true, p)))
    {
        check_runtime_path(path)?;
        runtime_paths.push((hidden, path.clone()));
    }
    runtime_paths.sort();
    runtime_paths.dedup();
    let mut bound: Vec<&Path> = Vec::new();
    let (in_tmp, runtime_paths): (Vec<RuntimePath>, Vec<RuntimePath>) = runtime_paths
        .into_iter()
        .partition(|(_, p)| p.starts_with(TMP));
    for (hidden, path) in &runtime_paths {
        let already = covered
            .iter()
            .chain(bound.iter())
            .any(|above| path.starts_with(above));
        if !already {
            if *hidden {
                let made: Vec<&Path> = covered.iter().chain(bound.iter()).copied().collect();
                push_hidden_parents(&mut ops, path, Path::new("/"), &made);
            }
            ops.push(MountOp::BindReadOnly {
                source: real_path(path),
                target: path.clone(),
            });
            bound.push(path);
        }
    }

    ops.push(MountOp::BindReadOnly {
        source: real_path(&spec.task_root),
        target: PathBuf::from(TASK_ROOT),
    });
    if let Some(runtime_dir) = &spec.runtime_dir {
        ops.push(MountOp::BindReadOnly {
            source: real_path(runtime_dir),
            target: PathBuf::from(RUNTIME_DIR),
        });
    }
    ops.push(match &spec.opt_dir {
        Some(opt_dir) => MountOp::BindReadOnly {
            source: real_path(opt_dir),
            target: PathBuf::from("/opt"),
        },
        None => MountOp::Dir {
            target: PathBuf::from("/opt"),
            mode: 0o755,
        },
    });
    ops.push(MountOp::Tmpfs {
        target: PathBuf::from(TMP),
        mode: 0o1777,
        size_bytes: u64::from(spec.tmp_size_mb) * MIB,
        exec: true,
    });
    let mut bound_in_tmp: Vec<&Path> = Vec::new();
    for (hidden, path) in &in_tmp {
        if !bound_in_tmp.iter().any(|above| path.starts_with(above)) {
            if *hidden {
                push_hidden_parents(&mut ops, path, Path::new(TMP), &bound_in_tmp);
            }
            ops.push(MountOp::BindReadOnly {
                source: real_path(path),
                target: path.clone(),
            });
            bound_in_tmp.push(path);
        }
    }

    ops.push(MountOp::Tmpfs {
        target: PathBuf::from("/dev"),
        mode: 0o755,
        size_bytes: 64 * 1024,
        exec: false,
    });
    for name in devices {
        let path = Path::new("/dev").join(name);
        ops.push(MountOp::BindDevice {
            source: path.clone(),
            target: path,
        });
    }
    for (link, points_to) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        ops.push(MountOp::Symlink {
            target: Path::new("/dev").join(link),
            points_to: PathBuf::from(points_to),
        });
    }
    ops.push(MountOp::Tmpfs {
        target: PathBuf::from("/dev/shm"),
        mode: 0o1777,
        size_bytes: u64::from(spec.memory_mb) * MIB,
        exec: false,
    });
    ops.push(MountOp::RemountReadOnly {
        target: PathBuf::from("/dev"),
    });
    ops.push(MountOp::Proc {
        target: PathBuf::from("/proc"),
    });
    Ok(ops)
}

/// Makes the directories between `top` (excluded, already there) and `path`
/// (excluded, its mount point) traversable but not listable, but for those
/// that lead to a path in `made` (made earlier, with their usual mode).
fn push_hidden_parents(ops: &mut Vec<MountOp>, path: &Path, top: &Path, made: &[&Path]) {
    let mut parents: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .take_while(|parent| *parent != top && parent.starts_with(top))
        .filter(|parent| !made.iter().any(|made| made.starts_with(parent)))
        .collect();
    parents.reverse();
    for parent in parents {
        ops.push(MountOp::Dir {
            target: parent.to_path_buf(),
            mode: 0o711,
        });
    }
}

/// Builds the new root from `ops` and makes it the process's root, read-only.
/// Runs in the init, as root, in a fresh mount namespace.
pub(crate) fn build_root(ops: &[MountOp]) -> Result<(), Failure> {
    // Nothing done here may reach the host's mount table.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(failed("making / private"))?;
    // A scratch tmpfs to hold the new root and the old one side by side;
    // it hides the host's /tmp only until the old root moves beneath it.
    mount(
        Some("tmpfs"),
        "/tmp",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0700,size=64k"),
    )
    .map_err(failed("mounting the scratch tmpfs on /tmp"))?;
    chdir("/tmp").map_err(failed("entering the scratch tmpfs"))?;
    for dir in ["newroot", "oldroot"] {
        mkdir(Path::new(dir), 0o755)?;
    }
    pivot_root(".", "oldroot").map_err(failed("pivot_root into the scratch tmpfs"))?;
    chdir("/").map_err(failed("entering the scratch root"))?;
    mount(
        Some("tmpfs"),
        NEW_ROOT,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=1m,nr_inodes=4096"),
    )
    .map_err(failed("mounting the root tmpfs"))?;

    for op in ops {
        apply(op)?;
    }
    remount_submounts_read_only(ops)?;

    chdir(NEW_ROOT).map_err(failed("entering the new root"))?;
    // The old root ends up stacked on the new one, then goes.
    pivot_root(".", ".").map_err(failed("pivot_root into the new root"))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(failed("detaching the old root"))?;
    chdir("/").map_err(failed("entering /"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REMOUNT
            | MsFlags::MS_BIND
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV,
        None::<&str>,
    )
    .map_err(failed("making / read-only"))?;
    Ok(())
}

/// Where the new root is built, in the scratch root.
const NEW_ROOT: &str = "/newroot";
/// Where the host's root is, in the scratch root.
const OLD_ROOT: &str = "/oldroot";

fn apply(op: &MountOp) -> Result<(), Failure> {
    match op {
        MountOp::Dir { target, mode } => mkdir_all(&inside(NEW_ROOT, target), *mode),
        MountOp::Symlink { target, points_to } => {
            let link = inside(NEW_ROOT, target);
            mkdir_parent(&link)?;
            std::os::unix::fs::symlink(points_to, &link).map_err(failed(format!(
                "linking {} to {}",
                target.display(),
                points_to.display()
            )))
        }
        MountOp::BindReadOnly { source, target } => {
            let from = inside(OLD_ROOT, source);
            let to = inside(NEW_ROOT, target);
            make_mount_point(&from, &to, source)?;
            let what = || format!("binding {} on {}", source.display(), target.display());
            mount(
                Some(&from),
                &to,
                None::<&str>,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                None::<&str>,
            )
            .map_err(failed(what()))?;
            remount_read_only(&to, MsFlags::empty()).map_err(failed(what()))
        }
        MountOp::BindDevice { source, target } => {
            let from = inside(OLD_ROOT, source);
            let to = inside(NEW_ROOT, target);
            make_mount_point(&from, &to, source)?;
            let what = || format!("binding device {}", source.display());
            mount(
                Some(&from),
                &to,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(failed(what()))?;
            mount(
                None::<&str>,
                &to,
                None::<&str>,
                MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(failed(what()))
        }
        MountOp::Tmpfs {
            target,
            mode,
            size_bytes,
            exec,
        } => {
            let to = inside(NEW_ROOT, target);
            mkdir_all(&to, 0o755)?;
            let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
            if !exec {
                flags |= MsFlags::MS_NOEXEC;
            }
            let data = format!("mode={mode:o},size={size_bytes}");
            mount(
                Some("tmpfs"),
                &to,
                Some("tmpfs"),
                flags,
                Some(data.as_str()),
            )
            .map_err(failed(format!("mounting a tmpfs on {}", target.display())))
        }
        MountOp::Proc { target } => {
            let to = inside(NEW_ROOT, target);
            mkdir_all(&to, 0o755)?;
            mount(
                Some("proc"),
                &to,
                Some("proc"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("hidepid=2"),
            )
            .map_err(failed(format!("mounting proc on {}", target.display())))
        }
        MountOp::RemountReadOnly { target } => {
            remount_read_only(&inside(NEW_ROOT, target), MsFlags::MS_NOEXEC)
                .map_err(failed(format!("making {} read-only", target.display())))
        }
    }
}

/// Mounts found below a read-only bind (the host's own submounts, carried
/// along by the recursive bind) get the same treatment as its top.
fn remount_submounts_read_only(ops: &[MountOp]) -> Result<(), Failure> {
    let read_only_tops: Vec<PathBuf> = ops
        .iter()
        .filter_map(|op| match op {
            MountOp::BindReadOnly { target, .. } => Some(inside(NEW_ROOT, target)),
            _ => None,
        })
        .collect();
    let mountinfo = std::fs::read_to_string(Path::new(NEW_ROOT).join("proc/self/mountinfo"))
        .map_err(failed("reading mountinfo"))?;
    for (mount_point, read_only) in parse_mountinfo(&mountinfo) {
        let below_a_top = read_only_tops
            .iter()
            .any(|top| mount_point.starts_with(top) && mount_point != *top);
        if below_a_top && !read_only {
            remount_read_only(&mount_point, MsFlags::empty()).map_err(failed(format!(
                "making {} read-only",
                mount_point.display()
            )))?;
        }
    }
    Ok(())
}

fn remount_read_only(path: &Path, extra: MsFlags) -> nix::Result<()> {
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | extra;
    mount(None::<&str>, path, None::<&str>, flags, None::<&str>)
}

/// Each mount point in `/proc/<pid>/mountinfo` text, with whether it is
/// mounted read-only.
pub(crate) fn parse_mountinfo(text: &str) -> Vec<(PathBuf, bool)> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(' ');
            let mount_point = fields.nth(4)?;
            let options = fields.next()?;
            let read_only = options.split(',').any(|option| option == "ro");
            Some((PathBuf::from(unescape_mountinfo(mount_point)), read_only))
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
pub(crate) fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|digits| digits.iter().all(|d| (b'0'..=b'7').contains(d)));
        match (bytes[i], octal) {
            (b'\\', Some(digits)) => {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(u8::try_from(value).unwrap_or(b'?'));
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `path` (absolute) seen from under `root`.
fn inside(root: &str, path: &Path) -> PathBuf {
    let relative = path.strip_prefix("/").unwrap_or(path);
    Path::new(root).join(relative)
}

/// Makes `to` a directory or an empty file, matching what `from` (the host's
/// `source`) is.
fn make_mount_point(from: &Path, to: &Path, source: &Path) -> Result<(), Failure> {
    let metadata =
        std::fs::metadata(from).map_err(failed(format!("reading {}", source.display())))?;
    if metadata.is_dir() {
        return mkdir_all(to, 0o755);
    }
    mkdir_parent(to)?;
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .open(to)
    {
        Ok(_) => Ok(()),
        Err(error) => Err(failed(format!("creating {}", to.display()))(error)),
    }
}

fn mkdir_parent(path: &Path) -> Result<(), Failure> {
    match path.parent() {
        Some(parent) => mkdir_all(parent, 0o755),
        None => Ok(()),
    }
}

/// Creates `path` and its missing parents with `mode` (0755 for parents),
/// so the unprivileged user can traverse them whatever the host's modes.
fn mkdir_all(path: &Path, mode: u32) -> Result<(), Failure> {
    let mut so_far = PathBuf::new();
    let n_components = path.components().count();
    for (index, component) in path.components().enumerate() {
        so_far.push(component);
        if matches!(component, Component::RootDir) {
            continue;
        }
        let component_mode = if index + 1 == n_components {
            mode
        } else {
            0o755
        };
        mkdir(&so_far, component_mode)?;
    }
    Ok(())
}

fn mkdir(path: &Path, mode: u32) -> Result<(), Failure> {
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(error) => Err(failed(format!("creating {}", path.display()))(error)),
    }
}

fn classify(path: &Path) -> Option<HostEntry> {
    let metadata = std::fs::symlink_metadata(path).ok()?;
    if metadata.file_type().is_symlink() {
        let points_to = std::fs::read_link(path).ok()?;
        return Some(HostEntry::Link(path.to_path_buf(), points_to));
    }
    Some(HostEntry::Bound(path.to_path_buf()))
}

fn check_runtime_path(path: &Path) -> Result<(), SandboxError> {
    let invalid = |why: &str| {
        Err(SandboxError::InvalidSpec(format!(
            "runtime path {}: {why}",
            path.display()
        )))
    };
    if !path.is_absolute() {
        return invalid("not absolute");
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return invalid("not normalized");
    }
    if path == Path::new("/") {
        return invalid("the whole host");
    }
    // Paths below /tmp are bound inside the instance's private /tmp, after
    // it is mounted (a checkout or tool cache under /tmp holds the
    // interpreter on some CI machines).
    if path.starts_with(TMP) && path != Path::new(TMP) {
        return Ok(());
    }
    for reserved in RESERVED {
        if path.starts_with(reserved) || Path::new(reserved).starts_with(path) {
            return invalid(&format!("clashes with the sandbox's own {reserved}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> SandboxSpec {
        SandboxSpec {
            instance_id: "abc".to_string(),
            program: PathBuf::from("/var/task/bootstrap"),
            args: Vec::new(),
            env: Vec::new(),
            task_root: PathBuf::from("/data/code/1234"),
            runtime_ro_paths: Vec::new(),
            opt_dir: None,
            runtime_dir: None,
            tmp_size_mb: 512,
            memory_mb: 128,
            pids_max: 1024,
            cpu_quota: true,
            uid: 200_001,
            gid: 200_001,
            hostname: "localhost".to_string(),
        }
    }

    fn system() -> Vec<HostEntry> {
        vec![
            HostEntry::Bound(PathBuf::from("/usr")),
            HostEntry::Link(PathBuf::from("/bin"), PathBuf::from("usr/bin")),
            HostEntry::Bound(PathBuf::from("/etc")),
        ]
    }

    fn check(runtime_paths: &[&str], opt_dir: Option<&str>, expected_binds: &[(&str, &str)]) {
        let mut spec = spec();
        spec.runtime_ro_paths = runtime_paths.iter().map(PathBuf::from).collect();
        spec.opt_dir = opt_dir.map(PathBuf::from);
        let ops =
            build(&system(), &["null", "zero"], &spec, &[], Path::to_path_buf).expect("valid plan");
        let binds: Vec<(String, String)> = ops
            .iter()
            .filter_map(|op| match op {
                MountOp::BindReadOnly { source, target } => {
                    Some((source.display().to_string(), target.display().to_string()))
                }
                _ => None,
            })
            .collect();
        let expected: Vec<(String, String)> = expected_binds
            .iter()
            .map(|(s, t)| (s.to_string(), t.to_string()))
            .collect();
        assert_eq!(binds, expected);
    }

    #[test]
    fn binds_in_order() {
        check(
            &[],
            None,
            &[
                ("/usr", "/usr"),
                ("/etc", "/etc"),
                ("/data/code/1234", "/var/task"),
            ],
        );
        check(
            &["/root/.pyenv/versions/3.11.7", "/srv/rayo/runtime"],
            Some("/data/layers/merged"),
            &[
                ("/usr", "/usr"),
                ("/etc", "/etc"),
                (
                    "/root/.pyenv/versions/3.11.7",
                    "/root/.pyenv/versions/3.11.7",
                ),
                ("/srv/rayo/runtime", "/srv/rayo/runtime"),
                ("/data/code/1234", "/var/task"),
                ("/data/layers/merged", "/opt"),
            ],
        );
        // Covered by a system path, a link to one, a parent, or a duplicate.
        check(
            &[
                "/usr/lib/python3",
                "/bin/python3",
                "/srv/venv",
                "/srv/venv/lib",
                "/srv/venv",
            ],
            None,
            &[
                ("/usr", "/usr"),
                ("/etc", "/etc"),
                ("/srv/venv", "/srv/venv"),
                ("/data/code/1234", "/var/task"),
            ],
        );
        // Sorted, so a parent is bound before its child.
        check(
            &["/srv/b", "/srv/a"],
            None,
            &[
                ("/usr", "/usr"),
                ("/etc", "/etc"),
                ("/srv/a", "/srv/a"),
                ("/srv/b", "/srv/b"),
                ("/data/code/1234", "/var/task"),
            ],
        );
    }

    #[test]
    fn fixed_parts() {
        let ops = build(
            &system(),
            &["null", "zero"],
            &spec(),
            &[],
            Path::to_path_buf,
        )
        .expect("valid plan");
        assert!(ops.contains(&MountOp::Symlink {
            target: PathBuf::from("/bin"),
            points_to: PathBuf::from("usr/bin"),
        }));
        assert!(ops.contains(&MountOp::Dir {
            target: PathBuf::from("/opt"),
            mode: 0o755,
        }));
        assert!(ops.contains(&MountOp::Tmpfs {
            target: PathBuf::from("/tmp"),
            mode: 0o1777,
            size_bytes: 512 * MIB,
            exec: true,
        }));
        assert!(ops.contains(&MountOp::BindDevice {
            source: PathBuf::from("/dev/zero"),
            target: PathBuf::from("/dev/zero"),
        }));
        let position = |wanted: &MountOp| ops.iter().position(|op| op == wanted).expect("present");
        let dev = position(&MountOp::Tmpfs {
            target: PathBuf::from("/dev"),
            mode: 0o755,
            size_bytes: 64 * 1024,
            exec: false,
        });
        let null = position(&MountOp::BindDevice {
            source: PathBuf::from("/dev/null"),
            target: PathBuf::from("/dev/null"),
        });
        let dev_read_only = position(&MountOp::RemountReadOnly {
            target: PathBuf::from("/dev"),
        });
        assert!(dev < null && null < dev_read_only);
        assert_eq!(
            ops.last(),
            Some(&MountOp::Proc {
                target: PathBuf::from("/proc")
            })
        );
    }

    #[test]
    fn sources_are_real_paths_targets_as_given() {
        let mut spec = spec();
        spec.runtime_ro_paths = vec![PathBuf::from("/home/me/venv")];
        let real_path =
            |path: &Path| Path::new("/data").join(path.strip_prefix("/").expect("absolute"));
        let ops = build(&system(), &["null"], &spec, &[], real_path).expect("valid plan");
        assert!(ops.contains(&MountOp::BindReadOnly {
            source: PathBuf::from("/data/home/me/venv"),
            target: PathBuf::from("/home/me/venv"),
        }));
        assert!(ops.contains(&MountOp::BindReadOnly {
            source: PathBuf::from("/data/data/code/1234"),
            target: PathBuf::from("/var/task"),
        }));
    }

    #[test]
    fn binds_paths_below_tmp_inside_the_private_tmp() {
        let mut spec = spec();
        spec.runtime_ro_paths = vec![
            PathBuf::from("/tmp/ci/venv"),
            PathBuf::from("/tmp/ci/venv/lib"),
        ];
        let ops = build(&system(), &["null"], &spec, &[], Path::to_path_buf).unwrap();
        let tmpfs = ops
            .iter()
            .position(
                |op| matches!(op, MountOp::Tmpfs { target, .. } if target == Path::new("/tmp")),
            )
            .unwrap();
        let binds: Vec<usize> = ops
            .iter()
            .enumerate()
            .filter(|(_, op)| matches!(op, MountOp::BindReadOnly { target, .. } if target.starts_with("/tmp")))
            .map(|(i, _)| i)
            .collect();
        assert_eq!(binds.len(), 1, "the nested path is covered by its parent");
        assert!(binds[0] > tmpfs, "bound after the private /tmp is mounted");
    }

    #[test]
    fn hidden_paths_sit_behind_unlistable_directories() {
        let mut spec = spec();
        spec.runtime_ro_paths = vec![PathBuf::from("/srv/python")];
        let hidden = [
            PathBuf::from("/srv/data/runtime/site"),
            PathBuf::from("/srv/python/lib"),
            PathBuf::from("/usr/lib/x"),
            PathBuf::from("/tmp/d/site"),
        ];
        let ops = build(&system(), &["null"], &spec, &hidden, Path::to_path_buf).unwrap();
        let position = |wanted: &MountOp| ops.iter().position(|op| op == wanted);
        let dir = |path: &str| MountOp::Dir {
            target: PathBuf::from(path),
            mode: 0o711,
        };
        let bind = |path: &str| MountOp::BindReadOnly {
            source: PathBuf::from(path),
            target: PathBuf::from(path),
        };
        // The visible path's parent keeps its usual mode; the rest are made
        // unlistable, top first, before the bind.
        let python = position(&bind("/srv/python")).expect("visible path bound");
        assert_eq!(position(&dir("/srv")), None);
        let data = position(&dir("/srv/data")).expect("hidden parent");
        let runtime = position(&dir("/srv/data/runtime")).expect("hidden parent");
        let site = position(&bind("/srv/data/runtime/site")).expect("hidden path bound");
        assert!(python < data && data < runtime && runtime < site, "{ops:?}");
        // Covered by a visible or a system path: nothing to do.
        assert_eq!(position(&bind("/srv/python/lib")), None);
        assert_eq!(position(&bind("/usr/lib/x")), None);
        // Below /tmp: inside the private /tmp, which itself stays as it is.
        let tmpfs = ops
            .iter()
            .position(
                |op| matches!(op, MountOp::Tmpfs { target, .. } if target == Path::new("/tmp")),
            )
            .unwrap();
        assert_eq!(position(&dir("/tmp")), None);
        let d = position(&dir("/tmp/d")).expect("hidden parent in /tmp");
        let tmp_site = position(&bind("/tmp/d/site")).expect("hidden path in /tmp bound");
        assert!(tmpfs < d && d < tmp_site, "{ops:?}");
    }

    #[test]
    fn refuses_bad_runtime_paths() {
        for bad in [
            "relative/path",
            "/",
            "/tmp",
            "/var/task",
            "/var",
            "/opt/python",
            "/dev",
            "/srv/../etc",
        ] {
            let mut spec = spec();
            spec.runtime_ro_paths = vec![PathBuf::from(bad)];
            assert!(
                build(&system(), &["null"], &spec, &[], Path::to_path_buf).is_err(),
                "{bad} accepted"
            );
        }
    }

    #[test]
    fn mountinfo() {
        let text = "\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
28 27 0:25 / /mnt/with\\040space ro,nosuid,nodev,relatime - tmpfs x ro,size=4k
29 27 0:26 / /newroot/usr rw,relatime shared:1 - ext4 /dev/vda rw
";
        assert_eq!(
            parse_mountinfo(text),
            vec![
                (PathBuf::from("/"), false),
                (PathBuf::from("/mnt/with space"), true),
                (PathBuf::from("/newroot/usr"), false),
            ]
        );
        assert_eq!(unescape_mountinfo("a\\011b\\134c\\"), "a\tb\\c\\");
    }
}
