//! How a program reads its tracepoint's arguments and the kernel objects
//! they point to: plain loads on `tp_btf`, `bpf_probe_read_kernel` on
//! `raw_tp`; and a socket's addresses.

use aya_ebpf::helpers::{bpf_probe_read_kernel, bpf_skc_to_tcp_sock};

use crate::global;

/// A tracepoint program's context (`tp_btf` or `raw_tp`), and how it reads
/// a field of a kernel object that one of its arguments points to.
pub trait TracepointContext: aya_ebpf::EbpfContext {
    /// The `T` at `offset` in the object `arg` points to, where `arg` is a
    /// pointer argument of the tracepoint ([`ctx_arg`]) and `offset` a
    /// field's, from the kernel's BTF.
    fn arg_field<T: Copy>(arg: u64, offset: u32) -> Option<T>;

    /// Socket `sk` (an argument) as a `struct tcp_sock` whose fields
    /// [`arg_field`](Self::arg_field) reads, `None` if it is not a TCP
    /// socket.
    fn tcp_sock(sk: u64) -> Option<u64>;

    /// The address a pointer argument holds, as a plain number that can be
    /// shifted and multiplied (hashed).
    fn address(arg: u64) -> Option<u64>;

    /// The current task, as [`arg_field`](Self::arg_field) reads it: a
    /// typed pointer on `tp_btf` (its fields, and the structures they point
    /// to, are plain loads), a number on `raw_tp`.
    fn current_task() -> u64;

    /// The cookie of socket `sk` (an argument): a number the kernel gives
    /// each socket once, never another's, handed out now if the socket has
    /// none yet; `None` where a program cannot ask for it.
    fn socket_cookie(sk: u64) -> Option<u64>;
}

impl TracepointContext for aya_ebpf::programs::BtfTracePointContext {
    /// A plain load: `tp_btf` arguments are typed pointers, so the verifier
    /// checks the field (offsets are load-time constants) and makes the
    /// load fault-tolerant, without the cost of a helper call.
    #[inline(always)]
    fn arg_field<T: Copy>(arg: u64, offset: u32) -> Option<T> {
        // SAFETY: checked by the verifier against the argument's BTF type;
        // a faulting address reads as zero (a BPF_PROBE_MEM load).
        Some(unsafe { core::ptr::read_volatile((arg + offset as u64) as *const T) })
    }

    /// `bpf_skc_to_tcp_sock`: a typed `tcp_sock` pointer, so that its own
    /// fields (past `struct sock`) are plain loads too.
    #[inline(always)]
    fn tcp_sock(sk: u64) -> Option<u64> {
        // SAFETY: the helper checks the socket's protocol and type.
        let tcp = unsafe { bpf_skc_to_tcp_sock(sk as *mut core::ffi::c_void) };
        (!tcp.is_null()).then_some(tcp as u64)
    }

    /// The verifier types the argument as a pointer, which it lets be
    /// compared and stored but not otherwise computed with; what a helper
    /// copies is a number. (Passed through a per-CPU map value instead, it
    /// would need guarding against a program that interrupts this one
    /// between the store and the load; measured, that costs no less than
    /// the helper.)
    #[inline(always)]
    fn address(arg: u64) -> Option<u64> {
        let spilled = arg;
        // SAFETY: copies 8 bytes of our own stack.
        unsafe { bpf_probe_read_kernel(&raw const spilled) }.ok()
    }

    /// `bpf_get_current_task_btf`: a trusted `task_struct` pointer.
    #[inline(always)]
    fn current_task() -> u64 {
        // SAFETY: helper without arguments.
        unsafe { aya_ebpf::helpers::generated::bpf_get_current_task_btf() as u64 }
    }

    /// `bpf_get_socket_cookie`, which takes a typed socket here.
    #[inline(always)]
    fn socket_cookie(sk: u64) -> Option<u64> {
        // SAFETY: the verifier checks that `sk` is a typed socket.
        let cookie = unsafe {
            aya_ebpf::helpers::generated::bpf_get_socket_cookie(sk as *mut core::ffi::c_void)
        };
        (cookie != 0).then_some(cookie)
    }
}

impl TracepointContext for aya_ebpf::programs::RawTracePointContext {
    /// `raw_tp` arguments are plain numbers to the verifier: through
    /// `bpf_probe_read_kernel`.
    #[inline(always)]
    fn arg_field<T: Copy>(arg: u64, offset: u32) -> Option<T> {
        read_kernel(arg, offset)
    }

    /// The same address: any field is read through the helper here.
    #[inline(always)]
    fn tcp_sock(sk: u64) -> Option<u64> {
        Some(sk)
    }

    /// A number already: the same one, without a helper call.
    #[inline(always)]
    fn address(arg: u64) -> Option<u64> {
        Some(arg)
    }

    /// `bpf_get_current_task`: its address, whose fields are read through
    /// the helper.
    #[inline(always)]
    fn current_task() -> u64 {
        // SAFETY: helper without arguments.
        unsafe { aya_ebpf::helpers::bpf_get_current_task() }
    }

    /// None: `raw_tp` programs may not call `bpf_get_socket_cookie` (it
    /// needs a typed socket), and a socket's cookie field is 0 until some
    /// user asks for it.
    #[inline(always)]
    fn socket_cookie(_: u64) -> Option<u64> {
        None
    }
}

/// Reads a `T` at `base + offset` in kernel memory; the offset comes from
/// kernel BTF at load time, which makes the read portable across kernels.
#[inline(always)]
pub fn read_kernel<T>(base: u64, offset: u32) -> Option<T> {
    // SAFETY: bpf_probe_read_kernel checks the address and fails cleanly.
    unsafe { bpf_probe_read_kernel((base + offset as u64) as *const T).ok() }
}

/// `AF_INET`, as sockets hold it.
pub const AF_INET: u16 = 2;

/// The local (`remote` false) or remote address of socket `sk` (a
/// tracepoint's argument) of `family`: the first 4 bytes for IPv4, all 16
/// for IPv6.
#[inline(always)]
pub fn sock_address<C: TracepointContext>(
    sk: u64,
    offsets: &toolkit_core::SockOffsets,
    family: u16,
    remote: bool,
) -> Option<[u8; 16]> {
    if family == AF_INET {
        let at = if remote {
            &offsets.daddr
        } else {
            &offsets.rcv_saddr
        };
        let a = C::arg_field::<[u8; 4]>(sk, global(at))?;
        Some([a[0], a[1], a[2], a[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    } else {
        let at = if remote {
            &offsets.v6_daddr
        } else {
            &offsets.v6_rcv_saddr
        };
        C::arg_field::<[u8; 16]>(sk, global(at))
    }
}
