//! What a log entry carries: the binary encoding of a proposal.
//!
//! Layout: one tag byte, then fields; integers are big-endian, byte strings are a `u32` length
//! and the bytes. The decoder never allocates more than the entry holds: lengths are checked
//! against the remaining input before anything is copied.

use bytes::Bytes;

use crate::ids::NodeId;

/// Tags 1 and 2 were typed SET and DEL entries before writes were logged as their arguments;
/// they are not reused, so such an entry is refused rather than misread.
const TAG_REGISTER_NODE: u8 = 3;
/// A command without a timestamp, as versions before key expiry wrote it: it leaves the
/// cluster time where it was.
const TAG_COMMAND_UNTIMED: u8 = 4;
const TAG_COMMAND: u8 = 5;
const TAG_EXPIRE: u8 = 6;

/// A change to a group's state machine, as written into the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Proposal {
    /// Data groups: a write command's arguments, the name included, checked when it was
    /// proposed, and the proposing leader's Unix time in milliseconds, which moves the
    /// cluster time forward (never back). Every replica applies it through the command table.
    Command {
        /// The leader's wall clock when it proposed the entry.
        unix_ms: u64,
        /// The command, its name first.
        args: Vec<Bytes>,
    },
    /// Data groups: the leader's active expiry. At its timestamp `unix_ms`, each of `keys`
    /// whose deadline has passed is deleted; a key given a new TTL since stays.
    Expire {
        /// The leader's wall clock when it proposed the entry.
        unix_ms: u64,
        /// Keys the leader found due.
        keys: Vec<Bytes>,
    },
    /// System group: a node announces the addresses it serves on.
    RegisterNode(Member),
}

/// Why a committed entry does not apply to a group's state machine. It depends only on the
/// entry and the group, so every replica finds the same reason and skips the same entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Inapplicable {
    /// The bytes are not a proposal this version writes.
    Undecodable,
    /// A proposal of the other kind of group: a command in the system group, or a
    /// registration in a data group.
    WrongGroup,
    /// A command this version does not know, or with an arity its table refuses.
    UnknownCommand,
    /// A command that is not a write.
    NotAWrite,
}

impl std::fmt::Display for Inapplicable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Inapplicable::Undecodable => "it is not a proposal this version wrote",
            Inapplicable::WrongGroup => "it is a proposal for another kind of group",
            Inapplicable::UnknownCommand => "it is a command this version does not know",
            Inapplicable::NotAWrite => "it is a command that does not write",
        })
    }
}

/// A node's entry in the system group's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    /// The member's node id; the directory holds one entry per id.
    pub(crate) id: NodeId,
    /// `host:port` Redis clients connect to; the address put in `MOVED` replies.
    pub(crate) client_addr: String,
    /// `host:port` other nodes send Raft traffic to.
    pub(crate) internal_addr: String,
}

impl Proposal {
    /// Encodes the proposal as log-entry data.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Proposal::Command { unix_ms, args }
            | Proposal::Expire {
                unix_ms,
                keys: args,
            } => {
                out.reserve(13 + args.iter().map(|arg| 4 + arg.len()).sum::<usize>());
                out.push(match self {
                    Proposal::Command { .. } => TAG_COMMAND,
                    _ => TAG_EXPIRE,
                });
                out.extend_from_slice(&unix_ms.to_be_bytes());
                out.extend_from_slice(&(args.len() as u32).to_be_bytes());
                for arg in args {
                    put_bytes(&mut out, arg);
                }
            }
            Proposal::RegisterNode(member) => {
                out.push(TAG_REGISTER_NODE);
                out.extend_from_slice(&member.id.0.to_be_bytes());
                put_bytes(&mut out, member.client_addr.as_bytes());
                put_bytes(&mut out, member.internal_addr.as_bytes());
            }
        }
        out
    }

    /// Decodes log-entry data. `None` when the bytes are not a proposal this version wrote.
    pub(crate) fn decode(data: &[u8]) -> Option<Proposal> {
        let mut reader = Reader { rest: data };
        let proposal = match reader.u8()? {
            TAG_COMMAND_UNTIMED => Proposal::Command {
                unix_ms: 0,
                args: reader.byte_strings()?,
            },
            TAG_COMMAND => Proposal::Command {
                unix_ms: reader.u64()?,
                args: reader.byte_strings()?,
            },
            TAG_EXPIRE => Proposal::Expire {
                unix_ms: reader.u64()?,
                keys: reader.byte_strings()?,
            },
            TAG_REGISTER_NODE => Proposal::RegisterNode(Member {
                id: NodeId(reader.u64()?),
                client_addr: String::from_utf8(reader.bytes()?.to_vec()).ok()?,
                internal_addr: String::from_utf8(reader.bytes()?.to_vec()).ok()?,
            }),
            _ => return None,
        };
        reader.rest.is_empty().then_some(proposal)
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

struct Reader<'a> {
    rest: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.rest.len() < n {
            return None;
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }

    fn bytes(&mut self) -> Option<Bytes> {
        let len = self.u32()? as usize;
        Some(Bytes::copy_from_slice(self.take(len)?))
    }

    /// A `u32` count, then that many byte strings.
    fn byte_strings(&mut self) -> Option<Vec<Bytes>> {
        let count = self.u32()? as usize;
        // Each takes at least its 4-byte length: a count larger than that is corrupt, and
        // checking it first keeps the allocation bounded by the entry.
        if count > self.rest.len() / 4 {
            return None;
        }
        (0..count).map(|_| self.bytes()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_proposal() -> impl Strategy<Value = Proposal> {
        let bytes = || proptest::collection::vec(any::<u8>(), 0..40).prop_map(Bytes::from);
        prop_oneof![
            (any::<u64>(), proptest::collection::vec(bytes(), 0..5))
                .prop_map(|(unix_ms, args)| Proposal::Command { unix_ms, args }),
            (any::<u64>(), proptest::collection::vec(bytes(), 0..5))
                .prop_map(|(unix_ms, keys)| Proposal::Expire { unix_ms, keys }),
            (any::<u64>(), "[a-z0-9.:]{0,20}", "[a-z0-9.:]{0,20}").prop_map(|(id, c, i)| {
                Proposal::RegisterNode(Member {
                    id: NodeId(id),
                    client_addr: c,
                    internal_addr: i,
                })
            }),
        ]
    }

    proptest! {
        #[test]
        fn encode_then_decode_is_identity(proposal in arb_proposal()) {
            prop_assert_eq!(Proposal::decode(&proposal.encode()), Some(proposal));
        }

        #[test]
        fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = Proposal::decode(&data);
        }
    }

    #[test]
    fn an_untimed_command_leaves_the_clock_alone() {
        let mut data = vec![TAG_COMMAND_UNTIMED];
        data.extend_from_slice(&1u32.to_be_bytes());
        put_bytes(&mut data, b"DEL");
        assert_eq!(
            Proposal::decode(&data),
            Some(Proposal::Command {
                unix_ms: 0,
                args: vec![Bytes::from("DEL")]
            })
        );
    }

    #[test]
    fn huge_declared_key_count_is_rejected_without_allocating() {
        let mut data = vec![TAG_COMMAND];
        data.extend_from_slice(&0u64.to_be_bytes());
        data.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(Proposal::decode(&data), None);
    }
}
