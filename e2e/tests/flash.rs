//! The keypair where a real switch keeps it: on `/mnt/flash`, a vfat filesystem mounted with
//! `fmask=0007`, where every file shows `0770` and `chmod` fails (eos.md §9 item 1).
//!
//! This machine's kernel has no vfat module, but FUSE works: a FAT image made by `mkfs.vfat`
//! (Debian `dosfstools`) is mounted with `fusefat -o umask=007,gid=88` (Debian `fusefat`), which
//! shows the same `-rwxrwx--- root 88` and refuses `chmod` as the switch does. `.ci/run` installs
//! both and sets `DZ_REQUIRE_FUSEFAT=1`, so there a missing tool fails the test instead of
//! skipping it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::{agent_binary, set_flag, Agent, Devnet, ANY_PORT};
use nix::sys::signal::Signal;

const SLOT: Duration = Duration::from_millis(400);

/// A FAT image mounted through FUSE; unmounted on drop.
struct Flash {
    mount: PathBuf,
}

impl Flash {
    /// `None` (with the reason printed) when this machine cannot mount one and CI did not ask.
    fn mount(dir: &Path) -> Option<Flash> {
        let missing = ["mkfs.vfat", "fusefat"]
            .into_iter()
            .find(|tool| which(tool).is_none())
            .map(|tool| format!("{tool} is not installed"))
            .or_else(|| {
                (!Path::new("/dev/fuse").exists()).then(|| "/dev/fuse is missing".to_string())
            })
            .or_else(|| {
                (!nix::unistd::geteuid().is_root()).then(|| "not running as root".to_string())
            });
        if let Some(why) = missing {
            assert!(
                std::env::var_os("DZ_REQUIRE_FUSEFAT").is_none(),
                "DZ_REQUIRE_FUSEFAT is set but {why}"
            );
            eprintln!("skipped: {why} (install dosfstools and fusefat, run as root)");
            return None;
        }
        let image = dir.join("flash.img");
        let mount = dir.join("flash");
        std::fs::create_dir_all(&mount).unwrap();
        run(Command::new("mkfs.vfat").arg("-C").arg(&image).arg("4096"));
        // EOS mounts flash with gid=88 (eosadmin) and fmask=dmask=0007.
        run(Command::new("fusefat")
            .args(["-o", "rw+,umask=007,gid=88"])
            .arg(&image)
            .arg(&mount));
        Some(Flash { mount })
    }
}

impl Drop for Flash {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}

fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .map(|dir| Path::new(dir).join(tool))
        .find(|path| path.exists())
}

fn run(command: &mut Command) {
    let output = command.stdout(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `check` with the devnet's flags and `--keypair` set to `key`.
async fn check_with_key(devnet: &Devnet, key: &Path) -> (bool, String) {
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    args[0] = "check".into();
    set_flag(&mut args, "--keypair", key.display().to_string());
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

fn keypair_line(report: &str) -> &str {
    report
        .lines()
        .find(|line| line.contains("keypair"))
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_on_vfat_flash_at_0770_passes_check_and_the_agent_runs() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    let Some(flash) = Flash::mount(&devnet.dir) else {
        return;
    };
    let key = flash.mount.join("metrics-publisher-keypair.json");
    // `copy` would also copy the mode, which FAT cannot store.
    std::fs::write(&key, std::fs::read(&devnet.keypair).unwrap()).unwrap();
    // As on a switch: every file shows 0770 and chmod cannot change it.
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o770);
    assert!(std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).is_err());

    let (ok, report) = check_with_key(&devnet, &key).await;
    let line = keypair_line(&report);
    assert!(line.starts_with("[ ok ]"), "{report}");
    assert!(line.contains("no per-file modes"), "{report}");
    assert!(
        !report.contains("chmod 600"),
        "no advice that cannot work:\n{report}"
    );
    assert!(ok, "{report}");

    devnet.session(0, Some("Established")).unwrap();
    let mut args = devnet.agent_args(ANY_PORT, &[]);
    set_flag(&mut args, "--keypair", key.display().to_string());
    let agent = Agent::spawn(&args, &devnet.dir).await.unwrap();
    assert!(
        devnet
            .wait_until(Duration::from_secs(30), |d| d.chain_status(0)
                == BgpStatus::Up)
            .await,
        "{}",
        agent.log()
    );
    let log = agent.log();
    assert_eq!(
        log.matches("keeps no per-file modes").count(),
        1,
        "said once, at warn level:\n{log}"
    );
    assert!(log.contains("WARN"), "{log}");
    assert!(agent.stop(Signal::SIGTERM).await.unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_mode_where_modes_are_kept_is_refused_naming_chmod() {
    let devnet = Devnet::start(1, SLOT).await.unwrap();
    let key = devnet.dir.join("group-readable.json");
    std::fs::copy(&devnet.keypair, &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o770)).unwrap();

    let (ok, report) = check_with_key(&devnet, &key).await;
    let line = keypair_line(&report);
    assert!(!ok && line.starts_with("[FAIL]"), "{report}");
    assert!(
        report.contains(&format!("chmod 600 {}", key.display())),
        "{report}"
    );

    let mut args = devnet.agent_args(ANY_PORT, &[]);
    set_flag(&mut args, "--keypair", key.display().to_string());
    let output = tokio::process::Command::new(agent_binary().unwrap())
        .args(&args)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("chmod 600"), "{stderr}");
}
