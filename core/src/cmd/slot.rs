//! Redis Cluster's key hash slot: CRC16 (XMODEM) of the key, or of its hash tag, mod 16384
//! (<https://redis.io/docs/latest/operate/oss_and_stack/reference/cluster-spec/>).

/// Number of hash slots.
pub const SLOT_COUNT: u16 = 16384;

/// The slot of `key`. If the key holds a non-empty `{tag}` (the first `{` and the first `}`
/// after it), only the tag is hashed, so related keys can share a slot.
pub fn key_hash_slot(key: &[u8]) -> u16 {
    let hashed = match key.iter().position(|&b| b == b'{') {
        Some(open) => match key[open + 1..].iter().position(|&b| b == b'}') {
            Some(len) if len > 0 => &key[open + 1..open + 1 + len],
            _ => key,
        },
        None => key,
    };
    crc16(hashed) % SLOT_COUNT
}

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, as Redis's `crc16.c`.
pub fn crc16(bytes: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &byte in bytes {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_xmodem_check_value() {
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis_cluster() {
        assert_eq!(key_hash_slot(b"foo"), 12182);
        assert_eq!(key_hash_slot(b"bar"), 5061);
        assert_eq!(
            key_hash_slot(b"{user1000}.following"),
            key_hash_slot(b"{user1000}.followers")
        );
        assert_eq!(
            key_hash_slot(b"{user1000}.following"),
            key_hash_slot(b"user1000")
        );
    }

    #[test]
    fn empty_or_unclosed_tags_hash_the_whole_key() {
        assert_eq!(
            key_hash_slot(b"foo{}{bar}"),
            crc16(b"foo{}{bar}") % SLOT_COUNT
        );
        assert_eq!(key_hash_slot(b"foo{bar"), crc16(b"foo{bar") % SLOT_COUNT);
        assert_eq!(key_hash_slot(b"foo{{bar}}zap"), crc16(b"{bar") % SLOT_COUNT);
    }
}
