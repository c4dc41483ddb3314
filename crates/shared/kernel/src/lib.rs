//! Kernel-side helpers shared by the tools' eBPF programs: reading the
//! configuration and kernel memory, map entries, recording samples into
//! the histograms of `toolkit-core`, task storage, the tracepoint program
//! pairs. Compiled for `bpfel-unknown-none` only; empty on the host.
#![no_std]
#![cfg(target_arch = "bpf")]
// The atomic read-modify-write instructions the kernel has (`BPF_ATOMIC`),
// which `core::sync::atomic` does not offer on the bpf target.
#![feature(core_intrinsics)]
#![allow(internal_features)]

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{
        bpf_get_current_ancestor_cgroup_id, bpf_ktime_get_ns, bpf_probe_read_kernel,
        bpf_skc_to_tcp_sock,
    },
    macros::map,
    maps::{Array, PerCpuArray, PerCpuHashMap},
};

use toolkit_core::{
    hist::{Hist, MAX_SLOTS, log2_slot},
    loglinear::{LlHist, loglinear_bin},
};

/// Reads a load-time global (filter, unit, field offset). Volatile, so the
/// value set by userspace before load is read rather than the compile-time
/// default being folded in.
#[inline(always)]
pub fn global<T: Copy>(v: &T) -> T {
    // SAFETY: v is a valid reference to a static.
    unsafe { core::ptr::read_volatile(v) }
}

/// Argument `n` of a `tp_btf` or `raw_tp` program: both contexts are arrays
/// of u64 arguments.
#[inline(always)]
pub fn ctx_arg<C: aya_ebpf::EbpfContext>(ctx: &C, n: usize) -> u64 {
    // SAFETY: tracepoint contexts hold at least n + 1 arguments; callers
    // pass indexes within the tracepoint's prototype.
    unsafe { *(ctx.as_ptr() as *const u64).add(n) }
}

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
}

/// Interval generation, bumped by userspace after each drain; a histogram
/// whose `generation` differs restarts its `max`.
#[map]
pub static HIST_GENERATION: Array<u64> = Array::with_max_entries(1, 0);

/// Initial value of new histogram entries; a static so that it is not built
/// on the 512-byte eBPF stack.
static ZERO_HIST: Hist = Hist::ZERO;

/// Atomic operations on a `u64` in a map value shared between CPUs. The
/// kernel's `BPF_CMPXCHG` and `BPF_ADD` are fully ordered (5.12+ for the
/// exchange); `core::sync::atomic` does not offer them on the bpf target.
pub mod atomic {
    use core::intrinsics::{AtomicOrdering::SeqCst, atomic_cxchg, atomic_xadd};

    /// Sets `*word` to `new` if it holds `old`: `Ok(old)`, else
    /// `Err(what it holds)`.
    ///
    /// # Safety
    /// `word` points into a map value, 8-byte aligned, which other programs
    /// change only atomically.
    #[inline(always)]
    pub unsafe fn compare_exchange(word: *mut u64, old: u64, new: u64) -> Result<u64, u64> {
        // SAFETY: as the caller promises.
        match unsafe { atomic_cxchg::<u64, { SeqCst }, { SeqCst }>(word, old, new) } {
            (held, true) => Ok(held),
            (held, false) => Err(held),
        }
    }

    /// Adds `delta` (wrapping: `u64::MAX` subtracts one) to `*word`.
    ///
    /// # Safety
    /// As for [`compare_exchange`].
    #[inline(always)]
    pub unsafe fn add(word: *mut u64, delta: u64) {
        // SAFETY: as the caller promises.
        unsafe { atomic_xadd::<u64, u64, { SeqCst }>(word, delta) };
    }
}

/// Initial value of new log-linear histograms (8.7 KiB: never on the stack).
pub static ZERO_LL_HIST: LlHist = LlHist::ZERO;

/// The histogram of `key` in `map` (preallocated) for this CPU, created
/// empty on first use. `None` only when the map is full.
#[inline(always)]
pub fn hist_entry<K>(map: &PerCpuHashMap<K, Hist>, key: &K) -> Option<&'static mut Hist> {
    map_entry(map, key, &ZERO_HIST).ok()
}

/// The one histogram of an unsplit run: slot 0 of a per-CPU array, for
/// this CPU (no hash lookup). `None` only if the array is empty.
#[inline(always)]
pub fn whole_hist(array: &PerCpuArray<Hist>) -> Option<&'static mut Hist> {
    // SAFETY: a per-CPU array slot, exclusive to this CPU while we run.
    array.get_ptr_mut(0).map(|hist| unsafe { &mut *hist })
}

/// Why a map entry could not be had, so that the sample lost is counted
/// under its real reason.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NoEntry {
    /// The map holds its maximum number of keys (or the key's bucket was
    /// locked by a program this one interrupted).
    Full,
    /// The kernel had no memory for a new entry: maps that allocate on use
    /// (`BPF_F_NO_PREALLOC`) draw from per-CPU caches that are refilled
    /// asynchronously, and a burst of new keys can empty them.
    NoMemory,
}

impl NoEntry {
    /// The drop-counter index to count the sample under: `full` or
    /// `no_memory`, the tool's indexes for the two reasons.
    #[inline(always)]
    pub fn reason(self, full: u32, no_memory: u32) -> u32 {
        match self {
            Self::Full => full,
            Self::NoMemory => no_memory,
        }
    }
}

const ENOMEM: i64 = 12;

/// The value of `key` in the per-CPU `map` for this CPU, created as `zero`
/// on first use.
#[inline(always)]
#[expect(
    clippy::mut_from_ref,
    reason = "the mutable value is the map's, not `zero`'s: kernel memory, per CPU"
)]
pub fn map_entry<K, V>(
    map: &PerCpuHashMap<K, V>,
    key: &K,
    zero: &'static V,
) -> Result<&'static mut V, NoEntry> {
    let ptr = match map.get_ptr_mut(key) {
        Some(ptr) => ptr,
        None => {
            // Another program on this CPU cannot race us (per-CPU value), but
            // another CPU may have created the key: NOEXIST keeps its data.
            if matches!(map.insert(key, zero, BPF_NOEXIST as u64), Err(e) if e as i64 == -ENOMEM) {
                return Err(NoEntry::NoMemory);
            }
            map.get_ptr_mut(key).ok_or(NoEntry::Full)?
        }
    };
    // SAFETY: a per-CPU map value stays valid for the program's run and no
    // other program instance touches this CPU's copy concurrently.
    Ok(unsafe { &mut *ptr })
}

/// Records one sample: `value` is the raw measurement (ns, bytes) that goes
/// into `sum` and `max`; its log2 bucket is taken of `value / divisor`
/// (1000 for usecs, 1_000_000 for msecs, 1 for raw units).
#[inline(always)]
pub fn hist_record(hist: &mut Hist, value: u64, divisor: u64) {
    // checked_div: a plain `/` would add a panic path, which the verifier
    // rejects (a program must end in an exit).
    hist_record_scaled(hist, value, value.checked_div(divisor).unwrap_or(value));
}

/// [`hist_record`] with `value` already divided into the histogram's unit
/// (`scaled`), for callers that have it without a division.
#[inline(always)]
pub fn hist_record_scaled(hist: &mut Hist, value: u64, scaled: u64) {
    let slot = log2_slot(scaled) & (MAX_SLOTS - 1);
    hist.slots[slot] += 1;
    hist.count += 1;
    hist.sum += value;
    let generation = HIST_GENERATION.get(0).copied().unwrap_or(0);
    if hist.generation != generation {
        hist.generation = generation;
        hist.max = value;
    } else if value > hist.max {
        hist.max = value;
    }
}

/// Records one sample of `value` (nanoseconds, bytes) in a log-linear
/// histogram, with its exact count, sum, and per-interval minimum and
/// maximum.
#[inline(always)]
pub fn ll_record(hist: &mut LlHist, value: u64) {
    if let Some(bin) = hist.bins.get_mut(loglinear_bin(value)) {
        *bin += 1;
    }
    let generation = HIST_GENERATION.get(0).copied().unwrap_or(0);
    if hist.generation != generation || hist.count == 0 {
        hist.generation = generation;
        hist.min = value;
        hist.max = value;
    } else {
        if value > hist.max {
            hist.max = value;
        }
        if value < hist.min {
            hist.min = value;
        }
    }
    hist.count += 1;
    hist.sum += value;
}

/// Records `value` in the log-linear histogram of `key` in `map` (allocated
/// on use), created empty on first use.
#[inline(always)]
pub fn ll_hist_record<K>(
    map: &PerCpuHashMap<K, LlHist>,
    key: &K,
    value: u64,
) -> Result<(), NoEntry> {
    ll_record(map_entry(map, key, &ZERO_LL_HIST)?, value);
    Ok(())
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

/// Adds one to a per-CPU counter (dropped samples, full maps).
#[inline(always)]
pub fn bump(counter: &aya_ebpf::maps::PerCpuArray<u64>, index: u32) {
    if let Some(ptr) = counter.get_ptr_mut(index) {
        // SAFETY: per-CPU array slot, exclusive to this CPU while we run.
        unsafe { *ptr += 1 };
    }
}

/// Whether the current task is in cgroup `id` (at depth `level`) or below.
#[inline(always)]
pub fn current_in_cgroup(id: u64, level: u32) -> bool {
    // SAFETY: helper without memory arguments.
    unsafe { bpf_get_current_ancestor_cgroup_id(level as i32) == id }
}

/// Whether `task`, of process `tgid`, belongs to the `-p` process of
/// `filter` (any process without one): the same pid, and a group leader
/// that started before the process was last seen alive by userspace, so
/// never a later process that reuses the pid. The start time is read only
/// for the target's own tasks.
#[inline(always)]
pub fn task_in_process(filter: &toolkit_core::PidFilter, task: u64, tgid: u32) -> bool {
    let pid = global(&filter.pid);
    if pid == 0 {
        return true;
    }
    if tgid != pid {
        return false;
    }
    let Some(leader) = read_kernel::<u64>(task, global(&filter.off_group_leader)) else {
        return false;
    };
    read_kernel::<u64>(leader, global(&filter.off_start_time))
        .is_some_and(|started| started < global(&filter.born_before))
}

/// [`task_in_process`] for the current task, of process `tgid`.
#[inline(always)]
pub fn current_in_process(filter: &toolkit_core::PidFilter, tgid: u32) -> bool {
    if global(&filter.pid) == 0 {
        return true;
    }
    // SAFETY: helper without arguments.
    let task = unsafe { aya_ebpf::helpers::bpf_get_current_task() };
    task_in_process(filter, task, tgid)
}

/// x86_64 `exit` and `exit_group` never return: no start time is kept for
/// them.
const NO_RETURN_SYSCALLS: [u64; 2] = [60, 231];

/// A task-local storage map (`BPF_MAP_TYPE_TASK_STORAGE`): one `T` per
/// task, found from the task pointer without a hash lookup or a lock on the
/// hot path. aya-ebpf 0.2 has no type for it; this is the BTF map layout
/// (`.maps` section) that loaders read the definition from.
#[repr(C)]
pub struct TaskStorage<T> {
    r#type: *const [i32; aya_ebpf::bindings::bpf_map_type::BPF_MAP_TYPE_TASK_STORAGE as usize],
    key: *const i32,
    value: *const T,
    max_entries: *const [i32; 0],
    map_flags: *const [i32; aya_ebpf::bindings::BPF_F_NO_PREALLOC as usize],
}

// SAFETY: the fields are never dereferenced; the loader reads the layout from
// BTF and the kernel owns the storage.
unsafe impl<T> Sync for TaskStorage<T> {}

impl<T> TaskStorage<T> {
    pub const fn new() -> Self {
        Self {
            r#type: core::ptr::null(),
            key: core::ptr::null(),
            value: core::ptr::null(),
            max_entries: core::ptr::null(),
            map_flags: core::ptr::null(),
        }
    }

    /// The current task's value, created zeroed if it has none.
    #[inline(always)]
    pub fn current(&self) -> Result<&'static mut T, StorageRefused> {
        // SAFETY: helper without arguments; the result is a trusted pointer.
        let task = unsafe { aya_ebpf::helpers::generated::bpf_get_current_task_btf() };
        self.get_or_create(task as u64)
    }

    /// The value of `task`, created zeroed if it has none. `task` must be a
    /// pointer the verifier trusts: a `tp_btf` argument or
    /// `bpf_get_current_task_btf()`, never a number read from memory.
    ///
    /// Lookups create too, on purpose: a plain lookup's NULL would mean
    /// either "never stored" or "refused", and a refused lookup would lose
    /// a sample silently. Created zeroed, a slot reads as "nothing stored",
    /// so callers treat zero as absent and every `Err` is a real refusal.
    #[inline(always)]
    pub fn get_or_create(&self, task: u64) -> Result<&'static mut T, StorageRefused> {
        // SAFETY: the verifier checks that `task` is a trusted task pointer;
        // the value lives as long as the task, beyond this program run.
        unsafe {
            aya_ebpf::helpers::generated::bpf_task_storage_get(
                core::ptr::from_ref(self).cast_mut().cast(),
                task as *mut _,
                core::ptr::null_mut(),
                aya_ebpf::bindings::BPF_LOCAL_STORAGE_GET_F_CREATE as u64,
            )
            .cast::<T>()
            .as_mut()
        }
        .ok_or(StorageRefused)
    }
}

impl<T> TaskStorage<T> {
    /// The value of `task` if it has one, without creating it: for
    /// programs that must not allocate (under the run-queue lock). A
    /// `None` is "never stored" or, on kernels before 6.2, "refused":
    /// callers that cannot tell must avoid relying on it there.
    #[inline(always)]
    pub fn lookup(&self, task: u64) -> Option<&'static mut T> {
        // SAFETY: as in `get_or_create`, without the create flag.
        unsafe {
            aya_ebpf::helpers::generated::bpf_task_storage_get(
                core::ptr::from_ref(self).cast_mut().cast(),
                task as *mut _,
                core::ptr::null_mut(),
                0,
            )
            .cast::<T>()
            .as_mut()
        }
    }
}

/// The kernel returned no task storage. Task storage has no size limit, so
/// this is never "full": either the allocation failed (out of memory), or
/// task storage was busy on this CPU, which is how kernels before 6.2
/// refuse even a lookup from a program that ran nested inside another task
/// storage operation on the same CPU (a wakeup from an interrupt that
/// arrived while an exiting task's storage was being freed, for example;
/// 6.2 and later refuse only the creation then). Tools count it under
/// `toolkit_core::STORAGE_REFUSED`.
#[derive(Clone, Copy, Debug)]
pub struct StorageRefused;

impl<T> Default for TaskStorage<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// A thread's syscall in progress, kept in its task storage by the latency
/// tools: when it entered (0: none in progress) and which syscall it is, so
/// that `sys_exit` need not read the number from `pt_regs`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct SyscallStart {
    pub at: u64,
    pub nr: u64,
}

/// At `sys_enter`: remembers when the current thread entered syscall `nr`,
/// in its slot of `starts` (a tool's own task-storage map, defined in its
/// object so that tools without syscall timing do not carry it). Returns
/// false when no storage could be had.
#[inline(always)]
pub fn syscall_enter(starts: &TaskStorage<SyscallStart>, nr: u64) -> bool {
    if nr == NO_RETURN_SYSCALLS[0] || nr == NO_RETURN_SYSCALLS[1] {
        return true;
    }
    let Ok(start) = starts.current() else {
        return false;
    };
    // SAFETY: helper without arguments.
    start.at = unsafe { bpf_ktime_get_ns() };
    start.nr = nr;
    true
}

/// At `sys_exit`: how long the current thread spent in the syscall that
/// returns, and its number; `Ok(None)` when its entry was not seen (it
/// entered before tracing began, or was not watched).
///
/// The slot is looked up with create, so that `Err` means one thing: the
/// kernel refused task storage ([`TaskStorage::get_or_create`]), and a
/// call that was timed may have gone unrecorded: count it.
#[inline(always)]
pub fn syscall_exit(
    starts: &TaskStorage<SyscallStart>,
) -> Result<Option<(u64, u64)>, StorageRefused> {
    let start = starts.current()?;
    let then = start.at;
    if then == 0 {
        return Ok(None);
    }
    start.at = 0;
    Ok(Some((ns_since(then), start.nr)))
}

/// Nanoseconds from `start`, a `bpf_ktime_get_ns()` reading, to now. The
/// start may have been read on another CPU (a task migrated, a request
/// completed elsewhere) whose clock reads a little ahead: such an interval
/// counts as 0, a sample like any other, never one dropped unseen.
#[inline(always)]
pub fn ns_since(start: u64) -> u64 {
    // SAFETY: helper without arguments.
    unsafe { bpf_ktime_get_ns() }.saturating_sub(start)
}

/// The panic handler of every tool's eBPF object. Programs must not have
/// panic paths at all (the verifier rejects code that does not end in an
/// exit); this only satisfies `no_std`.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Defines the pair of programs for one tracepoint that every tool ships:
/// `$btf_name` (`tp_btf`) and `$raw_name` (`raw_tp`), both calling
/// `$handler(&ctx)`, which reads its arguments with [`ctx_arg`] and so works
/// with either context. Userspace picks one per run (`attach_tracepoints`).
#[macro_export]
macro_rules! tracepoint_programs {
    ($tracepoint:literal, $btf_name:ident, $raw_name:ident, $handler:path) => {
        #[aya_ebpf::macros::btf_tracepoint(function = $tracepoint)]
        pub fn $btf_name(ctx: aya_ebpf::programs::BtfTracePointContext) -> i32 {
            $handler(&ctx)
        }

        #[aya_ebpf::macros::raw_tracepoint(tracepoint = $tracepoint)]
        pub fn $raw_name(ctx: aya_ebpf::programs::RawTracePointContext) -> i32 {
            $handler(&ctx)
        }
    };
}
