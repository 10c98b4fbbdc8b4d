//! The serviceability program the simulated ledger runs: the real upstream build.
//!
//! [`ProgramElf::serviceability`] is the SBF binary in `e2e/fixtures/programs/` (its README
//! holds the provenance), embedded so tests, benchmarks and the binaries find it from any
//! working directory. LiteSVM deploys it like a validator does and meters its compute, so what
//! the agent sees — units consumed, the error of a batch that runs out of compute, a panic as
//! `ProgramFailedToComplete` — is what the real program produces. [`ProgramElf::from_file`]
//! loads another build (e.g. one made with Solana's platform tools) in its place.

use std::borrow::Cow;
use std::path::Path;

/// The upstream program at commit 5f9fe3251, compiled to SBPF v3.
const SERVICEABILITY_SO: &[u8] =
    include_bytes!("../../fixtures/programs/doublezero_serviceability.so");

/// An SBF program binary to deploy.
#[derive(Clone)]
pub struct ProgramElf(Cow<'static, [u8]>);

impl ProgramElf {
    /// The real serviceability program (the fixture).
    pub fn serviceability() -> ProgramElf {
        ProgramElf(Cow::Borrowed(SERVICEABILITY_SO))
    }

    /// A program binary read from `path`.
    pub fn from_file(path: &Path) -> std::io::Result<ProgramElf> {
        std::fs::read(path).map(|bytes| ProgramElf(Cow::Owned(bytes)))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for ProgramElf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ProgramElf({} bytes)", self.0.len())
    }
}

/// The `DoubleZeroError` codes `SetUserBGPStatus` can return as `Custom(n)` (onchain.md §7.4,
/// the `From` table, not the "variant N" comments).
pub mod error_code {
    /// The user has no device (`User::validate`).
    pub const INVALID_DEVICE_PUBKEY: u32 = 6;
    /// The signer is not the device's metrics publisher, or the user is not on that device.
    pub const NOT_ALLOWED: u32 = 8;
    pub const INVALID_ACCOUNT_TYPE: u32 = 9;
    /// The user's `client_ip` is not globally routable.
    pub const INVALID_CLIENT_IP: u32 = 26;
    /// The user's `dz_ip` is not globally routable.
    pub const INVALID_DZ_IP: u32 = 27;
    /// The user's `tunnel_net` is not in 169.254/16.
    pub const INVALID_TUNNEL_NET: u32 = 28;
    /// The user's `tunnel_id` is 4596 or more.
    pub const INVALID_TUNNEL_ID: u32 = 29;
    /// The user's `tunnel_endpoint` is set and not globally routable.
    pub const INVALID_TUNNEL_ENDPOINT: u32 = 80;
}
