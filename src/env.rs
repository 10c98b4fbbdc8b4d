//! The DoubleZero environments: each names a serviceability program (onchain.md §1).

use std::fmt;
use std::str::FromStr;

use solana_pubkey::Pubkey;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Env {
    MainnetBeta,
    Testnet,
    Devnet,
    Localnet,
}

impl Env {
    pub fn program_id(self) -> Pubkey {
        Pubkey::from_str_const(match self {
            Env::MainnetBeta => "ser2VaTMAcYTaauMrTSfSrxBaUDq7BLNs2xfUugTAGv",
            Env::Testnet => "DZtnuQ839pSaDMFG5q1ad2V95G82S5EC4RrB3Ndw2Heb",
            Env::Devnet => "GYhQDKuESrasNZGyhMJhGYFtbzNijYhcrN9poSqCQVah",
            Env::Localnet => "7CTniUa88iJKUHTrCkB4TjAoG6TD7AMivhQeuqN2LPtX",
        })
    }

    /// Only localnet has a public default; the other ledgers' URLs carry operator credentials.
    pub fn default_rpc_url(self) -> Option<&'static str> {
        match self {
            Env::Localnet => Some("http://localhost:8899"),
            _ => None,
        }
    }
}

impl FromStr for Env {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet-beta" | "mainnet" => Ok(Env::MainnetBeta),
            "testnet" => Ok(Env::Testnet),
            "devnet" => Ok(Env::Devnet),
            "localnet" | "local" => Ok(Env::Localnet),
            other => Err(format!(
                "unknown environment {other:?}: expected mainnet-beta, testnet, devnet or localnet"
            )),
        }
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Env::MainnetBeta => "mainnet-beta",
            Env::Testnet => "testnet",
            Env::Devnet => "devnet",
            Env::Localnet => "localnet",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_environment_names_its_program_and_round_trips() {
        for env in [Env::MainnetBeta, Env::Testnet, Env::Devnet, Env::Localnet] {
            assert_eq!(env.to_string().parse::<Env>().unwrap(), env);
        }
        assert_eq!(
            hex(&Env::MainnetBeta.program_id().to_bytes()),
            "0cf9d50d943e69afc3e27ab80ecf68d3a0ea03c5909c6a8c6e6ca2ac923dcc9f"
        );
        assert_eq!("mainnet".parse::<Env>().unwrap(), Env::MainnetBeta);
        assert!("prod".parse::<Env>().unwrap_err().contains("mainnet-beta"));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }
}
