//! Loading the device's metrics-publisher keypair from a solana-keygen JSON file.
//!
//! The file is a JSON array of 64 numbers: the ed25519 seed, then the public key. It is opened
//! once, and its owner, mode and filesystem are judged on that open descriptor before its bytes
//! are read from it, so what is checked is what is read. No byte of the file reaches an error
//! message or a log line; the bytes read are zeroed once parsed, in buffers that never grow (a
//! grown buffer would leave a copy behind); a loaded key's `Debug` shows its public half only
//! (the secret's own type, ed25519-dalek's `SigningKey`, omits it and zeroes it on drop).
//!
//! Who may read the key depends on where it lives. A filesystem that keeps per-file modes
//! (ext4, tmpfs, …) must keep the key from group and others, as ssh requires of its keys. EOS keeps
//! DoubleZero's device key on `/mnt/flash`, which is vfat: FAT stores no modes, every file there
//! shows the mount's `fmask` (0770 with EOS's `fmask=0007`) and `chmod` fails. There the key is
//! accepted when others cannot read it, and the load says why (eos.md §9 item 1).

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use solana_keypair::Keypair;
use solana_signer::Signer;
use zeroize::Zeroizing;

/// Where DoubleZero's own documentation keeps the device key on a switch.
pub const DEFAULT_PATH: &str = "/mnt/flash/metrics-publisher-keypair.json";

/// A keypair file is a few hundred bytes; anything much larger is not one.
const MAX_FILE_BYTES: u64 = 4096;

/// Why a keypair file cannot be used. Messages name the path and the fix, never the content.
#[derive(Debug, thiserror::Error)]
pub enum KeypairError {
    #[error("cannot read keypair file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "keypair file {path} is readable by group or others (mode {mode:04o}) on {filesystem}, \
         which keeps per-file modes; run `chmod 600 {path}`, or pass \
         --allow-insecure-keypair-permissions to accept it"
    )]
    TooOpen {
        path: PathBuf,
        mode: u32,
        filesystem: String,
    },
    #[error(
        "keypair file {path} is readable by every user (mode {mode:04o}) on {filesystem}, which \
         keeps no per-file modes, so chmod cannot narrow it; mount it with fmask=0007 (EOS's \
         default for /mnt/flash) or move the key to a filesystem that keeps modes and chmod 600 \
         it, or pass --allow-insecure-keypair-permissions to accept it"
    )]
    WorldReadableOnFat {
        path: PathBuf,
        mode: u32,
        filesystem: String,
    },
    #[error(
        "keypair file {path} is owned by uid {owner}, not by root or this process's user \
         ({running}); `chown root {path}` (on flash, the mount's uid= decides)"
    )]
    Owner {
        path: PathBuf,
        owner: u32,
        running: u32,
    },
    #[error("keypair file {path} is {len} bytes; a solana-keygen keypair is about 200")]
    TooLarge { path: PathBuf, len: u64 },
    #[error(
        "keypair file {path} is not a solana-keygen keypair: {reason} (expected a JSON array of \
         64 numbers from 0 to 255)"
    )]
    Malformed { path: PathBuf, reason: &'static str },
    #[error("keypair file {path} is inconsistent: its public half does not match its secret half")]
    Mismatch { path: PathBuf },
}

/// Whether a keypair file readable beyond its owner may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Permissions {
    #[default]
    Strict,
    AllowInsecure,
}

/// A loaded keypair and, when it was accepted on a filesystem without per-file modes, why
/// (for the caller to say once, at warn level). Its `Debug` shows the public key only.
pub struct Loaded {
    pub keypair: Keypair,
    pub notice: Option<String>,
}

impl fmt::Debug for Loaded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loaded")
            .field("pubkey", &self.keypair.pubkey())
            .field("notice", &self.notice)
            .finish_non_exhaustive()
    }
}

/// The filesystem a file lives on, as far as the permission rule cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filesystem {
    /// The type as mountinfo names it (`vfat`, `fuse.fusefat`, `ext4`, …).
    pub fstype: String,
    pub mount_point: PathBuf,
}

impl Filesystem {
    /// FAT keeps no owner or mode per file: what `stat` shows comes from mount options.
    pub fn keeps_modes(&self) -> bool {
        let kind = self.fstype.strip_prefix("fuse.").unwrap_or(&self.fstype);
        !matches!(
            kind,
            "vfat" | "msdos" | "fat" | "umsdos" | "exfat" | "fusefat"
        )
    }

    fn describe(&self) -> String {
        format!("{} ({})", self.mount_point.display(), self.fstype)
    }
}

/// The verdict of the permission rule on a file's owner and mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Accepted, with what to tell the operator once.
    AcceptWithNotice(String),
    Refuse(RefuseReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefuseReason {
    Owner,
    TooOpen,
    WorldReadableOnFat,
}

/// The rule, as a pure function of what `fstat` and the mount table say.
pub fn judge(
    path: &Path,
    filesystem: &Filesystem,
    mode: u32,
    owner: u32,
    running: u32,
    permissions: Permissions,
) -> Verdict {
    if owner != 0 && owner != running {
        return Verdict::Refuse(RefuseReason::Owner);
    }
    if permissions == Permissions::AllowInsecure {
        return Verdict::Accept;
    }
    let mode = mode & 0o777;
    if filesystem.keeps_modes() {
        return match mode & 0o077 {
            0 => Verdict::Accept,
            _ => Verdict::Refuse(RefuseReason::TooOpen),
        };
    }
    if mode & 0o007 != 0 {
        return Verdict::Refuse(RefuseReason::WorldReadableOnFat);
    }
    if mode & 0o070 == 0 {
        return Verdict::Accept;
    }
    Verdict::AcceptWithNotice(format!(
        "keypair file {} shows mode {mode:04o} because {} keeps no per-file modes (its mount's \
         fmask sets them, and chmod cannot change them); accepted because others cannot read it",
        path.display(),
        filesystem.describe()
    ))
}

/// Reads a solana-keygen keypair file, judging its owner, mode and filesystem first.
pub fn load(path: &Path, permissions: Permissions) -> Result<Loaded, KeypairError> {
    let read_err = |source| KeypairError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
    let filesystem = filesystem_of(&file, meta.dev());
    let running = nix::unistd::geteuid().as_raw();
    let notice = match judge(
        path,
        &filesystem,
        meta.mode(),
        meta.uid(),
        running,
        permissions,
    ) {
        Verdict::Accept => None,
        Verdict::AcceptWithNotice(notice) => Some(notice),
        Verdict::Refuse(reason) => {
            let (path, mode, fs) = (path.to_owned(), meta.mode() & 0o777, filesystem.describe());
            return Err(match reason {
                RefuseReason::Owner => KeypairError::Owner {
                    path,
                    owner: meta.uid(),
                    running,
                },
                RefuseReason::TooOpen => KeypairError::TooOpen {
                    path,
                    mode,
                    filesystem: fs,
                },
                RefuseReason::WorldReadableOnFat => KeypairError::WorldReadableOnFat {
                    path,
                    mode,
                    filesystem: fs,
                },
            });
        }
    };
    if meta.len() > MAX_FILE_BYTES {
        return Err(KeypairError::TooLarge {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    // Room for more than can be read, so the buffer never grows (a grown buffer leaves the old
    // one's bytes in freed memory) and std never probes into a stack buffer of its own.
    let mut text = Zeroizing::new(String::with_capacity(MAX_FILE_BYTES as usize + 1));
    (&mut file)
        .take(MAX_FILE_BYTES)
        .read_to_string(&mut text)
        .map_err(read_err)?;
    let malformed = |reason| KeypairError::Malformed {
        path: path.to_owned(),
        reason,
    };
    let mut bytes = Zeroizing::new([0u8; 64]);
    let mut count = 0;
    let mut json = serde_json::Deserializer::from_str(&text);
    let parsed = serde::de::DeserializeSeed::deserialize(
        KeyBytes {
            out: &mut bytes,
            count: &mut count,
        },
        &mut json,
    )
    .and_then(|()| json.end());
    // serde_json's own messages quote the offending value, which could be a key byte: only a
    // fixed reason is reported.
    match parsed {
        Ok(()) if count == 64 => {}
        Ok(()) => return Err(malformed("wrong number of bytes")),
        Err(_) if count > 64 => return Err(malformed("wrong number of bytes")),
        Err(_) => return Err(malformed("not a JSON array of numbers from 0 to 255")),
    }
    let keypair = Keypair::try_from(&bytes[..]).map_err(|_| KeypairError::Mismatch {
        path: path.to_owned(),
    })?;
    Ok(Loaded { keypair, notice })
}

/// Reads a JSON array of numbers straight into a fixed 64-byte buffer the caller zeroes, so no
/// growing `Vec` leaves copies of key bytes behind. `count` is how many numbers there were (65
/// for "too many").
struct KeyBytes<'a> {
    out: &'a mut [u8; 64],
    count: &'a mut usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeyBytes<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyBytes<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of 64 numbers from 0 to 255")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(byte) = seq.next_element::<u8>()? {
            match self.out.get_mut(*self.count) {
                Some(slot) => *slot = byte,
                None => {
                    *self.count = 65;
                    return Err(serde::de::Error::custom("too many numbers"));
                }
            }
            *self.count += 1;
        }
        Ok(())
    }
}

/// The filesystem holding the open file: the mount table entry of its device, or, when the
/// table cannot be read, the filesystem magic `fstatfs` gives.
fn filesystem_of(file: &File, dev: u64) -> Filesystem {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let (major, minor) = (nix::sys::stat::major(dev), nix::sys::stat::minor(dev));
    // A later mount of the same device shadows an earlier one.
    if let Some(entry) = mounts
        .lines()
        .rev()
        .filter_map(MountEntry::from_mountinfo_line)
        .find(|entry| entry.device == Some((major, minor)))
    {
        return Filesystem {
            fstype: entry.fstype,
            mount_point: entry.mount_point,
        };
    }
    let fstype = match nix::sys::statfs::fstatfs(file).map(|fs| fs.filesystem_type()) {
        Ok(nix::sys::statfs::MSDOS_SUPER_MAGIC) => "vfat",
        _ => "unknown",
    };
    Filesystem {
        fstype: fstype.into(),
        mount_point: PathBuf::from("?"),
    }
}

/// One line of the mount table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    /// `(major, minor)`; only `/proc/self/mountinfo` gives it.
    pub device: Option<(u64, u64)>,
    pub mount_point: PathBuf,
    pub fstype: String,
    pub options: String,
}

impl MountEntry {
    /// A `/proc/self/mountinfo` line: `ID PARENT MAJ:MIN ROOT MOUNT OPTS [TAGS…] - TYPE SRC SUPER`.
    pub fn from_mountinfo_line(line: &str) -> Option<MountEntry> {
        let (before, after) = line.split_once(" - ")?;
        let fields: Vec<&str> = before.split(' ').collect();
        let (major, minor) = fields.get(2)?.split_once(':')?;
        let mut after = after.split(' ');
        let fstype = after.next()?.to_owned();
        let _source = after.next();
        Some(MountEntry {
            device: Some((major.parse().ok()?, minor.parse().ok()?)),
            mount_point: PathBuf::from(unescape(fields.get(4)?)),
            fstype,
            options: format!("{},{}", fields.get(5)?, after.next().unwrap_or_default()),
        })
    }

    /// A `/proc/mounts` line: `SOURCE MOUNT TYPE OPTIONS DUMP PASS`.
    pub fn from_mounts_line(line: &str) -> Option<MountEntry> {
        let mut fields = line.split_whitespace();
        let _source = fields.next()?;
        let mount_point = PathBuf::from(unescape(fields.next()?));
        let fstype = fields.next()?.to_owned();
        let options = fields.next()?.to_owned();
        Some(MountEntry {
            device: None,
            mount_point,
            fstype,
            options,
        })
    }

    pub fn filesystem(&self) -> Filesystem {
        Filesystem {
            fstype: self.fstype.clone(),
            mount_point: self.mount_point.clone(),
        }
    }
}

/// The kernel writes space, tab, newline and backslash in mount paths as octal escapes.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let code = rest.get(at + 1..at + 4);
        match code.and_then(|c| u8::from_str_radix(c, 8).ok()) {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[at + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    const PAYER: &str = "AKnL4NNf3DGWZJS6cPknBuEGnVsV4A4m5tgebLHaRSZ9";
    /// The `/proc/mounts` line of a real EOS switch's flash (eos.md §9 item 1, from goarista's
    /// nswatcher test).
    const EOS_FLASH: &str = "/dev/sda1 /mnt/flash vfat rw,dirsync,noatime,gid=88,fmask=0007,dmask=0007,allow_utime=0020,codepage=437,iocharset=ascii,shortname=mixed,flush,errors=remount-ro 0 0";
    /// fusefat as mounted by this project's tests (mountinfo form).
    const FUSEFAT: &str = "42 27 0:39 / /tmp/fat/mnt rw,nosuid,nodev,relatime - fuse.fusefat fusefat rw,user_id=0,group_id=0";
    const EXT4: &str =
        "29 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard,errors=remount-ro";
    const TMPFS: &str = "25 29 0:22 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1600352k,mode=755";
    const PERSIST: &str = "/dev/sda2 /mnt/flash/persist ext4 rw,relatime 0 0";

    fn fs_of(entry: Option<MountEntry>) -> Filesystem {
        entry.expect("the line parses").filesystem()
    }

    fn judge_on(filesystem: &Filesystem, mode: u32) -> Verdict {
        judge(
            Path::new("/mnt/flash/metrics-publisher-keypair.json"),
            filesystem,
            mode,
            0,
            0,
            Permissions::Strict,
        )
    }

    #[test]
    fn mount_lines_parse_into_their_filesystem() {
        let eos = MountEntry::from_mounts_line(EOS_FLASH).unwrap();
        assert_eq!(eos.mount_point, Path::new("/mnt/flash"));
        assert_eq!(eos.fstype, "vfat");
        assert!(eos.options.contains("fmask=0007"));
        let fuse = MountEntry::from_mountinfo_line(FUSEFAT).unwrap();
        assert_eq!(fuse.device, Some((0, 39)));
        assert_eq!(fuse.fstype, "fuse.fusefat");
        let root = MountEntry::from_mountinfo_line(EXT4).unwrap();
        assert_eq!(
            (root.device, root.mount_point.as_path()),
            (Some((254, 0)), Path::new("/"))
        );
        let spaced = MountEntry::from_mounts_line("/dev/x /mnt/my\\040flash vfat rw 0 0").unwrap();
        assert_eq!(spaced.mount_point, Path::new("/mnt/my flash"));
    }

    #[test]
    fn the_eos_flash_key_at_0770_is_accepted_with_a_notice_saying_why() {
        for line in [
            MountEntry::from_mounts_line(EOS_FLASH),
            MountEntry::from_mountinfo_line(FUSEFAT),
        ] {
            let fs = fs_of(line);
            assert!(!fs.keeps_modes(), "{fs:?}");
            let Verdict::AcceptWithNotice(notice) = judge_on(&fs, 0o100770) else {
                panic!("{fs:?}");
            };
            assert!(notice.contains("no per-file modes") && notice.contains("0770"));
            assert_eq!(judge_on(&fs, 0o700), Verdict::Accept);
        }
    }

    #[test]
    fn on_fat_a_key_everyone_can_read_is_refused() {
        let fs = fs_of(MountEntry::from_mounts_line(EOS_FLASH));
        assert_eq!(
            judge_on(&fs, 0o755),
            Verdict::Refuse(RefuseReason::WorldReadableOnFat)
        );
    }

    #[test]
    fn where_modes_are_stored_group_or_others_access_is_refused() {
        for line in [
            MountEntry::from_mountinfo_line(EXT4),
            MountEntry::from_mountinfo_line(TMPFS),
            MountEntry::from_mounts_line(PERSIST),
        ] {
            let fs = fs_of(line);
            assert!(fs.keeps_modes(), "{fs:?}");
            assert_eq!(judge_on(&fs, 0o600), Verdict::Accept);
            assert_eq!(judge_on(&fs, 0o400), Verdict::Accept);
            for mode in [0o640, 0o604, 0o770] {
                assert_eq!(
                    judge_on(&fs, mode),
                    Verdict::Refuse(RefuseReason::TooOpen),
                    "{mode:o}"
                );
            }
        }
    }

    #[test]
    fn a_key_owned_by_someone_else_is_refused_even_when_insecure_modes_are_allowed() {
        let fs = fs_of(MountEntry::from_mountinfo_line(EXT4));
        let path = Path::new("/k.json");
        assert_eq!(
            judge(path, &fs, 0o600, 1000, 0, Permissions::Strict),
            Verdict::Refuse(RefuseReason::Owner)
        );
        assert_eq!(
            judge(path, &fs, 0o600, 1000, 0, Permissions::AllowInsecure),
            Verdict::Refuse(RefuseReason::Owner)
        );
        assert_eq!(
            judge(path, &fs, 0o600, 1000, 1000, Permissions::Strict),
            Verdict::Accept
        );
        assert_eq!(
            judge(path, &fs, 0o644, 0, 0, Permissions::AllowInsecure),
            Verdict::Accept
        );
    }

    fn payer_file_bytes() -> Vec<u8> {
        let mut bytes = vec![1u8; 32];
        bytes.extend(PAYER.parse::<solana_pubkey::Pubkey>().unwrap().to_bytes());
        bytes
    }

    fn write(dir: &Path, content: &str, mode: u32) -> PathBuf {
        let path = dir.join("id.json");
        fs::write(&path, content).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn a_private_solana_keygen_file_loads_the_spec_payer() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &serde_json::to_string(&payer_file_bytes()).unwrap(),
            0o600,
        );
        let loaded = load(&path, Permissions::Strict).unwrap();
        assert_eq!(loaded.keypair.pubkey().to_string(), PAYER);
        assert_eq!(loaded.notice, None);
    }

    #[test]
    fn a_group_readable_file_is_refused_with_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &serde_json::to_string(&payer_file_bytes()).unwrap(),
            0o640,
        );
        let err = load(&path, Permissions::Strict).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, KeypairError::TooOpen { mode: 0o640, .. }));
        assert!(message.contains(&format!("chmod 600 {}", path.display())));
        assert!(load(&path, Permissions::AllowInsecure).is_ok());
    }

    #[test]
    fn malformed_files_never_echo_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        for content in ["[1,2,3]", "[173, 999]", "not json 173", "{\"secret\": 173}"] {
            let path = write(dir.path(), content, 0o600);
            let message = load(&path, Permissions::Strict).unwrap_err().to_string();
            assert!(!message.contains("173"), "{message}");
            assert!(!message.contains("999"), "{message}");
        }
    }

    #[test]
    fn an_oversized_file_is_refused_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(dir.path(), &" ".repeat(10_000), 0o600);
        assert!(matches!(
            load(&path, Permissions::Strict),
            Err(KeypairError::TooLarge { len: 10_000, .. })
        ));
    }

    #[test]
    fn a_public_half_that_does_not_match_the_secret_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let mut bytes = payer_file_bytes();
        bytes[40] ^= 0xff;
        let path = write(dir.path(), &serde_json::to_string(&bytes).unwrap(), 0o600);
        assert!(matches!(
            load(&path, Permissions::Strict),
            Err(KeypairError::Mismatch { .. })
        ));
    }

    /// The ways a secret could be printed: as the file holds it, in hex, in base58.
    fn renderings(keypair: &Keypair) -> Vec<String> {
        let bytes = keypair.to_bytes();
        let secret = &bytes[..32];
        let decimal = secret[..8].iter().map(u8::to_string).collect::<Vec<_>>();
        vec![
            decimal.join(","),
            decimal.join(", "),
            secret.iter().map(|b| format!("{b:02x}")).collect(),
            secret.iter().map(|b| format!("{b:02X}")).collect(),
            bs58::encode(&bytes).into_string(),
            bs58::encode(secret).into_string(),
        ]
    }

    #[test]
    fn no_debug_rendering_of_a_loaded_key_shows_its_secret() {
        let keypair = Keypair::new();
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            dir.path(),
            &serde_json::to_string(&keypair.to_bytes().to_vec()).unwrap(),
            0o600,
        );
        let loaded = load(&path, Permissions::Strict).unwrap();
        assert_eq!(loaded.keypair.pubkey(), keypair.pubkey());
        for text in [
            format!("{loaded:?}"),
            format!("{loaded:#?}"),
            format!("{:?}", loaded.keypair),
            format!("{:#?}", loaded.keypair),
        ] {
            for secret in renderings(&keypair) {
                assert!(!text.contains(&secret), "{secret} in {text}");
            }
        }
        assert!(format!("{loaded:?}").contains(&keypair.pubkey().to_string()));
    }

    #[test]
    fn a_file_with_too_many_or_too_few_numbers_is_refused_by_count() {
        let dir = tempfile::tempdir().unwrap();
        for count in [0, 63, 65, 200] {
            let path = write(
                dir.path(),
                &serde_json::to_string(&vec![7u8; count]).unwrap(),
                0o600,
            );
            let err = load(&path, Permissions::Strict).unwrap_err();
            assert!(
                matches!(
                    err,
                    KeypairError::Malformed {
                        reason: "wrong number of bytes",
                        ..
                    }
                ),
                "{count}: {err}"
            );
        }
        let path = write(
            dir.path(),
            &format!(
                "{} trailing",
                serde_json::to_string(&payer_file_bytes()).unwrap()
            ),
            0o600,
        );
        assert!(load(&path, Permissions::Strict).is_err());
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = load(Path::new("/nonexistent/id.json"), Permissions::Strict).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/id.json"));
    }
}
