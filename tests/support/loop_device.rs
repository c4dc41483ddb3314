//! A loop device on a scratch file, its I/O driven and counted by the
//! kernel's own block statistics.

use std::{
    os::unix::fs::OpenOptionsExt as _,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

/// A loop device over a sparse file, detached and removed on drop, even
/// when the test panics.
pub struct LoopDevice {
    pub name: String,
    backing: PathBuf,
    /// A tmpfs of the test's own under the backing file, unmounted on drop.
    mount: Option<PathBuf>,
    /// Held for the device's life: tests that drive block I/O run one at a
    /// time. Concurrent completions on one CPU can nest a tool's program
    /// inside itself, and the kernel then skips the nested run (a recursion
    /// miss, which the tools report): exact counts need one I/O stream.
    _serial: std::sync::MutexGuard<'static, ()>,
}

impl LoopDevice {
    pub fn new(size_mib: u64) -> LoopDevice {
        Self::create(size_mib, None)
    }

    /// A loop device over a sparse file of `size_mib` on a tmpfs of only
    /// `tmpfs_kib` that the test mounts: writes past the tmpfs's space fail
    /// in the backing file, and so complete with an error, one request each.
    pub fn on_small_tmpfs(size_mib: u64, tmpfs_kib: u64) -> LoopDevice {
        Self::create(size_mib, Some(tmpfs_kib))
    }

    fn create(size_mib: u64, tmpfs_kib: Option<u64>) -> LoopDevice {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let mount = tmpfs_kib.map(|kib| {
            let dir =
                std::env::temp_dir().join(format!("toolkit-tmpfs-{}-{seq}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let status = Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
                .arg(&dir)
                .status()
                .expect("running mount");
            assert!(status.success(), "mounting a tmpfs at {dir:?}");
            dir
        });
        let backing = mount
            .clone()
            .unwrap_or_else(std::env::temp_dir)
            .join(format!("toolkit-test-{}-{seq}.img", std::process::id()));
        let file = std::fs::File::create(&backing).unwrap();
        file.set_len(size_mib << 20).unwrap();
        let out = Command::new("losetup")
            .args(["-f", "--show"])
            .arg(&backing)
            .output()
            .expect("running losetup");
        assert!(
            out.status.success(),
            "losetup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let path = String::from_utf8(out.stdout).unwrap();
        let name = path.trim().trim_start_matches("/dev/").to_string();
        LoopDevice {
            name,
            backing,
            mount,
            _serial: serial,
        }
    }

    pub fn path(&self) -> String {
        format!("/dev/{}", self.name)
    }

    /// Completed (reads, writes) and in-flight I/Os from /sys/block/NAME/stat.
    pub fn stat(&self) -> BlockStat {
        let text = std::fs::read_to_string(format!("/sys/block/{}/stat", self.name)).unwrap();
        let f: Vec<u64> = text
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        BlockStat {
            reads: f[0],
            writes: f[4],
            in_flight: f[8],
        }
    }

    /// Waits until no I/O is in flight (udev or the kernel may probe a new
    /// device), so that before/after snapshots bracket only our I/O.
    pub fn settle(&self) -> BlockStat {
        loop {
            let a = self.stat();
            std::thread::sleep(std::time::Duration::from_millis(50));
            let b = self.stat();
            if a == b && b.in_flight == 0 {
                return b;
            }
        }
    }

    /// Opens the device for O_DIRECT I/O and hands `io` the file and a
    /// 4 KiB block aligned as O_DIRECT needs.
    fn with_direct_block<R>(&self, io: impl FnOnce(&std::fs::File, &mut [u8]) -> R) -> R {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_DIRECT)
            .open(self.path())
            .unwrap();
        let layout = std::alloc::Layout::from_size_align(4096, 4096).unwrap();
        // SAFETY: layout has non-zero size; freed below with the same layout.
        let buf = unsafe { std::alloc::alloc_zeroed(layout) };
        // SAFETY: buf points to 4096 initialised bytes, ours until freed.
        let result = io(&file, unsafe { std::slice::from_raw_parts_mut(buf, 4096) });
        // SAFETY: allocated above with this layout.
        unsafe { std::alloc::dealloc(buf, layout) };
        result
    }

    /// `count` synchronous O_DIRECT writes of 4 KiB at distinct offsets;
    /// returns how many failed (with EIO or ENOSPC: the device's error).
    pub fn direct_writes_counting_failures(&self, count: usize) -> u64 {
        use std::os::unix::fs::FileExt as _;
        self.with_direct_block(|file, block| {
            let mut failed = 0;
            for i in 0..count {
                block[0] = i as u8;
                match file.write_at(block, (i as u64) * 4096) {
                    Ok(4096) => {}
                    Ok(n) => panic!("short O_DIRECT write of {n} bytes"),
                    Err(err) => {
                        assert!(
                            matches!(err.raw_os_error(), Some(libc::EIO | libc::ENOSPC)),
                            "write {i}: {err}"
                        );
                        failed += 1;
                    }
                }
            }
            failed
        })
    }

    /// `threads` threads each making `writes` synchronous O_DIRECT writes of
    /// 4 KiB, at offsets no other thread writes: up to `threads` requests in
    /// flight at once, one block request each.
    pub fn parallel_direct_writes(&self, threads: usize, writes: usize) {
        use std::os::unix::fs::FileExt as _;
        std::thread::scope(|scope| {
            for t in 0..threads {
                scope.spawn(move || {
                    self.with_direct_block(|file, block| {
                        for i in 0..writes {
                            block[0] = i as u8;
                            let offset = ((t * writes + i) as u64) * 4096;
                            file.write_all_at(block, offset).unwrap();
                        }
                    })
                });
            }
        });
    }

    /// Gives the device the first of `names` (I/O schedulers) that this
    /// kernel has (built in or loaded), and returns it: `none` if it has
    /// none of them (Debian's cloud kernels in the kernel matrix's VMs have
    /// no modules).
    pub fn set_scheduler(&self, names: &[&str]) -> String {
        let path = format!("/sys/block/{}/queue/scheduler", self.name);
        let available = std::fs::read_to_string(&path).unwrap();
        let has = |name: &str| {
            available
                .split_whitespace()
                .any(|a| a.trim_matches(['[', ']']) == name)
        };
        let name = names.iter().find(|n| has(n)).copied().unwrap_or("none");
        std::fs::write(&path, name).unwrap_or_else(|e| panic!("{path}: {name}: {e}"));
        name.to_string()
    }

    /// `count` synchronous O_DIRECT writes of 4 KiB at distinct offsets,
    /// then `count` reads of the same blocks: one block request each.
    pub fn direct_io(&self, writes: usize, reads: usize) {
        use std::os::unix::fs::FileExt as _;
        self.with_direct_block(|file, block| {
            for i in 0..writes {
                block[0] = i as u8;
                file.write_all_at(block, (i as u64) * 4096).unwrap();
            }
            for i in 0..reads {
                file.read_exact_at(block, (i as u64) * 4096).unwrap();
            }
        });
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.path()]).status();
        let _ = std::fs::remove_file(&self.backing);
        if let Some(dir) = &self.mount {
            let _ = Command::new("umount").arg(dir).status();
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// I/O counters of one block device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockStat {
    pub reads: u64,
    pub writes: u64,
    pub in_flight: u64,
}
