//! A `tp_btf` program that does nothing: what any program on a hook costs
//! (trampoline, run-time accounting), the floor under every tool's cost.
#![no_std]
#![no_main]

use aya_ebpf::{macros::btf_tracepoint, programs::BtfTracePointContext};
// Links the shared panic handler.
use toolkit_kernel as _;

/// The tracepoint is chosen at load time; the name here only labels it.
#[btf_tracepoint(function = "sys_enter")]
pub fn noop(_ctx: BtfTracePointContext) -> i32 {
    0
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
