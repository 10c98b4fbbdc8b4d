//! The request options and reply values of the JSON-RPC methods the agent uses.
//!
//! Replies are first read into private `Ui*` shapes that mirror the wire (base58 strings, base64
//! data tuples) and then converted into the typed values here, so a malformed field becomes one
//! [`RpcError::Malformed`](super::RpcError::Malformed) naming the field, never a panic.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use solana_hash::Hash;
use solana_pubkey::Pubkey;
use solana_signature::Signature;

use super::error::TransactionError;

/// How settled the bank state behind an answer must be. Omitted, the server uses `finalized`.
/// Ordered from least to most settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Commitment {
    Processed,
    Confirmed,
    Finalized,
}

impl std::str::FromStr for Commitment {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "processed" => Ok(Commitment::Processed),
            "confirmed" => Ok(Commitment::Confirmed),
            "finalized" => Ok(Commitment::Finalized),
            _ => Err(format!("{text:?} is not processed, confirmed or finalized")),
        }
    }
}

/// A `getProgramAccounts` filter; all filters of a call must hold (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// The account data holds `bytes` at `offset` (at most 128 bytes, sent base58).
    Memcmp { offset: usize, bytes: Vec<u8> },
    /// The account data is exactly this long.
    DataSize(u64),
}

/// The most filters agave accepts in one call (`MAX_GET_PROGRAM_ACCOUNT_FILTERS`).
pub const MAX_FILTERS: usize = 4;
/// The longest memcmp pattern agave accepts.
pub const MAX_MEMCMP_BYTES: usize = 128;

impl Filter {
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Filter::Memcmp { offset, bytes } => json!({
                "memcmp": {
                    "offset": offset,
                    "bytes": bs58::encode(bytes).into_string(),
                    "encoding": "base58",
                }
            }),
            Filter::DataSize(size) => json!({ "dataSize": size }),
        }
    }
}

/// A value read from a bank, with the slot of that bank.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WithContext<T> {
    pub slot: u64,
    pub value: T,
}

/// An account as stored on chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub lamports: u64,
    pub owner: Pubkey,
    pub data: Vec<u8>,
    pub executable: bool,
    /// Often `u64::MAX` for rent-exempt accounts.
    pub rent_epoch: u64,
}

/// An account and its address, as `getProgramAccounts` returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyedAccount {
    pub pubkey: Pubkey,
    pub account: Account,
}

/// A recent blockhash and the last block height at which a transaction using it can land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestBlockhash {
    pub blockhash: Hash,
    /// A block height (compare with `getBlockHeight`), not a slot.
    pub last_valid_block_height: u64,
}

/// Options of `sendTransaction`. The default is the first send of §2.2: preflight on, at
/// `confirmed`, node rebroadcast off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    pub skip_preflight: bool,
    /// Use the commitment the blockhash was fetched with, or a fresh hash can fail preflight.
    pub preflight_commitment: Commitment,
    /// `None` lets the node rebroadcast until the blockhash expires; `Some(0)` sends once.
    pub max_retries: Option<usize>,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            skip_preflight: false,
            preflight_commitment: Commitment::Confirmed,
            max_retries: Some(0),
        }
    }
}

/// What `simulateTransaction` says of a transaction: the error it would meet, its program logs
/// and the compute units it used.
#[derive(Debug, Clone, PartialEq)]
pub struct Simulation {
    pub err: Option<TransactionError>,
    pub logs: Vec<String>,
    pub units_consumed: Option<u64>,
}

/// Where a transaction stands, from `getSignatureStatuses`.
#[derive(Debug, Clone, PartialEq)]
pub struct TransactionStatus {
    pub slot: u64,
    /// `None` once the transaction is rooted.
    pub confirmations: Option<u64>,
    /// `Some` means it landed, failed and paid its fee.
    pub err: Option<TransactionError>,
    pub confirmation_status: Option<Commitment>,
}

// ---- wire shapes ----------------------------------------------------------------------------

#[derive(Deserialize)]
pub(crate) struct UiContext {
    pub slot: u64,
}

#[derive(Deserialize)]
pub(crate) struct UiWithContext<T> {
    pub context: UiContext,
    pub value: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UiAccount {
    lamports: u64,
    owner: String,
    data: (String, String),
    executable: bool,
    rent_epoch: u64,
}

/// A JSON string, borrowed from the reply when it has no escapes (base58 and base64 never need
/// one), owned when it has: reading a program's accounts then allocates nothing per account.
pub(crate) struct Text<'a>(Cow<'a, str>);

impl std::ops::Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// One account of a `getProgramAccounts` reply as the RPC wrote it, its text borrowed from the
/// reply (a program's accounts are hundreds of kilobytes of base64 and base58).
#[derive(Deserialize)]
pub(crate) struct RawKeyedAccount<'a> {
    #[serde(borrow)]
    pubkey: Text<'a>,
    #[serde(borrow)]
    account: RawAccount<'a>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAccount<'a> {
    lamports: u64,
    #[serde(borrow)]
    owner: Text<'a>,
    #[serde(borrow)]
    data: (Text<'a>, Text<'a>),
    executable: bool,
    rent_epoch: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UiLatestBlockhash {
    blockhash: String,
    last_valid_block_height: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UiTransactionStatus {
    slot: u64,
    confirmations: Option<u64>,
    err: Option<Value>,
    #[serde(default)]
    confirmation_status: Option<Commitment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UiSimulation {
    #[serde(default)]
    err: Option<Value>,
    #[serde(default)]
    logs: Option<Vec<String>>,
    #[serde(default)]
    units_consumed: Option<u64>,
}

impl UiSimulation {
    pub(crate) fn decode(self) -> Simulation {
        Simulation {
            err: self.err.as_ref().map(TransactionError::from_json),
            logs: self.logs.unwrap_or_default(),
            units_consumed: self.units_consumed,
        }
    }
}

/// A field that did not decode; the caller adds the method name.
pub(crate) type Decode<T> = Result<T, String>;

fn decode_base58<const N: usize>(field: &str, s: &str) -> Decode<[u8; N]> {
    let mut out = [0u8; N];
    match bs58::decode(s).onto(&mut out[..]) {
        Ok(len) if len == N => Ok(out),
        Ok(len) => Err(format!("{field} {s:?} decodes to {len} bytes, want {N}")),
        Err(bs58::decode::Error::BufferTooSmall) => {
            Err(format!("{field} {s:?} decodes to more than {N} bytes"))
        }
        Err(e) => Err(format!("{field} {s:?} is not base58: {e}")),
    }
}

pub(crate) fn decode_pubkey(field: &str, s: &str) -> Decode<Pubkey> {
    decode_base58::<32>(field, s).map(Pubkey::new_from_array)
}

pub(crate) fn decode_signature(s: &str) -> Decode<Signature> {
    decode_base58::<64>("signature", s).map(Signature::from)
}

/// The owner last decoded: accounts listed together (a program's accounts) share one, so
/// it is decoded once and compared as text after.
#[derive(Default)]
struct Owners(Option<(String, Pubkey)>);

impl Owners {
    fn decode(&mut self, text: &str) -> Decode<Pubkey> {
        if let Some((last, owner)) = &self.0 {
            if *last == text {
                return Ok(*owner);
            }
        }
        let owner = decode_pubkey("owner", text)?;
        self.0 = Some((text.to_owned(), owner));
        Ok(owner)
    }
}

/// An account's `data` pair, `[text, encoding]`, as bytes; only base64 is asked for.
fn base64_data(data: &str, encoding: &str) -> Decode<Vec<u8>> {
    use base64::Engine as _;
    if encoding != "base64" {
        return Err(format!(
            "account data encoding is {encoding:?}, want base64"
        ));
    }
    base64::engine::general_purpose::STANDARD
        .decode(data.as_bytes())
        .map_err(|e| format!("account data is not base64: {e}"))
}

impl UiAccount {
    pub(crate) fn decode(self) -> Decode<Account> {
        let (data, encoding) = &self.data;
        Ok(Account {
            lamports: self.lamports,
            owner: decode_pubkey("owner", &self.owner)?,
            data: base64_data(data, encoding)?,
            executable: self.executable,
            rent_epoch: self.rent_epoch,
        })
    }
}

impl RawKeyedAccount<'_> {
    /// The account, decoded; `owners` remembers the owner text last decoded.
    fn decode(&self, owners: &mut Owners) -> Decode<KeyedAccount> {
        let (data, encoding) = &self.account.data;
        Ok(KeyedAccount {
            pubkey: decode_pubkey("pubkey", &self.pubkey)?,
            account: Account {
                lamports: self.account.lamports,
                owner: owners.decode(&self.account.owner)?,
                data: base64_data(data, encoding)?,
                executable: self.account.executable,
                rent_epoch: self.account.rent_epoch,
            },
        })
    }

    pub(crate) fn decode_all(accounts: &[RawKeyedAccount<'_>]) -> Decode<Vec<KeyedAccount>> {
        let mut owners = Owners::default();
        accounts.iter().map(|raw| raw.decode(&mut owners)).collect()
    }
}

impl UiLatestBlockhash {
    pub(crate) fn decode(self) -> Decode<LatestBlockhash> {
        Ok(LatestBlockhash {
            blockhash: Hash::new_from_array(decode_base58::<32>("blockhash", &self.blockhash)?),
            last_valid_block_height: self.last_valid_block_height,
        })
    }
}

impl UiTransactionStatus {
    pub(crate) fn decode(self) -> TransactionStatus {
        TransactionStatus {
            slot: self.slot,
            confirmations: self.confirmations,
            err: self
                .err
                .filter(|e| !e.is_null())
                .map(|e| TransactionError::from_json(&e)),
            confirmation_status: self.confirmation_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memcmp_filter_sends_base58_bytes() {
        let f = Filter::Memcmp {
            offset: 5,
            bytes: vec![0, 1, 2],
        };
        assert_eq!(
            f.to_json(),
            json!({"memcmp":{"offset":5,"bytes":"15T","encoding":"base58"}})
        );
        assert_eq!(Filter::DataSize(206).to_json(), json!({"dataSize":206}));
    }

    #[test]
    fn commitment_serializes_lowercase() {
        assert_eq!(json!(Commitment::Confirmed), json!("confirmed"));
        assert_eq!(json!(Commitment::Finalized), json!("finalized"));
    }

    /// Listed accounts' text is borrowed from the reply, and read the same when a server
    /// escapes what needs no escape (`\/` in base64).
    #[test]
    fn listed_account_text_is_borrowed_and_escapes_still_read() {
        let program = Pubkey::new_from_array([7; 32]);
        let body = format!(
            r#"[{{"pubkey":"{program}","account":{{"lamports":1,"owner":"{program}",
               "data":["AQ\/+","base64"],"executable":false,"rentEpoch":0}}}},
               {{"pubkey":"{program}","account":{{"lamports":1,"owner":"{program}",
               "data":["AQ/+","base64"],"executable":false,"rentEpoch":0}}}}]"#
        );
        let list: Vec<RawKeyedAccount> = serde_json::from_str(&body).unwrap();
        assert!(matches!(list[1].pubkey.0, Cow::Borrowed(_)));
        assert!(matches!(list[0].account.data.0 .0, Cow::Owned(_)));
        assert_eq!(&*list[0].account.data.0, "AQ/+");
        assert_eq!(&*list[1].account.data.0, &*list[0].account.data.0);
        let decoded = RawKeyedAccount::decode_all(&list).unwrap();
        assert_eq!(decoded[0].account.data, [1, 15, 254]);
        assert_eq!(decoded[0], decoded[1]);
    }

    #[test]
    fn listed_accounts_keep_their_own_owners_and_bad_keys_are_named() {
        let program = Pubkey::new_from_array([7; 32]);
        let other = Pubkey::new_from_array([9; 32]);
        let keyed = |owner: &Pubkey| {
            json!({"pubkey": program.to_string(), "account": {
                "lamports": 1, "owner": owner.to_string(), "data": ["", "base64"],
                "executable": false, "rentEpoch": 0}})
        };
        let body = json!([keyed(&program), keyed(&program), keyed(&other)]).to_string();
        let list: Vec<RawKeyedAccount> = serde_json::from_str(&body).unwrap();
        let owners: Vec<Pubkey> = RawKeyedAccount::decode_all(&list)
            .unwrap()
            .iter()
            .map(|k| k.account.owner)
            .collect();
        assert_eq!(owners, [program, program, other]);

        let signature = Signature::from([3; 64]).to_string();
        let err = decode_pubkey("pubkey", &signature).unwrap_err();
        assert!(err.contains("more than 32 bytes"), "{err}");
        let err = decode_pubkey("pubkey", "0OIl").unwrap_err();
        assert!(err.contains("not base58"), "{err}");
    }

    #[test]
    fn account_with_max_rent_epoch_decodes() {
        let ui: UiAccount = serde_json::from_value(json!({
            "lamports": 1, "owner": "11111111111111111111111111111111",
            "data": ["AQID", "base64"], "executable": false,
            "rentEpoch": 18446744073709551615u64, "space": 3
        }))
        .unwrap();
        let a = ui.decode().unwrap();
        assert_eq!(a.rent_epoch, u64::MAX);
        assert_eq!(a.data, vec![1, 2, 3]);
        assert_eq!(a.owner, Pubkey::default());
    }

    #[test]
    fn account_in_another_encoding_is_rejected() {
        let ui: UiAccount = serde_json::from_value(json!({
            "lamports": 1, "owner": "11111111111111111111111111111111",
            "data": ["abc", "base58"], "executable": false, "rentEpoch": 0
        }))
        .unwrap();
        assert!(ui.decode().unwrap_err().contains("base58"));
    }

    #[test]
    fn short_pubkey_is_a_decode_error_naming_the_field() {
        let err = decode_pubkey("owner", "1111").unwrap_err();
        assert!(err.contains("owner"), "{err}");
    }
}
