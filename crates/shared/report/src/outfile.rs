//! Files the tools write for others to read (`--openmetrics FILE`), written
//! the safe way for a program that runs as root: never through a symlink,
//! never over something that is not a regular file, never half-written, and
//! never leaving a temporary file behind.

use std::{
    fs,
    io::{self, Write as _},
    os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Result, bail};

/// A file that is replaced whole, atomically, on every write: readers (a
/// scraper) see the old content or the new, never a mix.
pub struct ReplacedFile {
    tool: &'static str,
    path: PathBuf,
    dir: PathBuf,
}

impl ReplacedFile {
    /// Checks `path` at start-up: refused, in one line, when it exists and
    /// is not a regular file (a symlink, FIFO, device, directory or socket
    /// would be destroyed, or followed, by the rename that replaces it).
    pub fn new(tool: &'static str, path: &Path) -> Result<Self> {
        refuse_unless_regular(path)?;
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.file_name().is_none() {
            bail!("{} names no file", path.display());
        }
        Ok(Self {
            tool,
            path: path.to_path_buf(),
            dir,
        })
    }

    /// The path written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file's content with `content`: a new temporary file
    /// with a unique name in the same directory (`O_EXCL`, so a planted
    /// symlink is never followed), synced, then renamed over the target.
    /// On any failure the temporary file is removed.
    pub fn replace(&self, content: &[u8]) -> io::Result<()> {
        refuse_unless_regular(&self.path).map_err(io::Error::other)?;
        let name = self.path.file_name().unwrap_or_default().to_string_lossy();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        tmp.write_all(content)?;
        // Readable by others, as a file written in place would be (the
        // temporary file is 0600): node_exporter reads the textfile
        // directory as its own user. A file already there keeps its mode,
        // owner and group (a 0640 file prepared for node_exporter's group
        // stays readable to it).
        match fs::metadata(&self.path) {
            Ok(meta) => {
                std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()))?;
                tmp.as_file().set_permissions(meta.permissions())?;
            }
            Err(_) => tmp
                .as_file()
                .set_permissions(fs::Permissions::from_mode(0o644))?,
        }
        tmp.as_file().sync_all()?;
        tmp.persist(&self.path).map_err(|err| err.error)?;
        Ok(())
    }

    /// [`ReplacedFile::replace`], with a failure said on stderr (naming the
    /// path) instead of returned: the tracing and its stdout output go on,
    /// and the next interval tries again.
    pub fn replace_or_warn(&self, content: &[u8]) {
        if let Err(err) = self.replace(content) {
            crate::say!(
                "{}: warning: writing {}: {err} (will try again next interval)",
                self.tool,
                self.path.display()
            );
        }
    }
}

/// Whether `a` and `b` name the same file: the same directory (after
/// symlinks) and name, or, when both exist, the same inode. Two outputs of
/// one run must never share a file, which would flip between formats.
pub fn same_file(a: &Path, b: &Path) -> bool {
    if let (Ok(x), Ok(y)) = (fs::metadata(a), fs::metadata(b))
        && (x.dev(), x.ino()) == (y.dev(), y.ino())
    {
        return true;
    }
    let resolved = |p: &Path| {
        let dir = match p.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        Some(fs::canonicalize(dir).ok()?.join(p.file_name()?))
    };
    match (resolved(a), resolved(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// Fails unless `path` is absent or a regular file (not followed if it is a
/// symlink).
fn refuse_unless_regular(path: &Path) -> Result<()> {
    let kind = match fs::symlink_metadata(path) {
        Ok(meta) => meta.file_type(),
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(err) => bail!("{}: {err}", path.display()),
    };
    if kind.is_file() {
        return Ok(());
    }
    let kinds = [
        (kind.is_symlink(), "a symbolic link"),
        (kind.is_dir(), "a directory"),
        (kind.is_fifo(), "a FIFO"),
        (kind.is_char_device(), "a character device"),
        (kind.is_block_device(), "a block device"),
        (kind.is_socket(), "a socket"),
    ];
    let what = kinds
        .iter()
        .find_map(|&(is, what)| is.then_some(what))
        .unwrap_or("not a regular file");
    bail!(
        "refusing to write {}: it is {what}, not a regular file",
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("outfile-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn replaces_whole_and_leaves_no_temporary_file() {
        let dir = scratch("replace");
        let path = dir.join("m.prom");
        let file = ReplacedFile::new("t", &path).unwrap();
        file.replace(b"one\n").unwrap();
        // Readable by a scraper running as another user.
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        file.replace(b"two\n").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "two\n");
        assert_eq!(mode(&path), 0o640, "a chosen mode is kept");
        // And a chosen owner and group (the tests run as root).
        std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        file.replace(b"three\n").unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (65534, 65534),
            "owner and group kept"
        );
        assert_eq!(mode(&path), 0o640);
        assert_eq!(entries(&dir), ["m.prom"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn refuses_what_is_not_a_regular_file() {
        let dir = scratch("refuse");
        let target = dir.join("precious");
        fs::write(&target, "keep").unwrap();
        let link = dir.join("link.prom");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let err = ReplacedFile::new("t", &link).err().unwrap().to_string();
        assert!(
            err.ends_with("it is a symbolic link, not a regular file"),
            "{err}"
        );
        let err = ReplacedFile::new("t", &dir).err().unwrap().to_string();
        assert!(
            err.ends_with("it is a directory, not a regular file"),
            "{err}"
        );
        let err = ReplacedFile::new("t", Path::new("/dev/null"))
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "refusing to write /dev/null: it is a character device, not a regular file"
        );
        // Swapped for a symlink after start-up: refused at the write, and
        // the file it points to is untouched.
        let path = dir.join("later.prom");
        let file = ReplacedFile::new("t", &path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(file.replace(b"x").is_err());
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        assert_eq!(entries(&dir), ["later.prom", "link.prom", "precious"]);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn same_file_through_other_spellings() {
        let dir = scratch("same");
        fs::create_dir_all(dir.join("sub")).unwrap();
        let a = dir.join("m.prom");
        assert!(same_file(&a, &dir.join("sub/../m.prom")));
        assert!(!same_file(&a, &dir.join("n.prom")));
        std::os::unix::fs::symlink(dir.join("sub"), dir.join("via")).unwrap();
        assert!(same_file(&dir.join("sub/x"), &dir.join("via/x")));
        fs::write(&a, "x").unwrap();
        fs::hard_link(&a, dir.join("hard.prom")).unwrap();
        assert!(same_file(&a, &dir.join("hard.prom")));
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn failed_write_leaves_nothing_and_can_recover() {
        let dir = scratch("gone");
        let sub = dir.join("sub");
        fs::create_dir_all(&sub).unwrap();
        let path = sub.join("m.prom");
        let file = ReplacedFile::new("t", &path).unwrap();
        fs::remove_dir_all(&sub).unwrap();
        assert!(file.replace(b"x").is_err());
        fs::create_dir_all(&sub).unwrap();
        file.replace(b"back\n").unwrap();
        assert_eq!(entries(&sub), ["m.prom"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
