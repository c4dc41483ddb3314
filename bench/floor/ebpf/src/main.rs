//! A `tp_btf` program that does nothing: what any program on a hook costs
//! (trampoline, run-time accounting), the floor under every tool's cost.
//! And, for tools that time syscalls per thread, the least such timing
//! does: `timed_sys_enter` and `timed_sys_exit`, which record nothing.
#![no_std]
#![no_main]

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
use toolkit_kernel::{SyscallStart, TaskStorage, ctx_arg, syscall_enter, syscall_exit};

/// The tracepoint is chosen at load time; the name here only labels it.
#[btf_tracepoint(function = "sys_enter")]
pub fn noop(_ctx: BtfTracePointContext) -> i32 {
    0
}

/// Each thread's syscall start, as the syscall tools keep it.
#[unsafe(link_section = ".maps")]
#[unsafe(export_name = "STARTS")]
static STARTS: TaskStorage<SyscallStart> = TaskStorage::new();

/// At `sys_enter`: the current task's storage slot and the clock.
#[btf_tracepoint(function = "sys_enter")]
pub fn timed_sys_enter(ctx: BtfTracePointContext) -> i32 {
    let _ = syscall_enter(&STARTS, ctx_arg(&ctx, 1));
    0
}

/// At `sys_exit`: the slot again and the clock, the interval thrown away.
#[btf_tracepoint(function = "sys_exit")]
pub fn timed_sys_exit(_ctx: BtfTracePointContext) -> i32 {
    let _ = syscall_exit(&STARTS);
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
