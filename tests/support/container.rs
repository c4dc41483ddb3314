//! A real container: a busybox root file system the test builds, run by
//! Debian's `runc` (an OCI runtime) in a cgroup path of the test's own,
//! the way a container engine would ask for one.

use std::{path::PathBuf, process::Command};

/// A bundle (root file system and `config.json`) ready to run once.
pub struct OciContainer {
    /// The container's ID: 64 hex digits, as engines make them.
    pub id: String,
    /// The cgroup path runc is asked for: `/<parent>/<id>`.
    pub cgroups_path: String,
    bundle: PathBuf,
    parent: String,
}

impl OciContainer {
    /// A bundle running `script` under busybox's `sh`, in cgroup
    /// `/<name>-<pid>/<id>` of every hierarchy, with a memory limit when
    /// given.
    pub fn new(name: &str, script: &str, memory_limit: Option<u64>) -> OciContainer {
        let pid = std::process::id();
        let nanos = crate::monotonic_ns();
        let id = format!("{:0>32x}{:0>32x}", u128::from(pid), u128::from(nanos));
        assert_eq!(id.len(), 64);
        let bundle = crate::scratch(&format!("{name}-bundle"));
        let bin = bundle.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy("/usr/bin/busybox", bin.join("busybox")).expect("busybox-static");
        for applet in ["sh", "head", "tr", "true", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
        }
        let spec = Command::new("runc")
            .args(["spec", "--bundle"])
            .arg(&bundle)
            .status()
            .expect("runc (scripts/setup.sh installs it)");
        assert!(spec.success());
        let config_path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
        let parent = format!("{name}-{pid}");
        let cgroups_path = format!("/{parent}/{id}");
        config["process"]["terminal"] = false.into();
        config["process"]["args"] = serde_json::json!(["/bin/sh", "-c", script]);
        config["linux"]["cgroupsPath"] = cgroups_path.clone().into();
        if let Some(limit) = memory_limit {
            config["linux"]["resources"]["memory"] =
                serde_json::json!({"limit": limit, "swap": limit});
        }
        std::fs::write(&config_path, config.to_string()).unwrap();
        OciContainer {
            id,
            cgroups_path,
            bundle,
            parent,
        }
    }

    /// Runs the container to its end; returns its exit status.
    pub fn run(&self) -> std::process::ExitStatus {
        Command::new("runc")
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&self.id)
            .stdin(std::process::Stdio::null())
            .status()
            .unwrap()
    }
}

impl Drop for OciContainer {
    fn drop(&mut self) {
        let _ = Command::new("runc")
            .args(["delete", "--force", &self.id])
            .output();
        let _ = std::fs::remove_dir_all(&self.bundle);
        // runc removes the container's own cgroups; the parents it made
        // are the test's to remove, in every hierarchy.
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for hierarchy in entries.flatten() {
                let _ = std::fs::remove_dir(hierarchy.path().join(&self.cgroups_path[1..]));
                let _ = std::fs::remove_dir(hierarchy.path().join(&self.parent));
            }
        }
        let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(&self.cgroups_path[1..]));
        let _ = std::fs::remove_dir(PathBuf::from("/sys/fs/cgroup").join(&self.parent));
    }
}
