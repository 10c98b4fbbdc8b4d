//! The small Solana JSON-RPC client the agent reads the chain and sends transactions with.
//!
//! It speaks the handful of methods the agent needs (`getProgramAccounts`,
//! `getMultipleAccounts`, `getLatestBlockhash`, `sendTransaction`, `getSignatureStatuses`, …)
//! over reqwest + serde, without `solana-client`. Replies are bounded in size and time, errors
//! are classified as retryable or fatal where they are made (`error`), read calls are retried
//! with the Go agent's policy (`retry`), and `sendTransaction` is never retried here: the
//! outbox resends the same signed bytes itself.
//!
//! Nothing is taken from the switch's userland, so the static release binary runs on any EOS:
//! TLS uses rustls with the ring provider and the Mozilla roots compiled in (`webpki-root-certs`),
//! plus an optional PEM file of extra roots (`ClientConfig::ca_file`) for a private CA; host
//! names are resolved by hickory from `/etc/hosts` and `/etc/resolv.conf` (`dns`), not by NSS.

mod client;
mod dns;
mod error;
mod retry;
mod types;

pub use client::{redact_url, Client, ClientConfig, MAX_SIGNATURE_STATUSES, MAX_TRANSACTION_BYTES};
pub use dns::ResolverFiles;
pub use error::{
    ConfigError, InstructionErrorKind, RpcError, TransactionError, TransportKind,
    SEND_TRANSACTION_PREFLIGHT_FAILURE,
};
pub use retry::RetryPolicy;
pub use types::{
    Account, Commitment, Filter, KeyedAccount, LatestBlockhash, SendOptions, Simulation,
    TransactionStatus, WithContext, MAX_FILTERS, MAX_MEMCMP_BYTES,
};
