//! The directory of members, kept by the system group (group 0).
//!
//! Each node registers the addresses it serves on through the system group, so every node
//! learns every other node's client address, the one a `MOVED` reply names, from the log
//! rather than from its own configuration file.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use crate::ids::NodeId;
use crate::kv::{ApplyContext, Inapplicable, Member, Proposal};
use crate::reply::Reply;
use crate::storage::{DataRange, Store};

const MEMBER_PREFIX: &[u8] = b"member/";

/// Members as the system group's log has registered them.
#[derive(Debug)]
pub(crate) struct Directory {
    /// Where the records are: the generation changes when a snapshot is installed.
    range: DataRange,
    members: BTreeMap<NodeId, Member>,
}

impl Directory {
    /// Reads the directory from `range` of the `system_data` family.
    pub(crate) fn load(range: DataRange, store: &dyn Store) -> crate::Result<Directory> {
        let mut directory = Directory {
            range,
            members: BTreeMap::new(),
        };
        let mut corrupt = false;
        let start = range.key(MEMBER_PREFIX);
        store.scan(range.cf(), &start, &range.end(), &mut |key, value| {
            if !key.starts_with(&start) {
                return ControlFlow::Break(());
            }
            match Proposal::decode(value) {
                Some(Proposal::RegisterNode(member)) => {
                    directory.members.insert(member.id, member);
                    ControlFlow::Continue(())
                }
                _ => {
                    corrupt = true;
                    ControlFlow::Break(())
                }
            }
        })?;
        if corrupt {
            return Err(crate::Error::Corrupt("system directory record".to_owned()));
        }
        Ok(directory)
    }

    /// Applies one committed system proposal. A data command changes nothing: the node never
    /// proposes one to group 0, so a newer version or a broken peer wrote it (the group logs
    /// it).
    pub(crate) fn apply(
        &mut self,
        cx: &mut ApplyContext<'_>,
        proposal: &Proposal,
    ) -> Result<Reply, Inapplicable> {
        match proposal {
            Proposal::RegisterNode(member) => {
                let mut key = self.range.key(MEMBER_PREFIX);
                key.extend_from_slice(&member.id.0.to_be_bytes());
                cx.put(self.range.cf(), key, proposal.encode());
                self.members.insert(member.id, member.clone());
                Ok(Reply::ok())
            }
            Proposal::Command { .. } | Proposal::Expire { .. } => Err(Inapplicable::WrongGroup),
        }
    }

    /// The registered entry of `id`.
    pub(crate) fn member(&self, id: NodeId) -> Option<&Member> {
        self.members.get(&id)
    }

    /// Number of stored records (one per member).
    pub(crate) fn record_count(&self) -> u64 {
        self.members.len() as u64
    }

    /// Every registered member, by id.
    pub(crate) fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }
}
