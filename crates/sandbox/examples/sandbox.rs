//! Tries the sandbox on this host: `probe` says what is supported or
//! missing; `time [N]` measures, N times, how long a sandboxed process takes
//! from `spawn` to its program's first instruction of `main`, against the
//! same program spawned plainly, and prints the medians and their ratio;
//! `python PREFIX [N] [MB]` runs `PREFIX/bin/python3 -c pass` sandboxed (128 MB)
//! with and without the CPU quota, against a plain run.
//!
//! `cargo run -p rayo-sandbox --example sandbox -- time 20` (as root).

use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rayo_sandbox::{ProcessSpec, SandboxConfig, SandboxSpec, SandboxSupport};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("__sandbox-init") => rayo_sandbox::init_main(),
        Some("__now") => println!("{}", monotonic_ns()),
        Some("probe") => probe(),
        Some("time") => time(args.get(2).and_then(|n| n.parse().ok()).unwrap_or(20)),
        Some("python") if args.len() > 2 => python(
            PathBuf::from(&args[2]),
            args.get(3).and_then(|n| n.parse().ok()).unwrap_or(10),
            args.get(4).and_then(|n| n.parse().ok()).unwrap_or(128),
        ),
        _ => eprintln!("usage: sandbox probe | sandbox time [N] | sandbox python PREFIX [N]"),
    }
}

fn config() -> SandboxConfig {
    SandboxConfig {
        init_program: std::env::current_exe().expect("own path"),
        ..SandboxConfig::default()
    }
}

fn probe() {
    match rayo_sandbox::probe(&config()) {
        Ok(support) => {
            println!("{}", support.summary());
            println!("{:?}", support.cgroups());
            for weakness in support.weaknesses() {
                println!("weaker: {weakness}");
            }
        }
        Err(missing) => {
            for feature in missing {
                println!("missing: {feature}");
            }
            std::process::exit(1);
        }
    }
}

fn time(n_runs: usize) {
    let support = match rayo_sandbox::probe(&config()) {
        Ok(support) => support,
        Err(missing) => {
            for feature in missing {
                eprintln!("missing: {feature}");
            }
            std::process::exit(1);
        }
    };
    let exe = std::env::current_exe().expect("own path");
    let code = std::env::temp_dir().join(format!("rayo-sandbox-time-{}", std::process::id()));
    std::fs::create_dir_all(&code).expect("code dir");

    let mut plain = Vec::new();
    let mut sandboxed = Vec::new();
    let mut sandboxed_total = Vec::new();
    let mut cgroup_setup = Vec::new();
    for n_run in 0..n_runs {
        plain.push(
            spawn_plain(&ProcessSpec {
                program: exe.clone(),
                args: vec!["__now".to_string()],
                env: Vec::new(),
                cwd: PathBuf::from("/"),
            })
            .0,
        );
        let spec = SandboxSpec {
            instance_id: format!("time-{}-{n_run}", std::process::id()),
            program: exe.clone(),
            args: vec!["__now".to_string()],
            env: Vec::new(),
            task_root: code.clone(),
            runtime_ro_paths: vec![exe.clone()],
            opt_dir: None,
            runtime_dir: None,
            tmp_size_mb: 512,
            memory_mb: 128,
            pids_max: 1024,
            cpu_quota: false,
            uid: 200_000 + n_run as u32,
            gid: 200_000 + n_run as u32,
            hostname: "localhost".to_string(),
        };
        let (to_main, total, setup) = spawn_sandboxed(&support, &spec);
        sandboxed.push(to_main);
        sandboxed_total.push(total);
        cgroup_setup.push(setup);
    }
    let _ = std::fs::remove_dir_all(&code);

    let plain = median(plain);
    let sandboxed = median(sandboxed);
    println!("{n_runs} runs, medians:");
    println!("  plain spawn -> main:        {:>8.2} ms", ms(plain));
    println!("  sandboxed spawn -> main:    {:>8.2} ms", ms(sandboxed));
    println!(
        "  ratio:                      {:>8.1}x",
        sandboxed.as_secs_f64() / plain.as_secs_f64()
    );
    println!(
        "  cgroup create:              {:>8.2} ms",
        ms(median(cgroup_setup))
    );
    println!(
        "  sandboxed spawn -> reaped, cgroup removed: {:.2} ms",
        ms(median(sandboxed_total))
    );
}

fn python(prefix: PathBuf, n_runs: usize, memory_mb: u32) {
    let support = rayo_sandbox::probe(&config()).expect("sandbox support");
    let code = std::env::temp_dir().join(format!("rayo-sandbox-python-{}", std::process::id()));
    std::fs::create_dir_all(&code).expect("code dir");
    let program = prefix.join("bin/python3");
    let args = vec!["-c".to_string(), "pass".to_string()];
    // Wall time, and CPU time of everything reaped (less noisy on a busy
    // machine): plain, sandboxed without quota, sandboxed with quota.
    let mut samples: [Vec<(Duration, Duration)>; 3] = Default::default();
    for n_run in 0..n_runs {
        let cpu_before = children_cpu();
        let started = Instant::now();
        let status = std::process::Command::new(&program)
            .args(&args)
            .status()
            .expect("python");
        assert!(status.success());
        samples[0].push((started.elapsed(), children_cpu() - cpu_before));
        for (index, cpu_quota) in [(1, false), (2, true)] {
            let spec = SandboxSpec {
                instance_id: format!("python-{}-{n_run}-{cpu_quota}", std::process::id()),
                program: program.clone(),
                args: args.clone(),
                env: Vec::new(),
                task_root: code.clone(),
                runtime_ro_paths: vec![prefix.clone()],
                opt_dir: None,
                runtime_dir: None,
                tmp_size_mb: 512,
                memory_mb,
                pids_max: 1024,
                cpu_quota,
                uid: 200_000,
                gid: 200_000,
                hostname: "localhost".to_string(),
            };
            let cpu_before = children_cpu();
            let total = spawn_sandboxed_silent(&support, &spec);
            samples[index].push((total, children_cpu() - cpu_before));
        }
    }
    let _ = std::fs::remove_dir_all(&code);
    println!(
        "python3 -c pass, {n_runs} runs, medians of wall time (spawn to reaped) and CPU time:"
    );
    let labels = [
        "plain".to_string(),
        format!("sandboxed, {memory_mb} MB, no quota"),
        format!("sandboxed, {memory_mb} MB, quota"),
    ];
    for (label, runs) in labels.iter().zip(samples) {
        let wall = median(runs.iter().map(|(wall, _)| *wall).collect());
        let cpu = median(runs.iter().map(|(_, cpu)| *cpu).collect());
        println!(
            "  {label:<32} {:>8.2} ms wall {:>8.2} ms CPU",
            ms(wall),
            ms(cpu)
        );
    }
}

/// User and system CPU time of all reaped descendants so far.
fn children_cpu() -> Duration {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let micros = |time: nix::sys::time::TimeVal| {
        Duration::from_micros(time.tv_sec() as u64 * 1_000_000 + time.tv_usec() as u64)
    };
    micros(usage.user_time()) + micros(usage.system_time())
}

fn spawn_sandboxed_silent(support: &SandboxSupport, spec: &SandboxSpec) -> Duration {
    let started = Instant::now();
    let (_, writer) = std::io::pipe().expect("pipe");
    let (mut command, cgroup) =
        rayo_sandbox::sandboxed_command(support, spec, &writer).expect("command");
    drop(writer);
    let status = command.spawn().expect("spawn").wait().expect("wait");
    assert!(status.success(), "{status:?}");
    drop(cgroup);
    started.elapsed()
}

/// Time from spawn to the program's `main`.
fn spawn_plain(spec: &ProcessSpec) -> (Duration, Duration) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let mut command = rayo_sandbox::command(spec, &writer).expect("command");
    let started = Instant::now();
    let spawned_ns = monotonic_ns();
    let mut child = command.spawn().expect("spawn");
    drop(command);
    drop(writer);
    let mut output = String::new();
    reader.read_to_string(&mut output).expect("output");
    child.wait().expect("wait");
    (since(spawned_ns, &output), started.elapsed())
}

fn spawn_sandboxed(support: &SandboxSupport, spec: &SandboxSpec) -> (Duration, Duration, Duration) {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let started = Instant::now();
    let (mut command, cgroup) =
        rayo_sandbox::sandboxed_command(support, spec, &writer).expect("command");
    let setup = started.elapsed();
    let spawned_ns = monotonic_ns();
    let mut child = command.spawn().expect("spawn");
    drop(command);
    drop(writer);
    let mut output = String::new();
    reader.read_to_string(&mut output).expect("output");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status:?}: {output}");
    drop(cgroup);
    if std::env::var_os("SHOW").is_some() {
        eprintln!("{output}");
    }
    (since(spawned_ns, &output), started.elapsed(), setup)
}

fn since(spawned_ns: u64, output: &str) -> Duration {
    let main_ns: u64 = output
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("not a time: {output:?}"));
    Duration::from_nanos(main_ns.saturating_sub(spawned_ns))
}

fn monotonic_ns() -> u64 {
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).expect("clock");
    now.tv_sec() as u64 * 1_000_000_000 + now.tv_nsec() as u64
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
