//! The management namespace as EOS handles it (eos.md §9 item 4): named by an `option` line
//! (read before the namespace is entered), found under `/run/netns`, and deleted and recreated
//! under the agent's feet, after which the agent exits once with a clear line so ProcMgr
//! restarts it inside the new one. Real namespaces: root only (CI runs as root).

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use doublezero_bgpstatus_e2e::devnet::Devnet;
use doublezero_bgpstatus_e2e::eapi_sim::Daemon;
use nix::mount::{mount, umount, MsFlags};
use nix::sched::{unshare, CloneFlags};

/// A namespace pinned at `/run/netns/NAME`, as `ip netns add` makes it; removed on drop.
struct Namespace {
    path: PathBuf,
}

impl Namespace {
    fn add(name: &str) -> Namespace {
        let dir = Path::new("/run/netns");
        std::fs::create_dir_all(dir).unwrap();
        let namespace = Namespace {
            path: dir.join(name),
        };
        namespace.pin();
        namespace
    }

    /// A new network namespace bound at the path, from a thread of its own.
    fn pin(&self) -> u64 {
        let path = self.path.clone();
        std::thread::spawn(move || {
            unshare(CloneFlags::CLONE_NEWNET).unwrap();
            std::fs::write(&path, b"").unwrap();
            mount(
                Some("/proc/thread-self/ns/net"),
                &path,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .unwrap();
        })
        .join()
        .unwrap();
        self.inode()
    }

    fn inode(&self) -> u64 {
        std::fs::metadata(&self.path).unwrap().ino()
    }

    /// `ip netns delete`.
    fn delete(&self) {
        umount(&self.path).unwrap();
        std::fs::remove_file(&self.path).unwrap();
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = umount(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_from_an_option_line_is_entered_and_its_recreation_restarts_the_agent() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let name = format!("dzbgp-e2e-{}", std::process::id());
    let namespace = Namespace::add(&name);
    let first = namespace.inode();

    let devnet = Devnet::start(1, Duration::from_millis(400)).await.unwrap();
    devnet.switch.set_daemon(Daemon {
        name: "doublezero-bgpstatus".into(),
        exec: "/usr/bin/doublezero-bgpstatus run".into(),
        options: BTreeMap::from([("management-namespace".into(), name.clone())]),
        shutdown: false,
    });
    let mut agent = devnet.spawn_agent(&[]).await.unwrap();
    let entered = format!("entered the management namespace namespace={name}");
    for _ in 0..100 {
        if agent.log().contains(&entered) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agent.log().contains(&entered), "{}", agent.log());
    let pid = agent.pid().unwrap();
    let ns_of = |pid: u32| {
        std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .unwrap()
            .ino()
    };
    assert_eq!(ns_of(pid), first, "the agent runs in the namespace");

    namespace.delete();
    // The agent cannot reach the ledger from inside the namespace, so its ticks stop before
    // reading the switch; what shows it looked at the deleted namespace is what it says.
    let kept = "the management namespace was deleted; the agent keeps running in it";
    for _ in 0..300 {
        if agent.log().contains(kept) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agent.log().contains(kept), "{}", agent.log());
    assert_eq!(
        agent.exited(),
        None,
        "a deleted namespace alone is not a reason to exit"
    );
    let second = namespace.pin();
    let status = agent
        .wait_exit(Duration::from_secs(15))
        .await
        .unwrap_or_else(|| {
            panic!(
                "the agent kept running in the old namespace:\n{}",
                agent.log()
            )
        });
    assert!(!status.success(), "ProcMgr restarts a daemon that exits");
    let log = agent.log();
    assert!(
        log.contains("EOS recreated the management namespace")
            && log.contains(&format!("{first} is now {second}")),
        "{log}"
    );
    assert_eq!(log.matches("EOS recreated").count(), 1, "said once:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_eos_sdk_rpc_transport_is_dialled_in_the_default_namespace_from_the_management_one() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root (CI runs as root)");
        return;
    }
    let name = format!("dzbgp-e2e-stream-{}", std::process::id());
    let namespace = Namespace::add(&name);
    // EosSdkRpc's loopback transport lives in the default VRF, the test's namespace: inside
    // the new (empty) namespace 127.0.0.1 reaches nothing.
    let devnet = Devnet::start_with_switch(1, Duration::from_millis(400), |config| {
        config.grpc_tcp = Some("127.0.0.1:0".parse().unwrap());
    })
    .await
    .unwrap();
    devnet.switch.set_daemon(Daemon {
        name: "doublezero-bgpstatus".into(),
        exec: "/usr/bin/doublezero-bgpstatus run".into(),
        options: BTreeMap::from([("management-namespace".into(), name.clone())]),
        shutdown: false,
    });
    let flag = devnet.stream_flag();
    let flag: Vec<&str> = flag.iter().map(String::as_str).collect();
    let agent = devnet.spawn_agent(&flag).await.unwrap();
    let watching = "watching BGP peers over EosSdkRpc";
    for _ in 0..300 {
        if agent.log().contains(watching) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(agent.log().contains(watching), "{}", agent.log());
    assert_eq!(devnet.switch.grpc_counters().calls.watch, 1);
    let pid = agent.pid().unwrap();
    let ns = std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .unwrap()
        .ino();
    assert_eq!(
        ns,
        namespace.inode(),
        "the agent itself runs in the namespace"
    );
}
