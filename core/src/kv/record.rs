//! A key record's value: one format byte, then the fields that format has. Format 0 is a
//! value alone; format 1 is a deadline (Unix milliseconds, cluster time) and the value.

use bytes::Bytes;

const PLAIN: u8 = 0;
const EXPIRING: u8 = 1;

/// A key's value and, if it has a TTL, when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record {
    /// The string value.
    pub(crate) value: Bytes,
    /// The cluster time (Unix ms) at which the key stops existing.
    pub(crate) deadline_ms: Option<u64>,
}

impl Record {
    /// Whether the key no longer exists at cluster time `now_ms`: Redis expires a key once
    /// its deadline is not in the future.
    pub(crate) fn expired_at(&self, now_ms: u64) -> bool {
        self.deadline_ms.is_some_and(|deadline| deadline <= now_ms)
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.value.len());
        match self.deadline_ms {
            None => out.push(PLAIN),
            Some(deadline) => {
                out.push(EXPIRING);
                out.extend_from_slice(&deadline.to_be_bytes());
            }
        }
        out.extend_from_slice(&self.value);
        out
    }

    /// # Panics
    /// On a record no version wrote: the store is corrupt.
    pub(crate) fn decode(stored: &[u8]) -> Record {
        match stored.split_first() {
            Some((&PLAIN, value)) => Record {
                value: Bytes::copy_from_slice(value),
                deadline_ms: None,
            },
            Some((&EXPIRING, rest)) if rest.len() >= 8 => Record {
                value: Bytes::copy_from_slice(&rest[8..]),
                deadline_ms: Some(u64::from_be_bytes(rest[..8].try_into().expect("8 bytes"))),
            },
            _ => panic!("stored value has an unknown format: {stored:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(value in proptest::collection::vec(any::<u8>(), 0..40), deadline in proptest::option::of(any::<u64>())) {
            let record = Record { value: Bytes::from(value), deadline_ms: deadline };
            prop_assert_eq!(Record::decode(&record.encode()), record);
        }
    }
}
