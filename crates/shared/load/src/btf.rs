//! Kernel BTF, read once per process.
//!
//! aya's `Btf` does not expose struct members, and tools need field offsets
//! (`request.q`, `task_struct.pid`, ...) to read kernel memory portably, the
//! way CO-RE does in C. This is a minimal reader of the BTF format for that:
//! it indexes type records once and answers member-offset and enum queries.
//! It also finds the type id a `tp_btf` program attaches to, so that aya's
//! own `Btf` (about 18 MiB of heap and 8 ms for this kernel's BTF) is never
//! parsed: the file is mapped, not copied, and only an offset per type is
//! kept.

use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};

/// Offsets in `struct pt_regs` of a syscall's number and its arguments
/// as it was entered ([`KernelBtf::syscall_regs`]). The number is read as
/// the field's low 32 bits, signed: -1 where no syscall is in progress
/// (after `rt_sigreturn`), whether the field is x86's `unsigned long
/// orig_ax` or arm64's `s32 syscallno`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallRegs {
    pub nr: u32,
    pub args: [u32; 6],
}

/// Environment variable that points the tools at another BTF file (tests use
/// it to simulate a kernel without BTF).
pub const BTF_PATH_ENV: &str = "EBPF_TOOLKIT_BTF";
const DEFAULT_BTF_PATH: &str = "/sys/kernel/btf/vmlinux";

const KIND_INT: u32 = 1;
const KIND_PTR: u32 = 2;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// The BTF file's bytes: mapped where the kernel allows it (6.16 and later
/// map `/sys/kernel/btf/vmlinux` read-only and private: no copy, and none of
/// the thousand 4 KiB reads sysfs otherwise takes), else read.
enum Bytes {
    Mapped(*const u8, usize),
    Owned(Vec<u8>),
}

impl Bytes {
    fn map(path: &std::path::Path) -> std::io::Result<Self> {
        use std::os::fd::AsRawFd as _;
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len() as usize;
        if len == 0 {
            return Err(std::io::ErrorKind::InvalidData.into());
        }
        // SAFETY: a read-only private mapping of a file we opened; it stays
        // valid after the file is closed, until munmap in Drop.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_PRIVATE,
                file.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Self::Mapped(ptr.cast(), len))
    }
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            // SAFETY: the mapping is len bytes long and lives as long as self.
            Self::Mapped(ptr, len) => unsafe { std::slice::from_raw_parts(*ptr, *len) },
            Self::Owned(data) => data,
        }
    }
}

impl Drop for Bytes {
    fn drop(&mut self) {
        if let Self::Mapped(ptr, len) = *self {
            // SAFETY: unmapping exactly the mapping made in Bytes::map.
            unsafe { libc::munmap(ptr.cast_mut().cast(), len) };
        }
    }
}

/// The running kernel's BTF.
pub struct KernelBtf {
    data: Bytes,
    /// Byte position of each type record, indexed by type id (id 0 is void).
    types: Vec<u32>,
    strings: usize,
    strings_len: usize,
}

struct TypeRecord {
    name: u32,
    kind: u32,
    vlen: usize,
    kind_flag: bool,
    size_or_type: u32,
    pos: usize,
}

/// Where the kernel's BTF is read from: `/sys/kernel/btf/vmlinux`, or the
/// file named by `EBPF_TOOLKIT_BTF`.
fn btf_path() -> PathBuf {
    std::env::var_os(BTF_PATH_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_BTF_PATH))
}

impl KernelBtf {
    /// Reads the kernel's BTF (`/sys/kernel/btf/vmlinux`, or the file named
    /// by `EBPF_TOOLKIT_BTF`).
    pub fn load() -> Result<Self> {
        let path = btf_path();
        let data = Bytes::map(&path).or_else(|_| std::fs::read(&path).map(Bytes::Owned));
        let data = data.with_context(|| {
            format!(
                "kernel BTF not readable at {} (the kernel needs CONFIG_DEBUG_INFO_BTF=y)",
                path.display()
            )
        })?;
        Self::parse(path, data)
    }

    fn parse(path: PathBuf, data: Bytes) -> Result<Self> {
        let bad = || format!("{} is not a valid BTF file", path.display());
        if data.len() < 24 || u16::from_le_bytes([data[0], data[1]]) != 0xeb9f {
            bail!("{}", bad());
        }
        let u32_at = |pos: usize| u32::from_le_bytes(data[pos..pos + 4].try_into().unwrap());
        let hdr_len = u32_at(4) as usize;
        let type_off = hdr_len + u32_at(8) as usize;
        let type_end = type_off + u32_at(12) as usize;
        let strings = hdr_len + u32_at(16) as usize;
        let strings_len = u32_at(20) as usize;
        if type_end > data.len() || strings + strings_len > data.len() {
            bail!("{}", bad());
        }
        let mut types = vec![0u32];
        let mut pos = type_off;
        while pos + 12 <= type_end {
            types.push(pos as u32);
            let info = u32_at(pos + 4);
            let vlen = (info & 0xffff) as usize;
            let extra = match (info >> 24) & 0x1f {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => 4,
                KIND_ARRAY => 12,
                KIND_STRUCT | KIND_UNION | KIND_DATASEC | KIND_ENUM64 => 12 * vlen,
                KIND_ENUM | KIND_FUNC_PROTO => 8 * vlen,
                _ => 0,
            };
            pos += 12 + extra;
        }
        if pos != type_end {
            bail!("{}", bad());
        }
        Ok(Self {
            data,
            types,
            strings,
            strings_len,
        })
    }

    fn u32_at(&self, pos: usize) -> u32 {
        u32::from_le_bytes(self.data[pos..pos + 4].try_into().unwrap())
    }

    fn string(&self, offset: u32) -> &[u8] {
        let start = self.strings + offset as usize;
        let end = self.strings + self.strings_len;
        let s = &self.data[start.min(end)..end];
        &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
    }

    fn record(&self, id: u32) -> Option<TypeRecord> {
        let pos = *self.types.get(id as usize)? as usize;
        if id == 0 {
            return None;
        }
        let info = self.u32_at(pos + 4);
        Some(TypeRecord {
            name: self.u32_at(pos),
            kind: (info >> 24) & 0x1f,
            vlen: (info & 0xffff) as usize,
            kind_flag: info >> 31 == 1,
            size_or_type: self.u32_at(pos + 8),
            pos,
        })
    }

    fn find(&self, name: &str, kinds: &[u32]) -> Option<TypeRecord> {
        self.find_id(name, kinds).and_then(|id| self.record(id))
    }

    fn find_id(&self, name: &str, kinds: &[u32]) -> Option<u32> {
        (1..self.types.len() as u32).find(|&id| {
            self.record(id)
                .is_some_and(|t| kinds.contains(&t.kind) && self.string(t.name) == name.as_bytes())
        })
    }

    /// The type id a `tp_btf` program for tracepoint `name` attaches to:
    /// its `btf_trace_<name>` typedef's.
    pub fn tracepoint_btf_id(&self, name: &str) -> Result<u32> {
        self.find_id(&format!("btf_trace_{name}"), &[KIND_TYPEDEF])
            .with_context(|| format!("tracepoint {name} not found in this kernel"))
    }

    /// Whether the kernel has a tracepoint called `name` (it then has a
    /// `btf_trace_<name>` typedef).
    pub fn has_tracepoint(&self, name: &str) -> bool {
        self.find(&format!("btf_trace_{name}"), &[KIND_TYPEDEF])
            .is_some()
    }

    /// Whether the first argument of tracepoint `name` is a pointer (a
    /// `struct task_struct *`, say) rather than a number: some tracepoints
    /// changed between kernels (`mark_victim` took a pid before 6.8). The
    /// `btf_trace_<name>` typedef is a pointer to a function whose
    /// parameters are the program's context, then the tracepoint's.
    pub fn tracepoint_first_arg_is_pointer(&self, name: &str) -> Result<bool> {
        let proto = self.tracepoint_proto(name)?;
        // Parameters follow the 12-byte header, 8 bytes each: name, type.
        let first = self.u32_at(proto.pos + 12 + 8 + 4);
        Ok(self.resolve(first).is_some_and(|t| t.kind == KIND_PTR))
    }

    /// How many arguments tracepoint `name` passes: some gained one
    /// (`tcp_retransmit_skb`'s `err`, `kfree_skb`'s `rx_sk`).
    pub fn tracepoint_arg_count(&self, name: &str) -> Result<u32> {
        Ok(self.tracepoint_proto(name)?.vlen as u32 - 1)
    }

    /// The function prototype of `btf_trace_<name>`: the program's context,
    /// then the tracepoint's arguments.
    fn tracepoint_proto(&self, name: &str) -> Result<TypeRecord> {
        self.find(&format!("btf_trace_{name}"), &[KIND_TYPEDEF])
            .and_then(|t| self.resolve(t.size_or_type))
            .filter(|t| t.kind == KIND_PTR)
            .and_then(|t| self.resolve(t.size_or_type))
            .filter(|t| t.kind == KIND_FUNC_PROTO && t.vlen >= 2)
            .with_context(|| format!("tracepoint {name} has no prototype in kernel BTF"))
    }

    /// Fails with `tracepoint X not found in this kernel` for the first of
    /// `names` the kernel lacks.
    pub fn require_tracepoints(&self, names: &[&str]) -> Result<()> {
        match names.iter().find(|n| !self.has_tracepoint(n)) {
            Some(name) => bail!("tracepoint {name} not found in this kernel"),
            None => Ok(()),
        }
    }

    /// The offsets from a task to its cgroup v2, its id and its
    /// ancestors' ids (`-c`, `-G`).
    pub fn cgroup_offsets(&self) -> Result<toolkit_core::CgroupOffsets> {
        Ok(toolkit_core::CgroupOffsets {
            task_cgroups: self.member_offset("task_struct", "cgroups")?,
            css_set_dfl_cgrp: self.member_offset("css_set", "dfl_cgrp")?,
            cgroup_level: self.member_offset("cgroup", "level")?,
            cgroup_ancestors: self.member_offset("cgroup", "ancestors")?,
            cgroup_kn: self.member_offset("cgroup", "kn")?,
            kernfs_node_id: self.member_offset("kernfs_node", "id")?,
            kernfs_node_name: self.member_offset("kernfs_node", "name")?,
            kernfs_node_parent: self.first_member_offset("kernfs_node", &["__parent", "parent"])?,
        })
    }

    /// The offset in `struct sock` of the pointer to the cgroup the socket
    /// is charged to (`sk_cgrp_data.cgroup`), for `-G` in the network
    /// tools; refused in one line where sockets have none.
    pub fn sock_cgroup_offset(&self) -> Result<u32> {
        let Ok(cgroup) = self.member_offset("sock_cgroup_data", "cgroup") else {
            bail!(
                "-G needs sockets that point to their cgroup (CONFIG_SOCK_CGROUP_DATA, Linux 5.15 or later)"
            );
        };
        Ok(self.member_offset("sock", "sk_cgrp_data")? + cgroup)
    }

    /// Byte offset of `member` in `struct name`, looking through anonymous
    /// unions and structs as C does.
    pub fn member_offset(&self, name: &str, member: &str) -> Result<u32> {
        let ty = self
            .find(name, &[KIND_STRUCT, KIND_UNION])
            .with_context(|| format!("struct {name} not found in kernel BTF"))?;
        self.member_in(&ty, member, 0)
            .with_context(|| format!("struct {name} has no member {member} in kernel BTF"))
    }

    /// Where the `struct pt_regs` that the `raw_syscalls` tracepoints pass
    /// holds the syscall's number and arguments. The layout is the
    /// architecture's, recognised by its members: x86_64's `orig_ax` or
    /// arm64's `orig_x0`.
    pub fn syscall_regs(&self) -> Result<SyscallRegs> {
        let regs = |member: &str| self.member_offset("pt_regs", member);
        if let Ok(nr) = regs("orig_ax") {
            return Ok(SyscallRegs {
                nr,
                args: [
                    regs("di")?,
                    regs("si")?,
                    regs("dx")?,
                    regs("r10")?,
                    regs("r8")?,
                    regs("r9")?,
                ],
            });
        }
        if let Ok(arg0) = regs("orig_x0") {
            // x0 becomes the return value; orig_x0 keeps the argument.
            let x = regs("regs")?;
            return Ok(SyscallRegs {
                nr: regs("syscallno")?,
                args: [arg0, x + 8, x + 16, x + 24, x + 32, x + 40],
            });
        }
        bail!(
            "struct pt_regs has neither x86_64's orig_ax nor arm64's orig_x0: unknown architecture"
        )
    }

    /// The socket offsets the network tools read (`sock_common`'s fields;
    /// it is the first member of `struct sock`, which is checked).
    pub fn sock_offsets(&self) -> Result<toolkit_core::SockOffsets> {
        anyhow::ensure!(
            self.member_offset("sock", "__sk_common")? == 0,
            "struct sock does not start with its sock_common in this kernel"
        );
        let common = |member| self.member_offset("sock_common", member);
        Ok(toolkit_core::SockOffsets {
            family: common("skc_family")?,
            num: common("skc_num")?,
            dport: common("skc_dport")?,
            state: common("skc_state")?,
            rcv_saddr: common("skc_rcv_saddr")?,
            daddr: common("skc_daddr")?,
            v6_rcv_saddr: common("skc_v6_rcv_saddr")?,
            v6_daddr: common("skc_v6_daddr")?,
        })
    }

    /// Size in bytes of `struct name` (to index arrays of it, such as
    /// `pid.numbers`).
    pub fn struct_size(&self, name: &str) -> Result<u32> {
        self.find(name, &[KIND_STRUCT, KIND_UNION])
            .map(|t| t.size_or_type)
            .with_context(|| format!("struct {name} not found in kernel BTF"))
    }

    /// The first of `members` that `struct name` has (fields renamed across
    /// kernel versions, such as `task_struct.__state`, formerly `state`).
    pub fn first_member_offset(&self, name: &str, members: &[&str]) -> Result<u32> {
        members
            .iter()
            .find_map(|m| self.member_offset(name, m).ok())
            .with_context(|| format!("struct {name} has none of {members:?} in kernel BTF"))
    }

    fn member_in(&self, ty: &TypeRecord, member: &str, base_bits: u32) -> Option<u32> {
        for i in 0..ty.vlen {
            let m = ty.pos + 12 + 12 * i;
            let name = self.u32_at(m);
            let mtype = self.u32_at(m + 4);
            let raw = self.u32_at(m + 8);
            let bits = base_bits + if ty.kind_flag { raw & 0xff_ffff } else { raw };
            if name == 0 {
                if let Some(inner) = self.resolve(mtype)
                    && matches!(inner.kind, KIND_STRUCT | KIND_UNION)
                    && let Some(found) = self.member_in(&inner, member, bits)
                {
                    return Some(found);
                }
            } else if self.string(name) == member.as_bytes() {
                return Some(bits / 8);
            }
        }
        None
    }

    /// Skips typedefs and qualifiers.
    fn resolve(&self, mut id: u32) -> Option<TypeRecord> {
        for _ in 0..32 {
            let t = self.record(id)?;
            match t.kind {
                KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG => {
                    id = t.size_or_type
                }
                _ => return Some(t),
            }
        }
        None
    }

    /// The enumerators of `enum name` with their values.
    pub fn enum_values(&self, name: &str) -> Result<Vec<(String, i64)>> {
        let ty = self
            .find(name, &[KIND_ENUM, KIND_ENUM64])
            .with_context(|| format!("enum {name} not found in kernel BTF"))?;
        let signed = ty.kind_flag;
        Ok((0..ty.vlen)
            .map(|i| {
                let (rec, value) = if ty.kind == KIND_ENUM {
                    let m = ty.pos + 12 + 8 * i;
                    let raw = self.u32_at(m + 4);
                    (
                        m,
                        if signed {
                            raw as i32 as i64
                        } else {
                            raw as i64
                        },
                    )
                } else {
                    let m = ty.pos + 12 + 12 * i;
                    let lo = self.u32_at(m + 4) as u64;
                    let hi = self.u32_at(m + 8) as u64;
                    (m, (hi << 32 | lo) as i64)
                };
                let name = String::from_utf8_lossy(self.string(self.u32_at(rec))).into_owned();
                (name, value)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage() {
        let err = KernelBtf::parse("x".into(), Bytes::Owned(vec![0; 10]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("not a valid BTF file"));
    }

    /// The architecture's syscall registers, found from BTF where the
    /// ABI fixes them (x86_64's `struct pt_regs` is also its ptrace
    /// layout; arm64's begins with the uapi `user_pt_regs`).
    #[test]
    fn syscall_regs_are_the_architectures() {
        let btf = KernelBtf::load().unwrap();
        let regs = btf.syscall_regs().unwrap();
        #[cfg(target_arch = "x86_64")]
        assert_eq!(
            regs,
            SyscallRegs {
                nr: 120,
                args: [112, 104, 96, 56, 72, 64]
            }
        );
        #[cfg(target_arch = "aarch64")]
        assert_eq!(
            regs,
            SyscallRegs {
                nr: 280,
                args: [272, 8, 16, 24, 32, 40]
            }
        );
    }

    /// Runs wherever the kernel exposes BTF (this project's machines do);
    /// offsets are checked for plausibility, not pinned to one kernel.
    #[test]
    fn reads_the_running_kernel() {
        if !std::path::Path::new(DEFAULT_BTF_PATH).exists() {
            return;
        }
        let btf = KernelBtf::load().unwrap();
        assert_eq!(btf.member_offset("request", "q").unwrap(), 0);
        assert!(btf.member_offset("request", "cmd_flags").unwrap() > 0);
        // task_struct.pid is a plain member; __state sits in it too.
        assert!(btf.member_offset("task_struct", "pid").unwrap() > 0);
        assert!(btf.member_offset("request", "no_such_member").is_err());
        assert_eq!(btf.struct_size("upid").unwrap(), 16);
        assert_eq!(
            btf.first_member_offset("task_struct", &["no_such", "pid"])
                .unwrap(),
            btf.member_offset("task_struct", "pid").unwrap()
        );
        assert!(btf.has_tracepoint("block_rq_issue"));
        assert!(!btf.has_tracepoint("no_such_tracepoint"));
        let ops = btf.enum_values("req_op").unwrap();
        assert!(ops.contains(&("REQ_OP_WRITE".to_string(), 1)));
    }
}
