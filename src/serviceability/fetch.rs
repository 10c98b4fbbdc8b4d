//! Reading the program through the RPC: one device's view with `memcmp` filters, and finding the
//! device whose metrics publisher is the agent's signer.
//!
//! The agent never downloads the whole program: users are selected by account type (byte 0) and
//! `device_pk` (offset 83), which costs about one percent of a full scan on mainnet.

use solana_pubkey::Pubkey;

use super::{
    account_type, DecodeError, Device, DeviceView, User, ViewSource, USER_DEVICE_PK_OFFSET,
};
use crate::metrics::CacheMetrics;
use crate::rpc::{self, Commitment, Filter, KeyedAccount, RpcError};

/// Why a device view or the device itself could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Rpc(#[from] RpcError),
    #[error(
        "device account {0} does not exist on this ledger; check --local-device-pubkey and --env"
    )]
    DeviceNotFound(Pubkey),
    #[error("device account {pubkey} is not owned by the serviceability program {program}")]
    DeviceWrongOwner { pubkey: Pubkey, program: Pubkey },
    #[error("device account {pubkey} does not decode: {error}")]
    DeviceDecode { pubkey: Pubkey, error: DecodeError },
    #[error(
        "no device has metrics publisher {signer}: set --local-device-pubkey, or check that the \
         keypair is the device's metrics publisher ({scanned} devices scanned)"
    )]
    NoDeviceForSigner { signer: Pubkey, scanned: usize },
    #[error(
        "{} devices have metrics publisher {signer} ({}): set --local-device-pubkey to choose one",
        candidates.len(),
        candidates.iter().map(|(pk, code)| format!("{pk} {code}")).collect::<Vec<_>>().join(", ")
    )]
    SeveralDevicesForSigner {
        signer: Pubkey,
        candidates: Vec<(Pubkey, String)>,
    },
}

/// The filters that select one device's `User` accounts.
pub fn user_filters(device: Option<&Pubkey>) -> Vec<Filter> {
    let mut filters = vec![Filter::Memcmp {
        offset: 0,
        bytes: vec![account_type::USER],
    }];
    if let Some(device) = device {
        filters.push(Filter::Memcmp {
            offset: USER_DEVICE_PK_OFFSET,
            bytes: device.to_bytes().to_vec(),
        });
    }
    filters
}

/// Users decoded from `getProgramAccounts`, and the accounts that did not decode.
#[derive(Debug, Default)]
pub struct DecodedUsers {
    pub users: Vec<(Pubkey, User)>,
    pub failures: Vec<(Pubkey, DecodeError)>,
}

impl DecodedUsers {
    pub fn decode(accounts: &[KeyedAccount]) -> Self {
        let mut out = Self::default();
        for keyed in accounts {
            match User::decode(&keyed.account.data) {
                Ok(user) => out.users.push((keyed.pubkey, user)),
                Err(error) => out.failures.push((keyed.pubkey, error)),
            }
        }
        out
    }
}

/// Fetches one device's view over the RPC.
pub struct RpcSource {
    pub client: rpc::Client,
    pub program_id: Pubkey,
    pub device_pk: Pubkey,
    pub commitment: Commitment,
    pub metrics: CacheMetrics,
}

impl ViewSource for RpcSource {
    type Error = FetchError;

    async fn fetch(&self) -> Result<DeviceView, FetchError> {
        let device = self
            .client
            .get_account_info(&self.device_pk, self.commitment)
            .await?;
        let device_account = device
            .value
            .ok_or(FetchError::DeviceNotFound(self.device_pk))?;
        if device_account.owner != self.program_id {
            return Err(FetchError::DeviceWrongOwner {
                pubkey: self.device_pk,
                program: self.program_id,
            });
        }
        let device =
            Device::decode(&device_account.data).map_err(|error| FetchError::DeviceDecode {
                pubkey: self.device_pk,
                error,
            })?;
        if device.tail_error.is_some() {
            // The daemon says so when it changes; counted on every read.
            self.metrics
                .decode_failures
                .with_label_values(&["device_tail"])
                .inc();
        }
        let users = self
            .client
            .get_program_accounts(
                &self.program_id,
                &user_filters(Some(&self.device_pk)),
                self.commitment,
            )
            .await?;
        let bytes: usize = device_account.data.len()
            + users
                .value
                .iter()
                .map(|k| k.account.data.len())
                .sum::<usize>();
        self.metrics.bytes_fetched.inc_by(bytes as u64);
        let decoded = DecodedUsers::decode(&users.value);
        for (pubkey, error) in &decoded.failures {
            self.metrics
                .decode_failures
                .with_label_values(&["user"])
                .inc();
            tracing::warn!(user = %pubkey, %error, "skipping a user account that does not decode");
        }
        Ok(DeviceView {
            slot: users.slot,
            device_pk: self.device_pk,
            device,
            users: decoded.users,
        })
    }
}

/// Finds the one device whose `metrics_publisher_pk` is `signer`, reading Device accounts only.
pub async fn discover_device(
    client: &rpc::Client,
    program_id: &Pubkey,
    signer: &Pubkey,
    commitment: Commitment,
) -> Result<(Pubkey, Device), FetchError> {
    let filters = [Filter::Memcmp {
        offset: 0,
        bytes: vec![account_type::DEVICE],
    }];
    let devices = client
        .get_program_accounts(program_id, &filters, commitment)
        .await?
        .value;
    let scanned = devices.len();
    let mut candidates: Vec<(Pubkey, Device)> = devices
        .iter()
        .filter_map(|keyed| match Device::decode(&keyed.account.data) {
            Ok(device) => Some((keyed.pubkey, device)),
            Err(error) => {
                tracing::warn!(device = %keyed.pubkey, %error, "skipping a device account that does not decode");
                None
            }
        })
        .filter(|(_, device)| device.metrics_publisher_pk == *signer)
        .collect();
    match candidates.len() {
        0 => Err(FetchError::NoDeviceForSigner {
            signer: *signer,
            scanned,
        }),
        1 => Ok(candidates.remove(0)),
        _ => Err(FetchError::SeveralDevicesForSigner {
            signer: *signer,
            candidates: candidates
                .into_iter()
                .map(|(pk, device)| (pk, device.code))
                .collect(),
        }),
    }
}
