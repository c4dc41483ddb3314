//! Containers named from their cgroup path alone, without asking a runtime
//! or an API server: the layouts Docker, Podman, containerd (CRI), CRI-O,
//! Kubernetes and plain OCI runtimes give their cgroups, with the systemd
//! and the cgroupfs drivers, on cgroup v2 and v1 alike (the path below the
//! hierarchy's root is the same shape in both).

/// The container a cgroup belongs to, and its Kubernetes pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Container {
    /// The container's full ID (64 hex digits), when the path holds one.
    pub id: Option<String>,
    /// Who made it: `docker`, `podman`, `containerd`, `cri-o`, `kubernetes`
    /// (a pod's cgroup, container unknown) or `oci` (a 64-hex-digit
    /// directory under no known runtime's name: runc, crun by hand).
    pub runtime: &'static str,
    /// The pod's UID (dashed form), under a Kubernetes pod's cgroup.
    pub pod_uid: Option<String>,
}

impl Container {
    /// The container ID as `docker ps` shows it: the first 12 digits.
    pub fn short_id(&self) -> Option<&str> {
        self.id.as_deref().map(|id| &id[..12])
    }

    /// A few words for text output: `docker 3f4a5b6c7d8e`, `kubernetes pod
    /// 0a1b…`, with the pod when there is one.
    pub fn describe(&self) -> String {
        let mut words = vec![self.runtime.to_string()];
        if let Some(id) = self.short_id() {
            words.push(id.to_string());
        }
        if let Some(uid) = &self.pod_uid {
            words.push(format!("pod {uid}"));
        }
        words.join(" ")
    }
}

/// Runtime prefixes of a container's own cgroup, `<prefix>-<id>.scope`
/// (systemd driver) or `<prefix>-<id>` (Podman's cgroupfs driver).
const PREFIXES: [(&str, &str); 4] = [
    ("docker-", "docker"),
    ("libpod-", "podman"),
    ("cri-containerd-", "containerd"),
    ("crio-", "cri-o"),
];

/// The container and pod of the cgroup at `path` (relative to its
/// hierarchy's root, `/`-separated), if the path has a known layout. The
/// innermost container wins: a container's sub-cgroups (systemd inside,
/// Podman's `/container`) belong to it.
pub fn decode(path: &str) -> Option<Container> {
    let mut found: Option<Container> = None;
    let mut pod_uid = None;
    let mut parent = "";
    for part in path.split('/').filter(|p| !p.is_empty()) {
        if let Some(uid) = pod_of(part) {
            pod_uid = Some(uid);
        } else if let Some(container) = container_of(part, parent, pod_uid.is_some()) {
            found = Some(container);
        }
        parent = part;
    }
    match (found, pod_uid) {
        (Some(mut container), uid) => {
            container.pod_uid = uid;
            Some(container)
        }
        (None, Some(uid)) => Some(Container {
            id: None,
            runtime: "kubernetes",
            pod_uid: Some(uid),
        }),
        (None, None) => None,
    }
}

/// A container's own cgroup directory `part`, under `parent`.
fn container_of(part: &str, parent: &str, in_pod: bool) -> Option<Container> {
    let bare = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, runtime) in PREFIXES {
        if let Some(id) = bare.strip_prefix(prefix) {
            // `libpod-conmon-<id>` and `crio-conmon-<id>` are the monitor
            // processes beside a container, not the container.
            return is_container_id(id).then(|| Container {
                id: Some(id.to_string()),
                runtime,
                pod_uid: None,
            });
        }
    }
    if !is_container_id(bare) {
        return None;
    }
    // A bare ID: named by the directory holding it (cgroupfs drivers).
    let runtime = match parent {
        "docker" => "docker",
        "libpod_parent" => "podman",
        _ if in_pod => "kubernetes",
        _ => "oci",
    };
    Some(Container {
        id: Some(bare.to_string()),
        runtime,
        pod_uid: None,
    })
}

/// A Kubernetes pod's cgroup: `pod<uid>` (cgroupfs driver) or
/// `kubepods-<qos>-pod<uid_with_underscores>.slice` (systemd driver).
fn pod_of(part: &str) -> Option<String> {
    let tail = match part.strip_suffix(".slice") {
        Some(slice) if slice.starts_with("kubepods") => slice.rsplit_once("-pod")?.1,
        Some(_) => return None,
        None => part.strip_prefix("pod")?,
    };
    let uid = tail.replace('_', "-");
    is_uid(&uid).then_some(uid)
}

/// 64 lowercase hex digits: how every runtime here writes an ID.
fn is_container_id(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A UUID, `8-4-4-4-12` hex digits.
fn is_uid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f4a5b6c7d8e9f000102030405060708090a0b0c0d0e0f101112131415161718";
    const UID: &str = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";

    fn named(path: &str) -> (Option<String>, &'static str, Option<String>) {
        let c = decode(path).unwrap_or_else(|| panic!("{path} not decoded"));
        (c.id, c.runtime, c.pod_uid)
    }

    #[test]
    fn docker_and_podman_with_both_drivers() {
        let id = Some(ID.to_string());
        for (path, runtime) in [
            (format!("/system.slice/docker-{ID}.scope"), "docker"),
            (format!("/docker/{ID}"), "docker"),
            (format!("/machine.slice/libpod-{ID}.scope"), "podman"),
            (
                format!("/machine.slice/libpod-{ID}.scope/container"),
                "podman",
            ),
            (format!("/libpod_parent/libpod-{ID}"), "podman"),
            (
                format!(
                    "/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope"
                ),
                "podman",
            ),
        ] {
            assert_eq!(named(&path), (id.clone(), runtime, None), "{path}");
        }
    }

    #[test]
    fn kubernetes_pods_and_their_containers() {
        let underscored = UID.replace('-', "_");
        let pod = Some(UID.to_string());
        let id = Some(ID.to_string());
        let systemd = format!(
            "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{underscored}.slice"
        );
        assert_eq!(named(&systemd), (None, "kubernetes", pod.clone()));
        assert_eq!(
            named(&format!("{systemd}/cri-containerd-{ID}.scope")),
            (id.clone(), "containerd", pod.clone())
        );
        assert_eq!(
            named(&format!("{systemd}/crio-{ID}.scope")),
            (id.clone(), "cri-o", pod.clone())
        );
        let guaranteed = format!("/kubepods.slice/kubepods-pod{underscored}.slice/crio-{ID}.scope");
        assert_eq!(named(&guaranteed), (id.clone(), "cri-o", pod.clone()));
        let cgroupfs = format!("/kubepods/besteffort/pod{UID}/{ID}");
        assert_eq!(named(&cgroupfs), (id, "kubernetes", pod));
    }

    #[test]
    fn bare_ids_monitors_and_plain_cgroups() {
        assert_eq!(
            named(&format!("/toolkit/{ID}")),
            (Some(ID.to_string()), "oci", None)
        );
        // conmon beside a container is not the container.
        assert_eq!(
            decode(&format!("/machine.slice/libpod-conmon-{ID}.scope")),
            None
        );
        assert_eq!(
            decode(&format!("/system.slice/crio-conmon-{ID}.scope")),
            None
        );
        for plain in [
            "/",
            "",
            "/system.slice/ssh.service",
            "/user.slice/user-0.slice/session-3.scope",
            "/docker/short",
            "/podcast",
            "/kubepods.slice/kubepods-burstable.slice",
            &format!("/docker/{}", ID.to_uppercase()),
        ] {
            assert_eq!(decode(plain), None, "{plain}");
        }
    }

    #[test]
    fn described_briefly() {
        let c = decode(&format!("/docker/{ID}")).unwrap();
        assert_eq!(c.describe(), "docker 3f4a5b6c7d8e");
        let p = decode(&format!("/kubepods/pod{UID}")).unwrap();
        assert_eq!(p.describe(), format!("kubernetes pod {UID}"));
    }
}
