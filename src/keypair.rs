//! Loading the device's metrics-publisher keypair from a solana-keygen JSON file.
//!
//! The file is a JSON array of 64 numbers: the ed25519 seed, then the public key. A key readable
//! by other users of the switch is refused unless the operator says otherwise, and no byte of the
//! file ever reaches an error message or a log line.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use solana_keypair::Keypair;

/// Why a keypair file cannot be used. Messages name the path and the fix, never the content.
#[derive(Debug, thiserror::Error)]
pub enum KeypairError {
    #[error("cannot read keypair file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "keypair file {path} is readable by group or others (mode {mode:04o}); run \
         `chmod 600 {path}`, or pass --allow-insecure-keypair-permissions to accept it"
    )]
    TooOpen { path: PathBuf, mode: u32 },
    #[error(
        "keypair file {path} is not a solana-keygen keypair: {reason} (expected a JSON array of \
         64 numbers from 0 to 255)"
    )]
    Malformed { path: PathBuf, reason: &'static str },
    #[error("keypair file {path} is inconsistent: its public half does not match its secret half")]
    Mismatch { path: PathBuf },
}

/// Whether a keypair file readable by group or others may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Permissions {
    #[default]
    Strict,
    AllowInsecure,
}

/// Reads a solana-keygen keypair file, checking its permissions first.
pub fn load(path: &Path, permissions: Permissions) -> Result<Keypair, KeypairError> {
    let read_err = |source| KeypairError::Read {
        path: path.to_owned(),
        source,
    };
    let mode = fs::metadata(path).map_err(read_err)?.permissions().mode() & 0o777;
    if permissions == Permissions::Strict && mode & 0o077 != 0 {
        return Err(KeypairError::TooOpen {
            path: path.to_owned(),
            mode,
        });
    }
    let text = fs::read_to_string(path).map_err(read_err)?;
    let malformed = |reason| KeypairError::Malformed {
        path: path.to_owned(),
        reason,
    };
    // serde_json's own messages quote the offending value, which could be a key byte: only a
    // fixed reason is reported.
    let bytes: Vec<u8> = serde_json::from_str(&text)
        .map_err(|_| malformed("not a JSON array of numbers from 0 to 255"))?;
    if bytes.len() != 64 {
        return Err(malformed("wrong number of bytes"));
    }
    Keypair::try_from(bytes.as_slice()).map_err(|_| KeypairError::Mismatch {
        path: path.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use solana_signer::Signer;

    const PAYER: &str = "AKnL4NNf3DGWZJS6cPknBuEGnVsV4A4m5tgebLHaRSZ9";

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
        let keypair = load(&path, Permissions::Strict).unwrap();
        assert_eq!(keypair.pubkey().to_string(), PAYER);
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

    #[test]
    fn a_missing_file_names_its_path() {
        let err = load(Path::new("/nonexistent/id.json"), Permissions::Strict).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/id.json"));
    }
}
