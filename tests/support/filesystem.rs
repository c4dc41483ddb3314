//! File systems of a test's own: ext4 and XFS on loop devices (`mount -o
//! loop`, detached by the kernel at unmount), or a tmpfs; unmounted and
//! removed on drop, even when the test panics.

use std::{path::PathBuf, process::Command};

/// A mounted file system of one test.
pub struct MountedFs {
    pub fstype: &'static str,
    /// The mount point.
    pub dir: PathBuf,
    /// The image file behind a loop device (none for tmpfs).
    image: Option<PathBuf>,
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl MountedFs {
    /// A new `fstype` (`ext4`, `xfs` or `tmpfs`) named `name` in this test
    /// process, mounted in a scratch directory.
    pub fn new(fstype: &'static str, name: &str) -> MountedFs {
        let base = std::env::temp_dir().join(format!("toolkit-fs-{name}-{}", std::process::id()));
        let dir = base.with_extension("mnt");
        let _ = Command::new("umount").arg(&dir).status();
        std::fs::create_dir_all(&dir).unwrap();
        let dir_text = dir.to_string_lossy().into_owned();
        if fstype == "tmpfs" {
            run(
                "mount",
                &["-t", "tmpfs", "-o", "size=16m", "tmpfs", &dir_text],
            );
            return MountedFs {
                fstype,
                dir,
                image: None,
            };
        }
        let image = base.with_extension("img");
        // XFS refuses file systems under 300 MiB; the image is sparse.
        let mib = if fstype == "xfs" { 320 } else { 32 };
        let file = std::fs::File::create(&image).unwrap();
        file.set_len(mib << 20).unwrap();
        drop(file);
        let image_text = image.to_string_lossy().into_owned();
        match fstype {
            "ext4" => run("mkfs.ext4", &["-q", "-F", &image_text]),
            "xfs" => run("mkfs.xfs", &["-q", "-f", &image_text]),
            other => panic!("no scratch file system of type {other}"),
        }
        run(
            "mount",
            &["-t", fstype, "-o", "loop", &image_text, &dir_text],
        );
        MountedFs {
            fstype,
            dir,
            image: Some(image),
        }
    }

    /// `name` in the file system, as a C string for raw syscalls.
    pub fn path(&self, name: &str) -> std::ffi::CString {
        let path = self.dir.join(name);
        std::ffi::CString::new(path.to_string_lossy().into_owned()).unwrap()
    }
}

impl Drop for MountedFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.dir).status();
        let _ = std::fs::remove_dir(&self.dir);
        if let Some(image) = &self.image {
            let _ = std::fs::remove_file(image);
        }
    }
}
