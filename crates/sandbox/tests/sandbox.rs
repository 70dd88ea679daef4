//! The sandbox on this host, for real: each test starts an instance whose
//! program is this very test binary (bound read-only into the sandbox),
//! asked by its arguments to look around or misbehave, and checks what it
//! reports and how it ended. The binary is also the sandbox init, so it has
//! its own `main` (a libtest-compatible one, for nextest) that dispatches on
//! its first argument. Needs root; skipped, saying so, otherwise.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rayo_sandbox::{Cgroup, SandboxConfig, SandboxSpec, SandboxSupport};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__sandbox-init") => rayo_sandbox::init_main(),
        Some("__inside") => inside::main(&args[2..]),
        _ => {}
    }
    let tests = [
        trial("probe_finds_everything", probe_finds_everything),
        trial("isolation", isolation),
        trial("tmp_is_capped", tmp_is_capped),
        trial("memory_hog_is_oom_killed", memory_hog_is_oom_killed),
        trial("peak_memory_is_reported", peak_memory_is_reported),
        trial("cpu_quota_follows_memory", cpu_quota_follows_memory),
        trial("fork_bomb_is_stopped", fork_bomb_is_stopped),
        trial(
            "kill_all_ends_escaped_processes",
            kill_all_ends_escaped_processes,
        ),
        trial("exit_status_passes_through", exit_status_passes_through),
        trial("init_failure_is_reported", init_failure_is_reported),
        trial("mount_failure_is_reported", mount_failure_is_reported),
        trial("python_under_a_private_home", python_under_a_private_home),
        trial("stale_cgroups_are_removed", stale_cgroups_are_removed),
    ];
    libtest_mimic::run(&Arguments::from_args(), tests.into()).exit();
}

/// A test that is skipped, with its reason printed, when not run as root.
fn trial(name: &'static str, test: fn(&SandboxSupport) -> Result<(), Failed>) -> Trial {
    Trial::ignorable_test(name, move || {
        if !nix::unistd::geteuid().is_root() {
            let reason = "the sandbox needs root";
            println!("skipping {name}: {reason}");
            return Ok(Completion::ignored_with(reason));
        }
        let support = rayo_sandbox::probe(&config()).map_err(|missing| {
            let lines: Vec<String> = missing.iter().map(ToString::to_string).collect();
            Failed::from(format!(
                "the sandbox is not supported here:\n{}",
                lines.join("\n")
            ))
        })?;
        test(&support).map(|()| Completion::Completed)
    })
}

fn config() -> SandboxConfig {
    SandboxConfig {
        init_program: std::env::current_exe().expect("test binary path"),
        init_args: vec!["__sandbox-init".into()],
        ..SandboxConfig::default()
    }
}

/// A spec running this binary's `__inside` mode with `args`.
fn spec(task_root: &Path, args: &[&str]) -> SandboxSpec {
    static N_INSTANCES: AtomicU32 = AtomicU32::new(0);
    let n_instance = N_INSTANCES.fetch_add(1, Ordering::Relaxed);
    let exe = std::env::current_exe().expect("test binary path");
    let mut all_args = vec!["__inside".to_string()];
    all_args.extend(args.iter().map(|a| a.to_string()));
    SandboxSpec {
        instance_id: format!("test-{}-{n_instance}", std::process::id()),
        program: exe.clone(),
        args: all_args,
        env: vec![
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("RAYO_TEST".to_string(), "yes".to_string()),
        ],
        task_root: task_root.to_path_buf(),
        runtime_ro_paths: vec![exe],
        opt_dir: None,
        runtime_dir: None,
        tmp_size_mb: 16,
        memory_mb: 256,
        pids_max: 256,
        cpu_quota: false,
        uid: 200_100 + n_instance,
        gid: 200_100 + n_instance,
        hostname: "rayo-test".to_string(),
    }
}

/// A function's code directory.
fn task_root() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    std::fs::write(
        dir.path().join("handler.py"),
        "def handler(event, context): pass\n",
    )
    .expect("code");
    dir
}

/// How an instance ended.
struct Finished {
    status: ExitStatus,
    log: String,
    cgroup: Cgroup,
}

/// Runs an instance to its end, at most `limit`.
fn run(support: &SandboxSupport, spec: &SandboxSpec, limit: Duration) -> Result<Finished, Failed> {
    run_after(support, spec, limit, || Ok(()))
}

/// Like [`run`], doing `before_spawn` between preparing and spawning.
fn run_after(
    support: &SandboxSupport,
    spec: &SandboxSpec,
    limit: Duration,
    before_spawn: impl FnOnce() -> Result<(), Failed>,
) -> Result<Finished, Failed> {
    let (started, mut child, cgroup, log) = start_after(support, spec, before_spawn)?;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > limit {
            cgroup.kill_all()?;
            let _ = child.wait();
            return Err(format!("the instance ran longer than {limit:?}").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let log = log.join().map_err(|_| "log reader panicked")?;
    Ok(Finished {
        status,
        log,
        cgroup,
    })
}

type Started = (
    Instant,
    std::process::Child,
    Cgroup,
    std::thread::JoinHandle<String>,
);

fn start(support: &SandboxSupport, spec: &SandboxSpec) -> Result<Started, Failed> {
    start_after(support, spec, || Ok(()))
}

fn start_after(
    support: &SandboxSupport,
    spec: &SandboxSpec,
    before_spawn: impl FnOnce() -> Result<(), Failed>,
) -> Result<Started, Failed> {
    let (mut reader, writer) = std::io::pipe()?;
    let (mut command, cgroup) = rayo_sandbox::sandboxed_command(support, spec, &writer)?;
    before_spawn()?;
    let started = Instant::now();
    let child = command.spawn()?;
    // The command holds copies of the log pipe's writing end.
    drop(command);
    drop(writer);
    let log = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = reader.read_to_string(&mut text);
        text
    });
    Ok((started, child, cgroup, log))
}

/// The `key=value` lines of a report.
fn field<'a>(log: &'a str, key: &str) -> &'a str {
    log.lines()
        .find_map(|line| {
            line.strip_prefix(key)
                .and_then(|rest| rest.strip_prefix('='))
        })
        .unwrap_or_else(|| panic!("no {key}= in the log:\n{log}"))
}

fn probe_finds_everything(support: &SandboxSupport) -> Result<(), Failed> {
    println!("{}", support.summary());
    for weakness in support.weaknesses() {
        println!("weaker: {weakness}");
    }
    Ok(())
}

fn isolation(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    // A host file that is not bound: this crate's manifest.
    let hidden = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    assert!(Path::new(hidden).exists());
    let spec = spec(code.path(), &["report", hidden]);
    let finished = run(support, &spec, Duration::from_secs(20))?;
    let log = &finished.log;
    assert!(finished.status.success(), "{:?}\n{log}", finished.status);

    // Its own PID namespace: PID 2 under the init, nobody else visible.
    assert_eq!(field(log, "pid"), "2", "{log}");
    assert_eq!(field(log, "ppid"), "1", "{log}");
    let visible: Vec<u32> = field(log, "proc_pids")
        .split(',')
        .filter(|p| !p.is_empty())
        .map(|p| p.parse().expect("pid"))
        .collect();
    assert!(
        visible.iter().all(|pid| *pid <= 2) && visible.contains(&2),
        "{log}"
    );
    assert_eq!(field(log, "hostname"), "rayo-test");

    // The unprivileged user, with nothing to escalate with.
    let ids = format!("{0},{0},{1},{1},", spec.uid, spec.gid);
    assert_eq!(field(log, "ids"), ids, "uid, euid, gid, egid, groups");
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert_eq!(field(log, set), "0000000000000000", "{set}");
    }
    assert_eq!(field(log, "NoNewPrivs"), "1");
    assert_eq!(field(log, "Seccomp"), "2");

    // Code read-only at /var/task, the working directory.
    assert_eq!(field(log, "cwd"), "/var/task");
    assert_eq!(field(log, "code"), "def handler(event, context): pass");
    assert_eq!(field(log, "write_var_task"), "EROFS");
    assert_eq!(field(log, "write_root"), "EROFS");
    assert_eq!(field(log, "write_usr"), "EROFS");
    assert_eq!(field(log, "write_tmp"), "ok");
    assert_eq!(field(log, "write_dev_null"), "ok");
    assert_eq!(field(log, "write_dev_shm"), "ok");
    assert_eq!(field(log, "opt_entries"), "0");

    // The host stays out of sight.
    assert_eq!(field(log, "read_hidden"), "ENOENT", "{hidden}");
    assert_eq!(field(log, "read_sys"), "ENOENT");
    assert_eq!(
        field(log, "read_etc_passwd"),
        "ok",
        "system directories are bound"
    );

    // Stopped by seccomp, or by the lack of capabilities.
    assert_eq!(field(log, "mount"), "EPERM");
    assert_eq!(field(log, "unshare_user"), "EPERM");
    assert_eq!(field(log, "clone_newuser"), "EPERM");
    assert_eq!(field(log, "clone3"), "ENOSYS");
    assert_eq!(field(log, "ptrace"), "EPERM");

    // Only the spec's environment; stdin at end of file.
    assert_eq!(field(log, "env"), "PATH,RAYO_TEST");
    assert_eq!(field(log, "stdin_bytes"), "0");
    Ok(())
}

fn tmp_is_capped(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let mut spec = spec(code.path(), &["fill-tmp"]);
    spec.tmp_size_mb = 8;
    let finished = run(support, &spec, Duration::from_secs(20))?;
    let log = &finished.log;
    assert!(finished.status.success(), "{:?}\n{log}", finished.status);
    assert_eq!(field(log, "error"), "ENOSPC", "{log}");
    let written: u64 = field(log, "written").parse()?;
    assert!(
        (7 << 20..=8 << 20).contains(&written),
        "{written} bytes written to an 8 MB /tmp"
    );
    Ok(())
}

fn memory_hog_is_oom_killed(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let mut spec = spec(code.path(), &["hog", "128"]);
    spec.memory_mb = 64;
    let finished = run(support, &spec, Duration::from_secs(30))?;
    assert_eq!(
        finished.status.signal(),
        Some(libc::SIGKILL),
        "{:?}\n{}",
        finished.status,
        finished.log
    );
    assert!(!finished.log.contains("survived"), "{}", finished.log);
    assert!(
        finished.cgroup.oom_killed(),
        "the cgroup reports the OOM kill"
    );
    let peak = finished.cgroup.peak_memory_bytes()?;
    println!("peak with a 64 MB limit: {peak} bytes");
    assert!(peak <= 64 << 20, "peak {peak} above the limit");
    Ok(())
}

fn peak_memory_is_reported(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let mut spec = spec(code.path(), &["hog", "48"]);
    spec.memory_mb = 128;
    let finished = run(support, &spec, Duration::from_secs(30))?;
    assert!(
        finished.status.success(),
        "{:?}\n{}",
        finished.status,
        finished.log
    );
    assert!(finished.log.contains("survived"));
    assert!(!finished.cgroup.oom_killed());
    let peak = finished.cgroup.peak_memory_bytes()?;
    println!("peak after touching 48 MB: {peak} bytes");
    assert!((48 << 20..128 << 20).contains(&peak), "peak {peak}");
    Ok(())
}

/// 128 MB buys 7.2% of a CPU: 7,235 us per 100 ms, when the quota is on.
fn cpu_quota_follows_memory(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let mut spec = spec(code.path(), &["exit", "0"]);
    spec.memory_mb = 128;
    spec.cpu_quota = true;
    let (_, writer) = std::io::pipe()?;
    let (_, mut cgroup) = rayo_sandbox::sandboxed_command(support, &spec, &writer)?;
    let quota = |cgroup: &Cgroup| -> String {
        for procs in cgroup.procs_files() {
            let dir = procs.parent().expect("cgroup directory");
            for (file, period) in [("cpu.cfs_quota_us", ""), ("cpu.max", " 100000")] {
                if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
                    return text.trim().trim_end_matches(period).to_string();
                }
            }
        }
        panic!("no CPU quota file")
    };
    assert_eq!(quota(&cgroup), "7235");
    cgroup.set_cpu_quota(false)?;
    assert!(["-1", "max"].contains(&quota(&cgroup).as_str()));
    cgroup.set_cpu_quota(true)?;
    assert_eq!(quota(&cgroup), "7235");
    Ok(())
}

fn fork_bomb_is_stopped(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let mut spec = spec(code.path(), &["fork-bomb"]);
    spec.pids_max = 32;
    let finished = run(support, &spec, Duration::from_secs(20))?;
    let log = &finished.log;
    assert!(finished.status.success(), "{:?}\n{log}", finished.status);
    assert_eq!(field(log, "error"), "EAGAIN", "{log}");
    let n_forks: u32 = field(log, "forks").parse()?;
    // The init's two processes and the program count too.
    assert!(n_forks < 32, "{n_forks} forks under pids.max 32");
    Ok(())
}

fn kill_all_ends_escaped_processes(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let spec = spec(code.path(), &["escape"]);
    let (_, mut child, cgroup, log) = start(support, &spec)?;
    // The host-side init (outside the cgroup) leads the process group that
    // PID 1 and the program share; wait until the program's child left it.
    let group_of = |pid: i32| nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))).ok();
    let init_pid = i32::try_from(child.id())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (pids, escaped) = loop {
        let pids = cgroup.pids()?;
        let escaped: Vec<i32> = pids
            .iter()
            .copied()
            .filter(|pid| group_of(*pid) != group_of(init_pid))
            .collect();
        if pids.len() == 3 && escaped.len() == 1 {
            break (pids, escaped);
        }
        assert!(
            Instant::now() < deadline,
            "the program did not start its child: {pids:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    };
    println!("processes {pids:?}, outside the process group {escaped:?}");

    cgroup.kill_all()?;
    assert!(cgroup.pids()?.is_empty());
    let status = child.wait()?;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let _ = log.join();

    let dirs: Vec<PathBuf> = cgroup
        .procs_files()
        .iter()
        .filter_map(|f| f.parent().map(PathBuf::from))
        .collect();
    assert!(dirs.iter().all(|dir| dir.exists()));
    drop(cgroup);
    assert!(
        dirs.iter().all(|dir| !dir.exists()),
        "dropping the cgroup removes it"
    );
    Ok(())
}

fn exit_status_passes_through(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let finished = run(
        support,
        &spec(code.path(), &["exit", "3"]),
        Duration::from_secs(20),
    )?;
    assert_eq!(finished.status.code(), Some(3), "{}", finished.log);
    let finished = run(
        support,
        &spec(code.path(), &["raise", "15"]),
        Duration::from_secs(20),
    )?;
    assert_eq!(
        finished.status.signal(),
        Some(libc::SIGTERM),
        "{}",
        finished.log
    );
    Ok(())
}

fn init_failure_is_reported(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    let mut spec = spec(code.path(), &[]);
    spec.program = PathBuf::from("/var/task/missing");
    let finished = run(support, &spec, Duration::from_secs(20))?;
    assert_eq!(finished.status.code(), Some(126));
    assert_eq!(
        finished.log.trim(),
        "rayo sandbox: executing /var/task/missing: ENOENT: No such file or directory"
    );
    Ok(())
}

fn mount_failure_is_reported(support: &SandboxSupport) -> Result<(), Failed> {
    let code = task_root();
    // Under target/, as a runtime path may not be under /tmp.
    let runtime = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))?;
    let gone = runtime.path().join("gone");
    std::fs::create_dir(&gone)?;
    let mut spec = spec(code.path(), &["exit", "0"]);
    spec.runtime_ro_paths.push(gone.clone());
    let finished = run_after(support, &spec, Duration::from_secs(20), || {
        Ok(std::fs::remove_dir(&gone)?)
    })?;
    assert_eq!(finished.status.code(), Some(126));
    let expected = format!(
        "rayo sandbox: reading {}: No such file or directory (os error 2)",
        gone.display()
    );
    assert_eq!(finished.log.trim(), expected, "one message, from PID 1");
    Ok(())
}

/// A pyenv Python under root's 0700 home runs as the unprivileged user,
/// through the 0755 directories the sandbox makes on the way to it.
fn python_under_a_private_home(support: &SandboxSupport) -> Result<(), Failed> {
    let Some(prefix) = std::fs::read_dir("/root/.pyenv/versions")
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.join("bin/python3").exists())
        .max()
    else {
        println!("no pyenv Python under /root/.pyenv/versions; nothing to check");
        return Ok(());
    };
    let code = task_root();
    let mut spec = spec(code.path(), &[]);
    spec.program = prefix.join("bin/python3");
    spec.args = vec![
        "-c".to_string(),
        "import os, sys, json; open('/tmp/x', 'w').write('y'); \
         print(json.dumps([sys.prefix, sorted(os.listdir('/root')), os.getcwd()]))"
            .to_string(),
    ];
    spec.runtime_ro_paths = vec![prefix.clone()];
    let finished = run(support, &spec, Duration::from_secs(20))?;
    assert!(
        finished.status.success(),
        "{:?}\n{}",
        finished.status,
        finished.log
    );
    let expected = format!("[\"{}\", [\".pyenv\"], \"/var/task\"]", prefix.display());
    assert_eq!(finished.log.trim(), expected);
    Ok(())
}

/// A cgroup left behind (as by a rayo that was killed) goes; one in use
/// stays. Under a parent of its own, so the other tests' fresh cgroups are
/// not touched.
fn stale_cgroups_are_removed(support: &SandboxSupport) -> Result<(), Failed> {
    let parent = PathBuf::from(format!("rayo-test-{}", std::process::id()));
    let limits = rayo_sandbox::CgroupLimits::for_instance(64, 16, false);
    let left_behind = Cgroup::create(support.cgroups(), &parent, "left-behind", &limits)?;
    let dirs: Vec<PathBuf> = left_behind
        .procs_files()
        .iter()
        .filter_map(|file| file.parent().map(PathBuf::from))
        .collect();
    std::mem::forget(left_behind);
    let in_use = Cgroup::create(support.cgroups(), &parent, "in-use", &limits)?;
    let mut sleeper = std::process::Command::new("/bin/sleep").arg("30").spawn()?;
    for procs in in_use.procs_files() {
        std::fs::write(procs, sleeper.id().to_string())?;
    }

    let n_removed = support.cgroups().remove_stale(&parent, Duration::ZERO);
    assert_eq!(n_removed, dirs.len());
    assert!(dirs.iter().all(|dir| !dir.exists()));
    assert_eq!(in_use.pids()?, vec![i32::try_from(sleeper.id())?]);

    in_use.remove()?;
    let _ = sleeper.wait();
    for dir in dirs {
        let _ = std::fs::remove_dir(dir.parent().expect("parent"));
    }
    Ok(())
}

/// What the program does inside the sandbox.
mod inside {
    use super::*;
    use nix::errno::Errno;

    pub(super) fn main(args: &[String]) -> ! {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        match args.as_slice() {
            ["report", hidden] => report(hidden),
            ["fill-tmp"] => fill_tmp(),
            ["hog", mb] => hog(mb.parse().expect("MB")),
            ["fork-bomb"] => fork_bomb(),
            ["escape"] => escape(),
            ["exit", code] => std::process::exit(code.parse().expect("code")),
            ["raise", signal] => {
                let signal =
                    nix::sys::signal::Signal::try_from(signal.parse::<i32>().expect("signal"))
                        .expect("signal");
                let _ = nix::sys::signal::raise(signal);
                std::process::exit(0)
            }
            _ => panic!("unknown inside command {args:?}"),
        }
        std::process::exit(0)
    }

    fn outcome<T>(result: Result<T, impl Into<std::io::Error>>) -> String {
        match result {
            Ok(_) => "ok".to_string(),
            Err(error) => {
                let error: std::io::Error = error.into();
                format!("{:?}", Errno::from_raw(error.raw_os_error().unwrap_or(0)))
            }
        }
    }

    fn errno_of(result: libc::c_long) -> String {
        if result >= 0 {
            return "ok".to_string();
        }
        format!("{:?}", Errno::last())
    }

    fn report(hidden: &str) {
        let mut out = String::new();
        let mut say = |key: &str, value: String| out.push_str(&format!("{key}={value}\n"));
        say("pid", std::process::id().to_string());
        say("ppid", nix::unistd::getppid().to_string());
        let mut pids: Vec<u32> = std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        pids.sort_unstable();
        say(
            "proc_pids",
            pids.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(","),
        );
        say(
            "hostname",
            nix::unistd::gethostname()
                .expect("hostname")
                .to_string_lossy()
                .into_owned(),
        );
        let groups: String = nix::unistd::getgroups()
            .expect("groups")
            .iter()
            .map(|g| format!("{g},"))
            .collect();
        say(
            "ids",
            format!(
                "{},{},{},{},{groups}",
                nix::unistd::getuid(),
                nix::unistd::geteuid(),
                nix::unistd::getgid(),
                nix::unistd::getegid()
            ),
        );
        let status = std::fs::read_to_string("/proc/self/status").expect("status");
        for key in [
            "CapInh",
            "CapPrm",
            "CapEff",
            "CapBnd",
            "CapAmb",
            "NoNewPrivs",
            "Seccomp",
        ] {
            let value = status
                .lines()
                .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
                .unwrap_or("absent");
            say(key, value.trim().to_string());
        }
        say(
            "cwd",
            std::env::current_dir().expect("cwd").display().to_string(),
        );
        say(
            "code",
            std::fs::read_to_string("handler.py")
                .unwrap_or_default()
                .trim()
                .to_string(),
        );
        say(
            "write_var_task",
            outcome(std::fs::write("/var/task/new.py", "x")),
        );
        say("write_root", outcome(std::fs::write("/new", "x")));
        say("write_usr", outcome(std::fs::write("/usr/new", "x")));
        say("write_tmp", outcome(std::fs::write("/tmp/new", "x")));
        say("write_dev_null", outcome(std::fs::write("/dev/null", "x")));
        say(
            "write_dev_shm",
            outcome(std::fs::write("/dev/shm/new", "x")),
        );
        say(
            "opt_entries",
            std::fs::read_dir("/opt")
                .map(|d| d.count())
                .unwrap_or(999)
                .to_string(),
        );
        say("read_hidden", outcome(std::fs::read(hidden)));
        say("read_sys", outcome(std::fs::read_dir("/sys")));
        say("read_etc_passwd", outcome(std::fs::read("/etc/passwd")));
        let mount = nix::mount::mount(
            Some("tmpfs"),
            "/tmp",
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            None::<&str>,
        );
        say("mount", outcome(mount));
        say(
            "unshare_user",
            outcome(nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWUSER)),
        );
        // SAFETY: clone with CLONE_NEWUSER and no stack: either refused
        // (the point) or a fork-like child that exits at once.
        let clone = unsafe {
            libc::syscall(
                libc::SYS_clone,
                libc::CLONE_NEWUSER | libc::SIGCHLD,
                0,
                0,
                0,
                0,
            )
        };
        if clone == 0 {
            // SAFETY: the child leaves at once.
            unsafe { libc::_exit(0) };
        }
        say("clone_newuser", errno_of(clone));
        // SAFETY: a null clone_args is refused before it is read when
        // clone3 is filtered; otherwise it fails with EFAULT.
        let clone3 = unsafe { libc::syscall(libc::SYS_clone3, 0, 0) };
        say("clone3", errno_of(clone3));
        // SAFETY: PTRACE_TRACEME takes no pointers.
        let ptrace = unsafe { libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) };
        say("ptrace", errno_of(ptrace));
        let mut keys: Vec<String> = std::env::vars().map(|(k, _)| k).collect();
        keys.sort();
        say("env", keys.join(","));
        let mut stdin = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut stdin);
        say("stdin_bytes", stdin.len().to_string());
        std::io::stdout().write_all(out.as_bytes()).expect("stdout");
    }

    fn fill_tmp() {
        let mut file = std::fs::File::create("/tmp/fill").expect("/tmp/fill");
        let chunk = vec![7u8; 64 * 1024];
        let mut written = 0u64;
        let error = loop {
            match file.write(&chunk) {
                Ok(n) => written += n as u64,
                Err(error) => break error,
            }
            if written > 64 << 20 {
                break std::io::Error::other("no cap");
            }
        };
        println!("written={written}");
        println!(
            "error={:?}",
            Errno::from_raw(error.raw_os_error().unwrap_or(0))
        );
    }

    fn hog(mb: usize) {
        let mut blocks = Vec::new();
        for _ in 0..mb {
            // Written, so every page is really used.
            blocks.push(vec![1u8; 1 << 20]);
        }
        println!("survived with {} MB", blocks.len());
    }

    fn fork_bomb() {
        let mut n_forks = 0;
        let error = loop {
            // SAFETY: this process is single-threaded; the child only pauses.
            match unsafe { nix::unistd::fork() } {
                Ok(nix::unistd::ForkResult::Child) => loop {
                    nix::unistd::pause();
                },
                Ok(nix::unistd::ForkResult::Parent { .. }) => n_forks += 1,
                Err(errno) => break errno,
            }
            if n_forks > 10_000 {
                break Errno::UnknownErrno;
            }
        };
        println!("forks={n_forks}");
        println!("error={error:?}");
    }

    fn escape() {
        // SAFETY: this process is single-threaded; the child leaves the
        // process group and sleeps.
        match unsafe { nix::unistd::fork() }.expect("fork") {
            nix::unistd::ForkResult::Child => {
                nix::unistd::setsid().expect("setsid");
                std::thread::sleep(Duration::from_secs(60));
            }
            nix::unistd::ForkResult::Parent { .. } => std::thread::sleep(Duration::from_secs(60)),
        }
    }
}
