//! A bounds-checked cursor over raw account bytes.
//!
//! Every read names the field it is for, so a short or corrupt account turns into a
//! [`DecodeError`] that says which field and where, instead of a panic or silently shifted fields.

use std::net::Ipv4Addr;

use solana_pubkey::Pubkey;

use super::{DecodeError, NetworkV4};

pub(super) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    pub(super) fn pos(&self) -> usize {
        self.pos
    }

    pub(super) fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    pub(super) fn at_end(&self) -> bool {
        self.pos == self.data.len()
    }

    /// Reads a field that later layouts appended: `None` when the account ends exactly here
    /// (an older layout), the field when it is whole, an error when it is cut in the middle.
    pub(super) fn trailing<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Option<T>, DecodeError> {
        if self.at_end() {
            Ok(None)
        } else {
            read(self).map(Some)
        }
    }

    pub(super) fn take(
        &mut self,
        field: &'static str,
        len: usize,
    ) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&end| end <= self.data.len())
            .ok_or(DecodeError::Truncated {
                field,
                offset: self.pos,
                needed: len,
                available: self.remaining(),
            })?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(super) fn skip(&mut self, field: &'static str, len: usize) -> Result<(), DecodeError> {
        self.take(field, len).map(drop)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub(super) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(super) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.array(field).map(u16::from_le_bytes)
    }

    pub(super) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.array(field).map(u32::from_le_bytes)
    }

    pub(super) fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        self.array(field).map(u64::from_le_bytes)
    }

    pub(super) fn u128(&mut self, field: &'static str) -> Result<u128, DecodeError> {
        self.array(field).map(u128::from_le_bytes)
    }

    pub(super) fn pubkey(&mut self, field: &'static str) -> Result<Pubkey, DecodeError> {
        self.array(field).map(Pubkey::new_from_array)
    }

    pub(super) fn ipv4(&mut self, field: &'static str) -> Result<Ipv4Addr, DecodeError> {
        self.array::<4>(field).map(Ipv4Addr::from)
    }

    pub(super) fn network_v4(&mut self, field: &'static str) -> Result<NetworkV4, DecodeError> {
        let addr = self.ipv4(field)?;
        let prefix = self.u8(field)?;
        Ok(NetworkV4 { addr, prefix })
    }

    /// A borsh length prefix followed by `count` elements of `elem_size` bytes: the whole run
    /// must fit in the account, or the count is corrupt.
    pub(super) fn counted(
        &mut self,
        field: &'static str,
        elem_size: usize,
    ) -> Result<usize, DecodeError> {
        let offset = self.pos;
        let count = self.u32(field)? as usize;
        let fits = count
            .checked_mul(elem_size)
            .is_some_and(|bytes| bytes <= self.remaining());
        if fits {
            Ok(count)
        } else {
            Err(DecodeError::Overrun {
                field,
                offset,
                count,
                available: self.remaining(),
            })
        }
    }

    pub(super) fn pubkey_vec(&mut self, field: &'static str) -> Result<Vec<Pubkey>, DecodeError> {
        let count = self.counted(field, 32)?;
        (0..count).map(|_| self.pubkey(field)).collect()
    }

    pub(super) fn network_v4_vec(
        &mut self,
        field: &'static str,
    ) -> Result<Vec<NetworkV4>, DecodeError> {
        let count = self.counted(field, 5)?;
        (0..count).map(|_| self.network_v4(field)).collect()
    }

    pub(super) fn string(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let offset = self.pos;
        let len = self.counted(field, 1)?;
        let bytes = self.take(field, len)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| DecodeError::InvalidUtf8 { field, offset })
    }
}
