//! Entering the management network namespace before the runtime starts, and noticing when EOS
//! replaces it.
//!
//! On a DoubleZero switch the agent's RPC and metrics traffic must leave through the management
//! VRF, which EOS exposes as a Linux network namespace: `/run/netns/ns-management` on newer
//! releases, `/var/run/netns/…` on older ones (eos.md §9 item 4). A namespace applies per
//! thread, so it is entered on the main thread before tokio spawns any: every thread then
//! inherits it. DNS uses the VRF's resolvers from `/etc/netns/NAME/resolv.conf`, as
//! `ip netns exec` would bind them; the resolver reads that file itself (`crate::rpc`), so it
//! may appear or change later, and no mount is needed. The eAPI unix socket is a file and
//! stays reachable from any namespace.
//!
//! At boot the file can appear before EOS has bind-mounted the namespace on it (`setns` on the
//! bare file fails with EINVAL), so entering waits until it is an nsfs mount. EOS can also delete
//! and recreate a VRF's namespace while the agent runs; the agent would then talk into a dead
//! one, so [`Entered::replaced`] tells the daemon, which exits to be restarted inside the new one.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sched::{setns, CloneFlags};

/// Where EOS mounts VRF namespaces, newest first.
pub const NETNS_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {name} did not appear under {dirs} within {waited:?}; check the VRF (e.g. `vrf instance management`) or --management-namespace")]
    Missing {
        name: String,
        dirs: String,
        waited: Duration,
    },
    #[error("network namespace {path} is not mounted (no nsfs bind mount) after {waited:?}; EOS may still be creating the VRF")]
    NotMounted { path: PathBuf, waited: Duration },
    #[error("cannot enter network namespace {name}: {source} (the agent must run as root)")]
    Enter { name: String, source: nix::Error },
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The namespace this process entered, to notice when EOS replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entered {
    pub name: String,
    pub path: PathBuf,
    /// The nsfs inode entered: a recreated namespace has another.
    pub inode: u64,
}

/// What became of the entered namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    Same,
    /// Deleted and not (yet) back: keep going, the process still holds the old one.
    Gone,
    /// A different namespace now has the name.
    Replaced {
        inode: u64,
    },
}

impl Entered {
    /// Looks at the namespace's file again (one `stat`).
    pub fn watch(&self) -> Watch {
        match std::fs::metadata(&self.path) {
            Ok(meta) if is_nsfs(&self.path) && meta.ino() != self.inode => {
                Watch::Replaced { inode: meta.ino() }
            }
            Ok(_) => Watch::Same,
            Err(_) => Watch::Gone,
        }
    }
}

/// Enters namespace `name` from the directories EOS uses, waiting up to `wait` for it to appear
/// and be mounted (at boot the agent may start before EOS has created the VRF).
pub fn enter(name: &str, wait: Duration) -> Result<Entered, NetnsError> {
    let dirs: Vec<&Path> = NETNS_DIRS.iter().map(Path::new).collect();
    enter_from(&dirs, name, wait)
}

/// [`enter`] for a thread that runs a single-threaded runtime: the wait yields to the runtime's
/// other tasks (its signal handling), and dropping the future gives up the wait.
pub async fn enter_waiting(name: &str, wait: Duration) -> Result<Entered, NetnsError> {
    let dirs: Vec<&Path> = NETNS_DIRS.iter().map(Path::new).collect();
    let start = Instant::now();
    let mut said = false;
    loop {
        match find_in(&dirs, name) {
            Found::Mounted(path) => return enter_at(path, name),
            found if start.elapsed() >= wait => return Err(gone(found, &dirs, name, wait)),
            _ => {
                if !std::mem::replace(&mut said, true) {
                    tracing::info!(
                        namespace = name,
                        ?wait,
                        "waiting for the management namespace"
                    );
                }
                tokio::time::sleep(POLL).await
            }
        }
    }
}

/// Where namespace `name` is, in the first directory that has it.
pub fn find(name: &str) -> Option<PathBuf> {
    NETNS_DIRS
        .iter()
        .map(|dir| Path::new(dir).join(name))
        .find(|path| path.exists())
}

fn is_nsfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path)
        .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::NSFS_MAGIC)
}

/// How often a namespace not there yet is looked for.
const POLL: Duration = Duration::from_millis(200);

/// What the directories hold under a namespace's name.
enum Found {
    Mounted(PathBuf),
    /// The bare file, before EOS bind-mounts the namespace on it.
    Unmounted(PathBuf),
    Missing,
}

fn find_in(dirs: &[&Path], name: &str) -> Found {
    match dirs.iter().map(|dir| dir.join(name)).find(|p| p.exists()) {
        Some(path) if is_nsfs(&path) => Found::Mounted(path),
        Some(path) => Found::Unmounted(path),
        None => Found::Missing,
    }
}

/// The error for a namespace still not mounted after `wait`.
fn gone(found: Found, dirs: &[&Path], name: &str, wait: Duration) -> NetnsError {
    match found {
        Found::Unmounted(path) | Found::Mounted(path) => {
            NetnsError::NotMounted { path, waited: wait }
        }
        Found::Missing => NetnsError::Missing {
            name: name.into(),
            dirs: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(" or "),
            waited: wait,
        },
    }
}

fn enter_from(dirs: &[&Path], name: &str, wait: Duration) -> Result<Entered, NetnsError> {
    let start = Instant::now();
    loop {
        match find_in(dirs, name) {
            Found::Mounted(path) => return enter_at(path, name),
            found if start.elapsed() >= wait => return Err(gone(found, dirs, name, wait)),
            _ => std::thread::sleep(POLL),
        }
    }
}

/// Moves the calling thread into the namespace mounted at `path`.
fn enter_at(path: PathBuf, name: &str) -> Result<Entered, NetnsError> {
    let file = File::open(&path).map_err(|source| NetnsError::Open {
        path: path.clone(),
        source,
    })?;
    let inode = file
        .metadata()
        .map_err(|source| NetnsError::Open {
            path: path.clone(),
            source,
        })?
        .ino();
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
        name: name.into(),
        source,
    })?;
    Ok(Entered {
        name: name.into(),
        path,
        inode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::mount::{mount, MsFlags};
    use nix::sched::unshare;

    #[test]
    fn a_namespace_that_never_appears_is_a_clear_error_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let (run, var_run) = (dir.path().join("run"), dir.path().join("var-run"));
        let err = enter_from(&[&run, &var_run], "ns-management", Duration::ZERO).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, NetnsError::Missing { .. }));
        assert!(
            text.contains("ns-management")
                && text.contains("--management-namespace")
                && text.contains(&format!("{} or {}", run.display(), var_run.display())),
            "{text}"
        );
    }

    #[test]
    fn a_file_that_is_not_a_mounted_namespace_is_never_entered() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bogus"), b"").unwrap();
        let err = enter_from(&[dir.path()], "bogus", Duration::from_millis(300)).unwrap_err();
        assert!(matches!(err, NetnsError::NotMounted { .. }), "{err}");
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Creates a network namespace and pins it at `path`, as `ip netns add` does, from a thread
    /// of its own so the test's threads stay where they are. Returns its inode.
    fn pin_namespace(path: &Path) -> u64 {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
                    if !path.exists() {
                        std::fs::write(path, b"").unwrap();
                    }
                    mount(
                        Some("/proc/thread-self/ns/net"),
                        path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .expect("pin the namespace");
                })
                .join()
                .unwrap()
        });
        std::fs::metadata(path).unwrap().ino()
    }

    fn thread_namespace() -> u64 {
        std::fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    #[test]
    fn entering_a_namespace_under_the_older_directory_moves_the_thread_alone() {
        if !is_root() {
            eprintln!("skipped: needs root (CI runs as root)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (run, var_run) = (dir.path().join("run"), dir.path().join("var-run"));
        for d in [&run, &var_run] {
            std::fs::create_dir_all(d).unwrap();
        }
        let pin = var_run.join("ns-test");
        let inode = pin_namespace(&pin);
        let mount_ns = || std::fs::metadata("/proc/thread-self/ns/mnt").unwrap().ino();
        let mounts = mount_ns();

        let (entered, now, mounts_after) = std::thread::spawn(move || {
            let entered = enter_from(&[&run, &var_run], "ns-test", Duration::ZERO).unwrap();
            (entered, thread_namespace(), mount_ns())
        })
        .join()
        .unwrap();
        assert_eq!(
            (entered.inode, now),
            (inode, inode),
            "the thread runs in it"
        );
        assert_eq!(entered.path, pin);
        assert_ne!(thread_namespace(), inode, "only the entering thread moved");
        assert_eq!(
            mounts_after, mounts,
            "no mount namespace of its own: DNS reads the VRF's resolv.conf itself"
        );
        nix::mount::umount(&pin).unwrap();
    }

    #[test]
    fn a_namespace_file_mounted_late_is_waited_for_not_refused() {
        if !is_root() {
            eprintln!("skipped: needs root (CI runs as root)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join("ns-late");
        // The file first, bare, as EOS creates it before the bind mount.
        std::fs::write(&pin, b"").unwrap();
        let mounter = {
            let pin = pin.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(400));
                pin_namespace(&pin)
            })
        };
        let dirs = dir.path().to_owned();
        let entered = std::thread::spawn(move || {
            enter_from(&[&dirs], "ns-late", Duration::from_secs(10)).map(|e| e.inode)
        })
        .join()
        .unwrap();
        let inode = mounter.join().unwrap();
        assert_eq!(entered.unwrap(), inode);
        nix::mount::umount(&pin).unwrap();
    }

    #[test]
    fn a_namespace_deleted_and_recreated_is_seen_as_replaced() {
        if !is_root() {
            eprintln!("skipped: needs root (CI runs as root)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let pin = dir.path().join("ns-vrf");
        let first = pin_namespace(&pin);
        let dirs = dir.path().to_owned();
        let entered =
            std::thread::spawn(move || enter_from(&[&dirs], "ns-vrf", Duration::ZERO).unwrap())
                .join()
                .unwrap();
        assert_eq!(entered.inode, first);
        assert_eq!(entered.watch(), Watch::Same);

        // `ip netns delete`: unmount and unlink.
        nix::mount::umount(&pin).unwrap();
        std::fs::remove_file(&pin).unwrap();
        assert_eq!(entered.watch(), Watch::Gone);
        // `ip netns add` again: a new namespace under the same name.
        let second = pin_namespace(&pin);
        assert_ne!(second, first);
        assert_eq!(entered.watch(), Watch::Replaced { inode: second });
        nix::mount::umount(&pin).unwrap();
    }
}
