//! How this architecture's kernel runs a syscall: the function a syscall's
//! number leads to, and the saved registers that function finds its arguments
//! in. The ioctl probes attach there with BTF trampolines rather than to the
//! syscall tracepoints, which put every syscall of every thread on the slow
//! path while attached.

/// The syscall convention the agent was built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallConvention {
    /// The function of the ioctl syscall; it takes one `const struct pt_regs *`.
    pub ioctl_function: &'static str,
    /// The `struct pt_regs` members holding the first three arguments.
    pub argument_registers: [&'static str; 3],
}

/// The convention of the architecture this agent runs on, or `None` where the
/// syscall tracepoints are the only way known.
pub const fn native() -> Option<SyscallConvention> {
    if cfg!(target_arch = "x86_64") {
        Some(SyscallConvention {
            ioctl_function: "__x64_sys_ioctl",
            argument_registers: ["di", "si", "dx"],
        })
    } else {
        None
    }
}
