//! Entering the management network namespace before the runtime starts.
//!
//! On a DoubleZero switch the agent's RPC and metrics traffic must leave through the management
//! VRF, which EOS exposes as a Linux network namespace (`/var/run/netns/ns-management`). A
//! namespace applies per thread, so it is entered on the main thread before tokio spawns any:
//! every thread then inherits it. Like `ip netns exec`, a private mount namespace then binds
//! `/etc/netns/NAME/resolv.conf` over `/etc/resolv.conf` when it exists, so DNS uses the VRF's
//! resolvers. The eAPI unix socket is a file and stays reachable from any namespace.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("network namespace {name} did not appear at {path} within {waited:?}; check the VRF (e.g. `vrf instance management`) or --management-namespace")]
    Missing {
        name: String,
        path: PathBuf,
        waited: Duration,
    },
    #[error("cannot enter network namespace {name}: {source} (the agent must run as root)")]
    Enter { name: String, source: nix::Error },
    #[error("cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot use the namespace's resolv.conf {path}: {source}")]
    Resolver { path: PathBuf, source: nix::Error },
}

/// Enters `/var/run/netns/NAME`, waiting up to `wait` for it to appear (at boot the agent may
/// start before EOS has created the VRF).
pub fn enter(name: &str, wait: Duration) -> Result<(), NetnsError> {
    enter_at(
        Path::new("/var/run/netns"),
        Path::new("/etc/netns"),
        name,
        wait,
    )
}

fn enter_at(
    netns_dir: &Path,
    etc_dir: &Path,
    name: &str,
    wait: Duration,
) -> Result<(), NetnsError> {
    let path = netns_dir.join(name);
    let start = Instant::now();
    while !path.exists() {
        if start.elapsed() >= wait {
            return Err(NetnsError::Missing {
                name: name.into(),
                path,
                waited: wait,
            });
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let file = File::open(&path).map_err(|source| NetnsError::Open {
        path: path.clone(),
        source,
    })?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|source| NetnsError::Enter {
        name: name.into(),
        source,
    })?;
    let resolv = etc_dir.join(name).join("resolv.conf");
    if resolv.exists() {
        bind_resolv_conf(&resolv).map_err(|source| NetnsError::Resolver {
            path: resolv,
            source,
        })?;
    }
    Ok(())
}

/// What `ip netns exec` does for DNS: a private mount namespace, so the bind mount is seen only
/// by this process.
fn bind_resolv_conf(resolv: &Path) -> nix::Result<()> {
    unshare(CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )?;
    mount(
        Some(resolv),
        "/etc/resolv.conf",
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_that_never_appears_is_a_clear_error_after_the_wait() {
        let dir = tempfile::tempdir().unwrap();
        let err = enter_at(dir.path(), dir.path(), "ns-management", Duration::ZERO).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, NetnsError::Missing { .. }));
        assert!(
            text.contains("ns-management") && text.contains("--management-namespace"),
            "{text}"
        );
    }

    fn is_root() -> bool {
        nix::unistd::geteuid().is_root()
    }

    /// Creates a network namespace pinned at `dir/name`, as `ip netns add` does, from a thread
    /// of its own so the test's threads stay where they are.
    fn pinned_namespace(dir: &Path, name: &str) -> u64 {
        let path = dir.join(name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    unshare(CloneFlags::CLONE_NEWNET).expect("unshare a network namespace");
                    std::fs::write(&path, b"").unwrap();
                    mount(
                        Some("/proc/thread-self/ns/net"),
                        &path,
                        None::<&str>,
                        MsFlags::MS_BIND,
                        None::<&str>,
                    )
                    .expect("pin the namespace");
                    std::fs::metadata("/proc/thread-self/ns/net").unwrap()
                })
                .join()
                .unwrap()
        });
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap())
    }

    #[test]
    fn entering_a_pinned_namespace_moves_the_thread_and_binds_its_resolv_conf() {
        if !is_root() {
            eprintln!("skipped: needs root (CI runs as root)");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let (netns_dir, etc_dir) = (dir.path().join("netns"), dir.path().join("etc"));
        std::fs::create_dir_all(&netns_dir).unwrap();
        std::fs::create_dir_all(etc_dir.join("ns-test")).unwrap();
        std::fs::write(
            etc_dir.join("ns-test/resolv.conf"),
            "nameserver 192.0.2.53\n",
        )
        .unwrap();
        let inode = pinned_namespace(&netns_dir, "ns-test");
        let pin = netns_dir.join("ns-test");

        let (entered, resolv) = std::thread::spawn(move || {
            enter_at(&netns_dir, &etc_dir, "ns-test", Duration::ZERO).unwrap();
            let now = std::fs::metadata("/proc/thread-self/ns/net").unwrap();
            (
                std::os::unix::fs::MetadataExt::ino(&now),
                std::fs::read_to_string("/etc/resolv.conf").unwrap(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(entered, inode, "the thread runs in the pinned namespace");
        assert_eq!(
            resolv, "nameserver 192.0.2.53\n",
            "DNS uses the VRF's resolvers"
        );
        let unchanged = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        assert_ne!(
            unchanged, resolv,
            "only the entering thread sees the bind mount"
        );
        nix::mount::umount(&pin).unwrap();
    }

    #[test]
    fn a_file_that_is_not_a_namespace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bogus"), b"").unwrap();
        let err = enter_at(dir.path(), dir.path(), "bogus", Duration::ZERO).unwrap_err();
        assert!(matches!(err, NetnsError::Enter { .. }), "{err}");
    }
}
