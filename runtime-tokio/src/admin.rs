//! The operator's side of membership: adding, removing and moving leadership between nodes,
//! against any member's internal address. `seshat cluster ...` and a joining node use it.
//!
//! Each group changes on its own, at its leader, which the tool finds from a member's status
//! and reaches at its address in the member directory. An answer that means "not here" or
//! "not now" (`NOTLEADER`, `TRYAGAIN`, `NOQUORUM`: a [`ClusterError`] that is retryable) sends
//! the call round again, to whichever node leads by then.
//!
//! Adding a node is: learner in every group, wait until it has caught up (from a snapshot),
//! then promote it through a joint configuration. Removing one first moves away any
//! leadership it holds.

use std::time::Duration;

use seshat_core::{ClusterError, GroupId, NodeId};
use seshat_proto::v1::internal_client::InternalClient;
use seshat_proto::v1::{
    admin_reply, membership_request, AdminReply, MembershipRequest, StatusReply, StatusRequest,
    TransferLeaderRequest,
};
use tonic::transport::Channel;

use crate::error::{Error, Result};

/// How long one membership step (a change to apply, a learner to catch up, a joint
/// configuration to be left) may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between polls and retries.
const POLL: Duration = Duration::from_millis(100);
/// A learner counts as caught up within this many entries of the leader's commit index.
const CAUGHT_UP_ENTRIES: u64 = 10;

/// Where the operator's calls go: any member, found again as leadership moves.
pub struct Admin {
    seed: String,
    /// Every member address seen in a directory so far: where to ask when the seed is down
    /// or was itself removed.
    known: std::sync::Mutex<Vec<String>>,
}

/// What an operator can ask of one group.
#[derive(Clone, Debug)]
enum Change {
    AddLearner {
        client_addr: String,
        internal_addr: String,
    },
    Promote,
    Remove,
}

impl Admin {
    /// Calls go first to the member at `seed` (its internal address).
    pub fn new(seed: impl Into<String>) -> Admin {
        let seed = seed.into();
        Admin {
            known: std::sync::Mutex::new(vec![seed.clone()]),
            seed,
        }
    }

    /// The status of the node at `addr`.
    pub async fn status_of(addr: &str) -> Result<StatusReply> {
        let mut client = connect(addr).await?;
        Ok(client
            .status(StatusRequest {})
            .await
            .map_err(|status| rpc_error("Internal.Status", addr, status))?
            .into_inner())
    }

    /// The status of the seed, or, if it is unreachable or was removed, of the first other
    /// member seen so far that answers and still belongs to the cluster.
    pub async fn status(&self) -> Result<StatusReply> {
        let candidates = self.known.lock().expect("admin lock").clone();
        let mut last_error = None;
        for addr in std::iter::once(self.seed.clone()).chain(candidates) {
            match Admin::status_of(&addr).await {
                Ok(status) if !status.removed => {
                    let mut known = self.known.lock().expect("admin lock");
                    for member in &status.members {
                        if !known.contains(&member.internal_addr) {
                            known.push(member.internal_addr.clone());
                        }
                    }
                    return Ok(status);
                }
                Ok(_) => last_error = Some(Error::Removed { addr }),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or(Error::NoMember))
    }

    /// Adds node `node` (reachable at `internal_addr`, serving clients on `client_addr`) to
    /// every group and makes it a voter. A node already added is left as it is, so a join
    /// can be retried.
    pub async fn add_node(&self, node: u64, client_addr: &str, internal_addr: &str) -> Result<()> {
        for group in self.groups().await? {
            let learner = Change::AddLearner {
                client_addr: client_addr.to_owned(),
                internal_addr: internal_addr.to_owned(),
            };
            self.change(group, node, learner).await?;
            self.wait_until_caught_up(group, node, internal_addr)
                .await?;
            self.change(group, node, Change::Promote).await?;
            self.wait_for_leader(group, "the joint configuration to be left", |status| {
                status.voters.contains(&node) && status.voters_outgoing.is_empty()
            })
            .await?;
            tracing::info!(node, group, "node is a voter");
        }
        Ok(())
    }

    /// Removes node `node` from every group, moving leadership away from it first. Data
    /// groups go first and the system group last: a node out of the system group counts as
    /// removed and stops serving clients.
    pub async fn remove_node(&self, node: u64) -> Result<()> {
        for group in self.groups().await?.into_iter().rev() {
            let (leader, status) = self.leader_status(group).await?;
            if leader == node {
                let Some(&other) = status.voters.iter().find(|&&v| v != node) else {
                    return Err(Error::LastVoter {
                        node: NodeId(node),
                        group: GroupId(group),
                    });
                };
                self.transfer_leader(group, other).await?;
            }
            self.change(group, node, Change::Remove).await?;
            self.wait_for_leader(group, "the removal to complete", |status| {
                !status.voters.contains(&node)
                    && !status.learners.contains(&node)
                    && status.voters_outgoing.is_empty()
            })
            .await?;
            tracing::info!(node, group, "node removed");
        }
        Ok(())
    }

    /// Hands leadership of `group` to `node` and waits until it leads.
    pub async fn transfer_leader(&self, group: u64, node: u64) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let (leader, _) = self.leader_status(group).await?;
            if leader == node {
                return Ok(());
            }
            let addr = self.addr_of(leader).await?;
            let request = TransferLeaderRequest { group, node };
            if let Answer::Refused(reason) = transfer_leader(&addr, request).await? {
                return Err(Error::Refused {
                    request: format!("transferring group {group} to node {node}"),
                    reason,
                });
            }
            // A transfer gives up after an election timeout if it could not finish.
            tokio::time::sleep(Duration::from_secs(1)).await;
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::TimedOut {
                    what: format!("node {node} to take over group {group}"),
                });
            }
        }
    }

    async fn groups(&self) -> Result<Vec<u64>> {
        Ok(self
            .status()
            .await?
            .groups
            .iter()
            .map(|g| g.group)
            .collect())
    }

    /// The internal address of `node`, from the seed's directory.
    async fn addr_of(&self, node: u64) -> Result<String> {
        self.status()
            .await?
            .members
            .into_iter()
            .find(|member| member.node == node)
            .map(|member| member.internal_addr)
            .ok_or(Error::NotInDirectory { node: NodeId(node) })
    }

    /// The leader of `group` and its status of the group, waiting while there is none.
    async fn leader_status(&self, group: u64) -> Result<(u64, seshat_proto::v1::GroupStatus)> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let seen = self.status().await?;
            let leader = seen
                .groups
                .iter()
                .find(|g| g.group == group)
                .map_or(0, |g| g.leader);
            if leader != 0 {
                if let Ok(addr) = self.addr_of(leader).await {
                    if let Ok(status) = Admin::status_of(&addr).await {
                        if let Some(g) = status.groups.into_iter().find(|g| g.group == group) {
                            if g.role == "Leader" {
                                return Ok((leader, g));
                            }
                        }
                    }
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::TimedOut {
                    what: format!("a leader of group {group}"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Proposes `change` of `node` in `group` at its leader until it is accepted.
    async fn change(&self, group: u64, node: u64, change: Change) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let (leader, _) = self.leader_status(group).await?;
            let addr = self.addr_of(leader).await?;
            let mut request = MembershipRequest {
                group,
                node,
                ..MembershipRequest::default()
            };
            match &change {
                Change::AddLearner {
                    client_addr,
                    internal_addr,
                } => {
                    request.set_kind(membership_request::Kind::AddLearner);
                    request.client_addr.clone_from(client_addr);
                    request.internal_addr.clone_from(internal_addr);
                }
                Change::Promote => request.set_kind(membership_request::Kind::Promote),
                Change::Remove => request.set_kind(membership_request::Kind::Remove),
            }
            match change_membership(&addr, request).await? {
                Answer::Accepted => {}
                Answer::Refused(reason) if change.was_made_already(&reason) => {}
                Answer::Refused(reason) => {
                    return Err(Error::Refused {
                        request: format!("{change:?} of node {node} in group {group}"),
                        reason,
                    })
                }
                Answer::Retry(error) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(Error::KeptFailing {
                            request: format!("{change:?} of node {node} in group {group}"),
                            reason: error.to_string(),
                        });
                    }
                    tokio::time::sleep(POLL).await;
                    continue;
                }
            }
            tracing::info!(group, node, ?change, "membership change applied");
            return Ok(());
        }
    }

    async fn wait_until_caught_up(&self, group: u64, node: u64, internal_addr: &str) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let (_, leader) = self.leader_status(group).await?;
            let applied = Admin::status_of(internal_addr)
                .await
                .ok()
                .and_then(|s| s.groups.into_iter().find(|g| g.group == group))
                .map_or(0, |g| g.applied_index);
            if applied + CAUGHT_UP_ENTRIES >= leader.commit_index && applied > 0 {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::TimedOut {
                    what: format!(
                        "node {node} to catch up in group {group} (applied {applied} of {})",
                        leader.commit_index
                    ),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    async fn wait_for_leader(
        &self,
        group: u64,
        what: &str,
        done: impl Fn(&seshat_proto::v1::GroupStatus) -> bool,
    ) -> Result<()> {
        let deadline = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            let (_, status) = self.leader_status(group).await?;
            if done(&status) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::TimedOut {
                    what: format!("{what} in group {group}"),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Change {
    /// Whether `refusal`, a node's error line, says the change had been made already (by an
    /// earlier attempt whose answer was lost), so that a retried join or removal succeeds.
    /// These refusals are `ERR` lines, not [`ClusterError`]s: their wording is all there is
    /// to go on.
    fn was_made_already(&self, refusal: &str) -> bool {
        match self {
            Change::AddLearner { .. } => refusal.contains("already a member"),
            Change::Promote => refusal.contains("is not a learner"),
            Change::Remove => refusal.contains("is not a member"),
        }
    }
}

/// What a node answered a membership change or a leadership transfer.
enum Answer {
    /// The request succeeded.
    Accepted,
    /// Not here or not now (`NOTLEADER`, `TRYAGAIN`, `NOQUORUM`): ask the group's leader again.
    Retry(ClusterError),
    /// Refused, with the node's error line: asking again would get the same answer.
    Refused(String),
}

impl Answer {
    /// Reads the reply that the node at `addr` gave to `method`.
    fn of(reply: AdminReply, method: &'static str, addr: &str) -> Result<Answer> {
        match reply.outcome {
            Some(admin_reply::Outcome::Accepted(_)) => Ok(Answer::Accepted),
            Some(admin_reply::Outcome::Error(text)) => match ClusterError::parse(&text) {
                Some(error) if error.is_retryable() => Ok(Answer::Retry(error)),
                _ => Ok(Answer::Refused(text)),
            },
            None => Err(Error::NoOutcome {
                method,
                addr: addr.to_owned(),
            }),
        }
    }
}

/// Asks the node at `addr` to change a group's membership.
async fn change_membership(addr: &str, request: MembershipRequest) -> Result<Answer> {
    const METHOD: &str = "Internal.ChangeMembership";
    let reply = connect(addr)
        .await?
        .change_membership(request)
        .await
        .map_err(|status| rpc_error(METHOD, addr, status))?;
    Answer::of(reply.into_inner(), METHOD, addr)
}

/// Asks the node at `addr` to hand a group's leadership over.
async fn transfer_leader(addr: &str, request: TransferLeaderRequest) -> Result<Answer> {
    const METHOD: &str = "Internal.TransferLeader";
    let reply = connect(addr)
        .await?
        .transfer_leader(request)
        .await
        .map_err(|status| rpc_error(METHOD, addr, status))?;
    Answer::of(reply.into_inner(), METHOD, addr)
}

fn rpc_error(method: &'static str, addr: &str, status: tonic::Status) -> Error {
    Error::Rpc {
        method,
        addr: addr.to_owned(),
        source: Box::new(status),
    }
}

async fn connect(addr: &str) -> Result<InternalClient<Channel>> {
    let failed = |source| Error::Connect {
        addr: addr.to_owned(),
        source,
    };
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(failed)?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30))
        .connect()
        .await
        .map_err(failed)?;
    Ok(InternalClient::new(channel))
}
