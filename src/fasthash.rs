//! FxHash-style hashing for the maps rebuilt or probed for every user on every tick: the peer
//! index (keys from the switch's own configuration) and the user table (account addresses from
//! the chain). SipHash's flooding resistance costs a good part of a tick there (see
//! `benches/bgp_parse.rs`); a seed drawn once per process keeps anyone from precomputing keys
//! that collide, which is all the resistance keys nobody picks freely need.

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy)]
pub struct FastHash {
    seed: u64,
}

impl Default for FastHash {
    fn default() -> FastHash {
        static SEED: OnceLock<u64> = OnceLock::new();
        let seed =
            *SEED.get_or_init(|| std::collections::hash_map::RandomState::new().hash_one(0u64));
        FastHash { seed }
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(self.seed)
    }
}

pub struct FastHasher(u64);

impl FastHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, value: u8) {
        self.mix(u64::from(value));
    }
    fn write_u32(&mut self, value: u32) {
        self.mix(u64::from(value));
    }
    fn write_u64(&mut self, value: u64) {
        self.mix(value);
    }
    fn write_usize(&mut self, value: usize) {
        self.mix(value as u64);
    }
    /// A multiply leaves the low bits, which pick the bucket, depending only on the low input
    /// bits (the constant `10.` of `10.a.b.c`), so finish with the splitmix64 avalanche.
    fn finish(&self) -> u64 {
        let mut x = self.0;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        x ^ (x >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keys that differ only in high bytes (addresses of one /16, pubkeys sharing a prefix) still
    /// spread over the low bits that pick a bucket.
    #[test]
    fn keys_that_differ_in_one_byte_spread_over_the_buckets() {
        let hash = FastHash::default();
        for at in [0usize, 3, 17, 31] {
            let buckets: std::collections::HashSet<u64> = (0..=255u8)
                .map(|b| {
                    let mut key = [7u8; 32];
                    key[at] = b;
                    hash.hash_one(key) & 0xff
                })
                .collect();
            assert!(buckets.len() > 128, "byte {at}: {} buckets", buckets.len());
        }
    }
}
