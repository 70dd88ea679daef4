//! The system calls that nix does not wrap safely, each behind a small safe
//! function; every `unsafe` block of the crate outside the probe's forked
//! child is here.

use std::io;

use nix::sys::signal::{SigSet, SigmaskHow, sigprocmask};
use nix::unistd::ForkResult;

use crate::init::Outcome;

/// Forks the calling process.
///
/// Only for the init, which checked at entry that it runs a single thread,
/// so the child may do anything the parent could.
pub(crate) fn fork() -> nix::Result<ForkResult> {
    // SAFETY: the init is single-threaded (checked by `ensure_single_threaded`
    // before anything else), so no lock or allocator state can be held by a
    // thread that does not exist in the child.
    unsafe { nix::unistd::fork() }
}

/// Waits for the child `pid`, or any child for -1, retrying when
/// interrupted; returns its PID and how it ended, or `None` for a child
/// that was only stopped or continued.
pub(crate) fn wait(pid: i32) -> io::Result<(i32, Option<Outcome>)> {
    let mut status: libc::c_int = 0;
    let pid = loop {
        // SAFETY: `status` is a valid, writable c_int for the call's duration.
        let result = unsafe { libc::waitpid(pid, &mut status, 0) };
        if result >= 0 {
            break result;
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    };
    let outcome = if libc::WIFEXITED(status) {
        Some(Outcome::Exited(libc::WEXITSTATUS(status)))
    } else if libc::WIFSIGNALED(status) {
        Some(Outcome::Killed(libc::WTERMSIG(status)))
    } else {
        None
    };
    Ok((pid, outcome))
}

/// Closes every file descriptor from `first` up.
pub(crate) fn close_fds_from(first: u32) -> io::Result<()> {
    // SAFETY: close_range takes plain integers. The init calls this before
    // it creates any file descriptor above 2 that Rust code owns, so no
    // `OwnedFd` is invalidated.
    let result = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0) };
    if result == 0 {
        return Ok(());
    }
    // Kernels before 5.9: close what /proc lists.
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        if let Some(fd) = entry?
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        {
            fds.push(fd);
        }
    }
    for fd in fds.into_iter().filter(|fd| *fd >= first as i32) {
        // SAFETY: as above; the descriptor of the read_dir is already closed,
        // and closing a descriptor that is not open only returns EBADF.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Removes every capability from the bounding set, so no later `execve`
/// can regain one. Needs CAP_SETPCAP.
pub(crate) fn drop_bounding_set() -> io::Result<()> {
    for capability in 0..=63 {
        // SAFETY: PR_CAPBSET_DROP takes an integer capability number.
        let result = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) };
        if result != 0 {
            let error = io::Error::last_os_error();
            // Past the last capability this kernel knows.
            if error.raw_os_error() == Some(libc::EINVAL) && capability > 0 {
                return Ok(());
            }
            return Err(error);
        }
    }
    Ok(())
}

/// Empties the ambient capability set.
pub(crate) fn clear_ambient_capabilities() -> io::Result<()> {
    // SAFETY: PR_CAP_AMBIENT_CLEAR_ALL takes no pointer.
    let result = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Empties the effective, permitted and inheritable capability sets.
pub(crate) fn clear_capabilities() -> io::Result<()> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: libc::c_int,
    }
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
    let mut header = Header {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [Data {
        effective: 0,
        permitted: 0,
        inheritable: 0,
    }; 2];
    // SAFETY: version 3 of the interface reads one header and two data
    // structs, laid out as the kernel's `__user_cap_header_struct` and
    // `__user_cap_data_struct`; both live until the call returns.
    let result = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Restores every signal's default action and unblocks them all, undoing
/// what rayo's runtime set up (Rust ignores SIGPIPE, and an ignored signal
/// stays ignored across `execve`).
pub(crate) fn reset_signals() -> io::Result<()> {
    for signal in 1..=libc::SIGRTMAX() {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        // SAFETY: SIG_DFL installs no handler, so no Rust code can run in
        // signal context; an invalid number only returns an error.
        unsafe { libc::signal(signal, libc::SIG_DFL) };
    }
    sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    Ok(())
}

/// Ends the process by `signal` (with its default action), or, for a
/// signal whose default is not to terminate, by exiting with 128 + signal.
pub(crate) fn die_of(signal: i32) -> ! {
    // SAFETY: SIG_DFL installs no handler; raise takes an integer. Core
    // dumps were disabled at start, so a dumping signal only terminates.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
        let mut set = SigSet::empty();
        if let Ok(signal) = nix::sys::signal::Signal::try_from(signal) {
            set.add(signal);
            let _ = sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None);
        }
        libc::raise(signal);
    }
    std::process::exit(128 + signal)
}
