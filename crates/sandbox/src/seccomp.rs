//! The seccomp filters installed just before the program starts: allow by
//! default, refuse the system calls that reach beyond the sandbox.
//!
//! Without capabilities most of these fail anyway; the filter is a second
//! wall, for kernel bugs reachable by an unprivileged user. Three filters
//! are stacked: one answering EPERM (including `clone` asked for a new
//! namespace), one answering ENOSYS to `clone3` (whose flags live in memory
//! that a filter cannot read, so libcs fall back to `clone`), and on x86_64
//! one refusing the x32 system call numbers, which would otherwise slip past
//! the others' numbers. A system call of another architecture (i386 through
//! `int 0x80`) kills the process.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// System calls refused with EPERM, whatever their arguments.
pub(crate) const DENIED: &[(&str, libc::c_long)] = &[
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("open_tree", libc::SYS_open_tree),
    ("move_mount", libc::SYS_move_mount),
    ("fsopen", libc::SYS_fsopen),
    ("fsconfig", libc::SYS_fsconfig),
    ("fsmount", libc::SYS_fsmount),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("bpf", libc::SYS_bpf),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("acct", libc::SYS_acct),
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
    ("quotactl", libc::SYS_quotactl),
    ("syslog", libc::SYS_syslog),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    #[cfg(target_arch = "x86_64")]
    ("iopl", libc::SYS_iopl),
    #[cfg(target_arch = "x86_64")]
    ("ioperm", libc::SYS_ioperm),
];

/// The `clone` flags that ask for a new namespace. `CLONE_NEWTIME` is left
/// out: for `clone` its bit is part of the exit signal.
pub(crate) const NAMESPACE_FLAGS: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// The filters, in the order they are installed.
pub(crate) fn filters() -> Result<Vec<BpfProgram>, seccompiler::Error> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;

    let mut denied: BTreeMap<i64, Vec<SeccompRule>> = DENIED
        .iter()
        .map(|(_, number)| (*number, Vec::new()))
        .collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|flag| {
            let condition = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(*flag),
                *flag,
            )?;
            SeccompRule::new(vec![condition])
        })
        .collect::<Result<Vec<_>, _>>()?;
    denied.insert(libc::SYS_clone, clone_rules);
    let denied = SeccompFilter::new(
        denied,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;

    let clone3 = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;

    let mut programs = vec![BpfProgram::try_from(denied)?, BpfProgram::try_from(clone3)?];
    if let Some(guard) = x32_guard() {
        programs.push(guard);
    }
    Ok(programs)
}

/// The filters of [`filters`] as raw bytes, one buffer per filter in the
/// order they are installed, each instruction a `struct sock_filter` (`u16`
/// code, `u8` jt, `u8` jf, `u32` k) in native byte order: what a process that
/// installs the filters itself (an instance forked from a zygote) hands
/// `prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &sock_fprog)`.
pub(crate) fn program_bytes() -> Result<Vec<Vec<u8>>, seccompiler::Error> {
    Ok(filters()?
        .iter()
        .map(|program| {
            program
                .iter()
                .flat_map(|instruction| {
                    let mut bytes = [0u8; 8];
                    bytes[..2].copy_from_slice(&instruction.code.to_ne_bytes());
                    bytes[2] = instruction.jt;
                    bytes[3] = instruction.jf;
                    bytes[4..].copy_from_slice(&instruction.k.to_ne_bytes());
                    bytes
                })
                .collect()
        })
        .collect())
}

/// On x86_64, answers ENOSYS to the x32 ABI's system call numbers.
fn x32_guard() -> Option<BpfProgram> {
    #[cfg(target_arch = "x86_64")]
    {
        use seccompiler::sock_filter;
        const BPF_LD_W_ABS: u16 = 0x20;
        const BPF_JMP_JEQ_K: u16 = 0x15;
        const BPF_JMP_JGE_K: u16 = 0x35;
        const BPF_RET_K: u16 = 0x06;
        const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
        const X32_SYSCALL_BIT: u32 = 0x4000_0000;
        let op = |code, jt, jf, k| sock_filter { code, jt, jf, k };
        Some(vec![
            // seccomp_data.arch
            op(BPF_LD_W_ABS, 0, 0, 4),
            op(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
            op(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
            // seccomp_data.nr
            op(BPF_LD_W_ABS, 0, 0, 0),
            op(BPF_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT),
            op(
                BPF_RET_K,
                0,
                0,
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
            ),
            op(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        ])
    }
    #[cfg(not(target_arch = "x86_64"))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compile() {
        let programs = filters().expect("filters compile");
        assert!(programs.len() >= 2);
        assert!(
            programs
                .iter()
                .all(|program| !program.is_empty() && program.len() < 4096)
        );
    }

    #[test]
    fn program_bytes_hold_every_instruction() {
        let programs = filters().expect("filters compile");
        let bytes = program_bytes().expect("filters compile");
        assert_eq!(bytes.len(), programs.len());
        for (program, bytes) in programs.iter().zip(&bytes) {
            assert_eq!(bytes.len(), program.len() * 8);
            let first = &program[0];
            assert_eq!(u16::from_ne_bytes([bytes[0], bytes[1]]), first.code);
            assert_eq!((bytes[2], bytes[3]), (first.jt, first.jf));
            assert_eq!(
                u32::from_ne_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
                first.k
            );
        }
    }

    #[test]
    fn denied_list_is_unique() {
        let mut numbers: Vec<_> = DENIED.iter().map(|(_, number)| *number).collect();
        numbers.sort_unstable();
        numbers.dedup();
        assert_eq!(numbers.len(), DENIED.len());
        assert!(!numbers.contains(&libc::SYS_clone) && !numbers.contains(&libc::SYS_clone3));
    }
}
