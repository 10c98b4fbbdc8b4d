//! The AS number as EOS wrote it: a JSON number on old EOS, text (maybe asdot) on newer.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};

/// An AS number as EOS wrote it: a JSON number on old EOS, text (maybe asdot, `65001.1028`) on
/// newer. Kept as text so asdot survives; stored inline because every peer has one and a heap
/// string each was a measurable share of the parse.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Asn(AsnText);

#[derive(Clone, PartialEq, Eq, Hash)]
enum AsnText {
    /// asplain is at most 10 characters and asdot 11; this leaves room to spare.
    Inline {
        len: u8,
        bytes: [u8; 22],
    },
    Heap(Box<str>),
}

impl Asn {
    /// Keeps `text` as the AS number's spelling.
    pub fn new(text: &str) -> Self {
        let mut bytes = [0u8; 22];
        match bytes.get_mut(..text.len()) {
            Some(prefix) => {
                prefix.copy_from_slice(text.as_bytes());
                Asn(AsnText::Inline {
                    len: text.len() as u8,
                    bytes,
                })
            }
            None => Asn(AsnText::Heap(text.into())),
        }
    }

    /// The AS number as EOS wrote it.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            // The bytes were copied from a `&str` whole, so they are valid UTF-8.
            AsnText::Inline { len, bytes } => {
                std::str::from_utf8(&bytes[..usize::from(*len)]).unwrap_or_default()
            }
            AsnText::Heap(text) => text,
        }
    }
}

impl fmt::Display for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl<'de> Deserialize<'de> for Asn {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AsnVisitor;
        impl Visitor<'_> for AsnVisitor {
            type Value = Asn;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an AS number or string")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Asn, E> {
                Ok(Asn::new(&value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Asn, E> {
                Ok(Asn::new(&value.to_string()))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Asn, E> {
                Ok(Asn::new(value))
            }
        }
        deserializer.deserialize_any(AsnVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asn_keeps_its_spelling_short_or_long() {
        assert_eq!(Asn::new("65001.1028").as_str(), "65001.1028");
        let long = "x".repeat(40);
        assert_eq!(Asn::new(&long).as_str(), long);
    }
}
