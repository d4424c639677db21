//! Follower forwarding (`cluster.follower_requests = "forward"`): a follower passes the data
//! commands of its connections to the leader over the internal connection and relays the
//! answers, so that a plain client behind a load balancer, connected to any node, works. The
//! models are rqlite's and RedisRaft's follower proxies; what they leave open is connection
//! order, which this module keeps.
//!
//! # Connection order
//!
//! Every command of one connection takes effect after everything the connection sent before
//! it, pipelined or not, reads and writes mixed, across leader changes too
//! (`consensus/order.rs` keeps it on the leader). Forwarded commands would lose that if each
//! travelled on its own: two calls can arrive, and run, out of order. So:
//! - **Every data command of a connection goes through its *lane*** (one per connection with
//!   something in flight), in the order sent. In forward mode a follower serves none itself,
//!   keyless reads (DBSIZE) included: a follower ReadIndex could answer before an earlier
//!   forwarded write of the same connection applies. Commands the node answers from its own
//!   state (INFO, CLUSTER) and the connection's own commands do not touch data and pass by.
//! - **A lane sends along one route at a time**: to this node, when it leads, or to the leader
//!   it knows, in that leader's term, over one link generation. A request goes out only when
//!   nothing of the lane is in flight along another route, so requests in flight always share
//!   one route. The runtime carries the forwards to one peer on one ordered stream per link
//!   generation, so the leader receives a connection's requests in the order sent.
//! - **The leader runs a forwarded connection as one client of its own**:
//!   [`ClientId::forwarded`] gives it a stable id per (follower, connection), and the request
//!   ids are the follower's, so the leader's connection order applies to it unchanged. The
//!   answers travel back in any order; the follower's runtime writes each connection's
//!   answers in request order, as for any request.
//!
//! # Leader changes
//!
//! - **The leader checks the term.** A forward names the term of the leader it was sent to; the
//!   leader runs it only while it leads in exactly that term, and otherwise answers
//!   `NOTLEADER` (never `MOVED`, never parking it, never forwarding it again): the request
//!   certainly did not run. A held request the leader routes anew after losing leadership gets
//!   the same answer, and so do all later requests of the connection on that route (they were
//!   sent in the same term, and the leader's term only grows), so handing them back to the
//!   lane, in order, and sending them again cannot reorder them. A forward delivered late, after
//!   its leader lost and regained leadership, is refused the same way.
//! - **The lane fences the refused term.** After `NOTLEADER` for term `t` the lane sends
//!   nothing until this node knows a later term, so a request never bounces between two nodes;
//!   it waits for the next leader or answers `-NOQUORUM` at its deadline, as a parked request
//!   does.
//! - **A request in flight to an old leader ends with an unknown outcome**, as a timeout would:
//!   when the stream to that leader breaks (the runtime reports it, and the lane's requests on
//!   that link get `-NOQUORUM ... may or may not take effect`), or when the leader answers one
//!   (its own `TRYAGAIN` or `NOQUORUM`). Only then does the lane send to the new route. Why that
//!   keeps order: a write the old leader proposed in term `t` either committed, and then
//!   every later leader has it ahead of anything it accepts, or it is overwritten once the new
//!   leader commits its first entry of term `t' > t`, which it must before it acknowledges
//!   anything (Raft thesis §3.6.2 and §6.4): it never takes effect after a request the new
//!   leader acknowledged.
//! - **A deadline answers the client but does not end a remote request.** The follower answers
//!   `-NOQUORUM` at the request timeout, whether it had sent the request or not, but keeps a
//!   request it sent in flight until the leader answers it or the stream breaks: the lane moves
//!   to another route only once its old route is drained, never around a request still out.
//! - **Link generations fence broken streams.** A follower numbers its streams to each peer;
//!   once one broke (and its requests were answered), later forwards carry a higher
//!   generation, and the leader refuses any forward of a lower generation than it has seen from
//!   that follower (a stream that broke may still deliver what was buffered). A follower's run
//!   has its own nonce, so a restarted follower starts afresh.
//!
//! # What the leader accepts
//!
//! A forward is checked as a peer's Raft message is (`consensus/admission.rs`): it must name a
//! data group and come from a member of the group's configuration other than this node, and
//! its command is parsed anew against this node's limits. Each peer has at most
//! [`Relayed::PER_PEER_MAX`] forwarded requests in flight here; more are refused with
//! `-TRYAGAIN`, which the follower relays. Ids the leader cannot give a stable id to, and
//! duplicates of a request in flight, are dropped and counted: the runtime answers those
//! itself.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::{Node, Stage};
use crate::cluster_error::{ClusterError, NoQuorum, TryAgain};
use crate::cmd::{Call, CommandLimits, Run};
use crate::consensus::RequestKey;
use crate::ids::{ClientId, GroupId, NodeId, RequestId};
use crate::output::Output;
use crate::reply::Reply;
use crate::time::Now;

/// A client's command on its way from a follower to the leader of its group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardedRequest {
    /// The follower that forwards it.
    pub from: NodeId,
    /// The Raft group it is for.
    pub group: GroupId,
    /// The connection on the follower that sent it.
    pub client: ClientId,
    /// Its number on that connection; numbers go up in the order the connection sent them.
    pub id: RequestId,
    /// The term of the leader it was sent to: the leader runs it only in that term.
    pub term: u64,
    /// The follower's link to the leader it travels on.
    pub link: Link,
    /// The command's arguments, the name included (after the follower's own checks and
    /// WATCH stamping).
    pub args: Vec<Bytes>,
}

impl ForwardedRequest {
    /// The client id the leader runs this request under ([`ClientId::forwarded`]); its reply
    /// comes out as an [`Output::Reply`] for that client and [`ForwardedRequest::id`]. `None`
    /// if the ids do not fit: the leader drops such a request, so the runtime answers it.
    pub fn client_on_leader(&self) -> Option<ClientId> {
        ClientId::forwarded(self.from, self.client)
    }

    fn bytes(&self) -> usize {
        self.args.iter().map(Bytes::len).sum()
    }
}

/// One stream of forwards from a follower to one peer: a runtime carries all forwards of one
/// link, in order, on one stream, and opens a new stream for a new generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Link {
    /// Drawn when the follower starts: tells its runs apart.
    pub nonce: u64,
    /// Counts the follower's streams to that peer, from 0; one more after each broke.
    pub generation: u64,
}

/// Where a lane's requests in flight went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    /// Served by this node, as leader in `term`.
    Here { term: u64 },
    /// Forwarded to `leader`, leading in `term`, over link `generation`.
    Leader {
        leader: NodeId,
        term: u64,
        generation: u64,
    },
}

impl Route {
    fn term(self) -> u64 {
        match self {
            Route::Here { term } | Route::Leader { term, .. } => term,
        }
    }
}

/// One connection's data commands in forward mode.
#[derive(Debug, Default)]
struct Lane {
    /// The route of the requests in `in_flight`; meaningful only while there are any.
    route: Option<Route>,
    /// Requests sent along `route` and not ended: a forwarded one keeps its command, to send
    /// again if the leader refuses it; one served here keeps none (it ends with its reply).
    in_flight: BTreeMap<RequestId, Option<Call>>,
    /// Requests not sent yet, in the order the connection sent them.
    waiting: BTreeMap<RequestId, Call>,
    /// A leader refused a request of this lane in this term: nothing goes out until this node
    /// knows a later one.
    fenced_term: u64,
}

impl Lane {
    fn is_idle(&self) -> bool {
        self.in_flight.is_empty() && self.waiting.is_empty()
    }
}

/// The follower side: every forward-mode connection with a data command in flight.
#[derive(Debug, Default)]
pub(super) struct Lanes {
    lanes: BTreeMap<ClientId, Lane>,
    /// The current link generation to each peer.
    generations: BTreeMap<NodeId, u64>,
    /// Forwarded requests in flight, over all lanes; bounded with the node's requests.
    remote_in_flight: usize,
    /// A request in flight ended since [`Lanes::take_unblocked`] was last called, so a lane
    /// may send again.
    unblocked: bool,
}

impl Lanes {
    /// Whether a request in flight ended since the last call (and some lane may send now).
    pub(super) fn take_unblocked(&mut self) -> bool {
        std::mem::take(&mut self.unblocked)
    }

    /// Forwarded requests not ended yet, answered or not.
    pub(super) fn remote_in_flight(&self) -> usize {
        self.remote_in_flight
    }

    /// Queues a command of `key`'s connection; one that was being served here (and is routed
    /// anew) goes back to its place.
    fn enqueue(&mut self, (client, id): RequestKey, call: Call) {
        let lane = self.lanes.entry(client).or_default();
        if lane.in_flight.get(&id).is_some_and(Option::is_none) {
            lane.in_flight.remove(&id);
        }
        lane.waiting.insert(id, call);
    }

    /// `key` was answered (or timed out): it leaves the queue, and a request served here ends.
    /// A forwarded one stays in flight until the leader answers it or its link breaks.
    pub(super) fn finished(&mut self, (client, id): RequestKey) {
        let Some(lane) = self.lanes.get_mut(&client) else {
            return;
        };
        lane.waiting.remove(&id);
        if lane.in_flight.get(&id).is_some_and(Option::is_none) {
            lane.in_flight.remove(&id);
            self.unblocked |= lane.in_flight.is_empty() && !lane.waiting.is_empty();
        }
        self.tidy(client);
    }

    /// Takes a forwarded request out of flight, with its command: `None` if it had ended.
    fn land(&mut self, (client, id): RequestKey) -> Option<(Route, Call)> {
        let lane = self.lanes.get_mut(&client)?;
        let route = lane.route?;
        let call = lane.in_flight.get(&id)?.clone()?;
        lane.in_flight.remove(&id);
        self.remote_in_flight -= 1;
        Some((route, call))
    }

    fn generation(&self, peer: NodeId) -> u64 {
        self.generations.get(&peer).copied().unwrap_or(0)
    }

    fn with_waiting(&self) -> Vec<ClientId> {
        self.lanes
            .iter()
            .filter(|(_, lane)| !lane.waiting.is_empty())
            .map(|(client, _)| *client)
            .collect()
    }

    fn tidy(&mut self, client: ClientId) {
        if self.lanes.get(&client).is_some_and(Lane::is_idle) {
            self.lanes.remove(&client);
        }
    }
}

/// The leader side: what each follower has forwarded here.
#[derive(Debug, Default)]
pub(super) struct Relayed {
    /// Forwarded requests in flight here, per follower.
    in_flight: BTreeMap<NodeId, usize>,
    /// The newest link seen from each follower (see the module docs).
    links: BTreeMap<NodeId, Link>,
}

impl Relayed {
    /// Forwarded requests one follower may have in flight here at once.
    pub(super) const PER_PEER_MAX: usize = 4096;
    /// The largest forwarded command, bytes: what the internal gRPC connection carries.
    const BYTES_MAX: usize = 64 * 1024 * 1024;

    /// A forwarded request of `key` was answered.
    pub(super) fn finished(&mut self, (client, _): RequestKey) {
        let Some((from, _)) = client.forwarded_from() else {
            return;
        };
        if let Some(count) = self.in_flight.get_mut(&from) {
            *count -= 1;
            if *count == 0 {
                self.in_flight.remove(&from);
            }
        }
    }

    /// Whether `link` is as new as any seen from `from`; remembers it if newer.
    fn admit_link(&mut self, from: NodeId, link: Link) -> bool {
        match self.links.get(&from) {
            Some(seen) if seen.nonce == link.nonce && seen.generation > link.generation => false,
            _ => {
                self.links.insert(from, link);
                true
            }
        }
    }
}

impl Node {
    /// Whether `key`'s connection sends its data commands through a lane: a real connection
    /// of a node in forward mode.
    pub(super) fn uses_lane(&self, key: RequestKey) -> bool {
        self.config.follower_requests == crate::config::FollowerRequests::Forward
            && key.0.forwarded_from().is_none()
    }

    /// Queues a data command on its connection's lane and sends what may go.
    pub(super) fn enqueue_on_lane(&mut self, key: RequestKey, call: Call) {
        self.set_stage(key, Stage::Parked);
        self.lanes.enqueue(key, call);
        self.pump(key.0);
    }

    /// Sends the lane's waiting requests, in order, for as long as the route allows.
    fn pump(&mut self, client: ClientId) {
        loop {
            let Some(lane) = self.lanes.lanes.get(&client) else {
                return;
            };
            let Some((&id, _)) = lane.waiting.first_key_value() else {
                return;
            };
            let group = &self.groups[&GroupId::FIRST_DATA];
            let term = group.term();
            let route = if group.is_leader() {
                Route::Here { term }
            } else {
                match group.leader() {
                    Some(leader) => Route::Leader {
                        leader,
                        term,
                        generation: self.lanes.generation(leader),
                    },
                    None => return, // Parked until a leader is known, or the deadline.
                }
            };
            if term <= lane.fenced_term || (!lane.in_flight.is_empty() && lane.route != Some(route))
            {
                return;
            }
            let lane = self.lanes.lanes.get_mut(&client).expect("seen above");
            let call = lane.waiting.remove(&id).expect("seen above");
            lane.route = Some(route);
            let key = (client, id);
            match route {
                Route::Here { .. } => {
                    lane.in_flight.insert(id, None);
                    self.route(key, call);
                }
                Route::Leader {
                    leader,
                    term,
                    generation,
                } => {
                    lane.in_flight.insert(id, Some(call.clone()));
                    self.lanes.remote_in_flight += 1;
                    self.set_stage(key, Stage::Forwarded);
                    let request = ForwardedRequest {
                        from: self.config.id,
                        group: GroupId::FIRST_DATA,
                        client,
                        id,
                        term,
                        link: Link {
                            nonce: self.link_nonce,
                            generation,
                        },
                        args: call.into_args(),
                    };
                    self.outbox.outputs.push_back(Output::Forward {
                        to: leader,
                        request,
                    });
                }
            }
        }
    }

    /// Sends what waits on every lane: after role changes, answers and ticks.
    pub(super) fn pump_all(&mut self) {
        for client in self.lanes.with_waiting() {
            self.pump(client);
        }
    }

    /// The leader answered a request this node forwarded ([`Output::Forward`]): the answer goes
    /// to the client, unless it says the leader no longer led in the request's term; then the
    /// request waits on its lane for a later term's leader. An answer for a request that already
    /// ended (its link broke) is ignored.
    pub fn handle_forward_reply(
        &mut self,
        now: Now,
        client: ClientId,
        id: RequestId,
        reply: Reply,
    ) {
        self.advance_clock(now);
        let key = (client, id);
        let Some((route, call)) = self.lanes.land(key) else {
            return;
        };
        let refused = matches!(&reply, Reply::Error(text)
            if matches!(ClusterError::parse(text), Some(ClusterError::NotLeader(_))));
        if refused && self.outstanding.contains_key(&key) {
            let lane = self.lanes.lanes.get_mut(&client).expect("landed from it");
            lane.fenced_term = lane.fenced_term.max(route.term());
            lane.waiting.insert(id, call);
            self.set_stage(key, Stage::Parked);
        } else if !refused {
            self.complete(key, reply);
        }
        self.lanes.tidy(client);
        self.pump(client);
        self.drive_all();
        self.after_input();
    }

    /// The link of `generation` to `peer` broke, or could not take a forward: every request
    /// forwarded on it ends with an unknown outcome (`-NOQUORUM`), and later forwards to that
    /// peer go on a new link. A report for a link already replaced is ignored.
    pub fn handle_forward_failed(&mut self, now: Now, peer: NodeId, generation: u64) {
        self.advance_clock(now);
        if generation != self.lanes.generation(peer) {
            return;
        }
        tracing::debug!(
            node = self.config.id.0,
            group = GroupId::FIRST_DATA.0,
            %peer,
            generation,
            "forwarding link broke"
        );
        self.lanes.generations.insert(peer, generation + 1);
        let mut ended = Vec::new();
        for (&client, lane) in &mut self.lanes.lanes {
            let on_link = matches!(lane.route, Some(Route::Leader { leader, generation: g, .. })
                if leader == peer && g == generation);
            if on_link {
                for (id, _) in std::mem::take(&mut lane.in_flight) {
                    ended.push((client, id));
                }
            }
        }
        self.lanes.remote_in_flight -= ended.len();
        for key in ended {
            self.complete(key, ClusterError::NoQuorum(NoQuorum::Unanswered).into());
            self.lanes.tidy(key.0);
        }
        self.pump_all();
        self.drive_all();
        self.after_input();
    }

    /// A follower forwarded a client's command ([`Output::Forward`] on its side): run it as a
    /// request of the follower's connection, if this node leads the group in the request's
    /// term, and answer with an [`Output::Reply`] for [`ForwardedRequest::client_on_leader`].
    /// Checked first (see the module docs); a request that fails a check is answered with an
    /// error, never run. A request whose ids do not fit, or that duplicates one in flight, is
    /// dropped and counted in [`Node::messages_dropped`]: its runtime answers it.
    pub fn handle_forwarded(&mut self, now: Now, request: ForwardedRequest) {
        self.advance_clock(now);
        let Some(client) = request.client_on_leader() else {
            self.messages_dropped += 1;
            return;
        };
        let key = (client, request.id);
        if self.outstanding.contains_key(&key) {
            self.messages_dropped += 1;
            return;
        }
        let call = match self.admit_forwarded(&request) {
            Ok(call) => call,
            Err(reply) => {
                tracing::debug!(
                    node = self.config.id.0,
                    group = request.group.0,
                    from = request.from.0,
                    ?reply,
                    "forwarded request refused"
                );
                self.reply_now(key, reply);
                return;
            }
        };
        *self.relayed.in_flight.entry(request.from).or_default() += 1;
        self.track(key);
        self.route(key, call);
        self.drive_all();
        self.after_input();
    }

    /// The checks a forwarded request passes before it runs, in the order a broken peer is
    /// most cheaply told apart; `Err` is the answer.
    fn admit_forwarded(&mut self, request: &ForwardedRequest) -> Result<Call, Reply> {
        let Some(group) = self
            .groups
            .get(&request.group)
            .filter(|_| !request.group.is_system())
        else {
            return Err(Reply::error(format!(
                "ERR forwarded request for unknown data group {}",
                request.group
            )));
        };
        if request.from == self.config.id || !group.is_member(request.from) {
            return Err(Reply::error(format!(
                "ERR node {} is not a member of group {}",
                request.from, request.group
            )));
        }
        if !group.is_leader() || group.term() != request.term {
            return Err(ClusterError::NotLeader(group.leader()).into());
        }
        if !self.relayed.admit_link(request.from, request.link) {
            // Sent on a link that broke; the follower has answered it already.
            return Err(ClusterError::NoQuorum(NoQuorum::Unanswered).into());
        }
        let in_flight = self.relayed.in_flight.get(&request.from).copied();
        if in_flight.unwrap_or(0) >= Relayed::PER_PEER_MAX
            || self.outstanding.len() >= self.config.requests_pending_max
        {
            return Err(ClusterError::TryAgain(TryAgain::Overloaded).into());
        }
        if request.bytes() > Relayed::BYTES_MAX {
            return Err(Reply::error("ERR forwarded request too large"));
        }
        let limits = CommandLimits {
            key_bytes_max: self.config.key_bytes_max,
            value_bytes_max: self.config.value_bytes_max,
        };
        let call = Call::from_forwarded(request.args.clone(), &limits)?;
        match call.run() {
            Run::Read { .. } | Run::Write { .. } => Ok(call),
            _ => Err(Reply::error(format!(
                "ERR '{}' is not forwarded to the leader",
                call.spec().name
            ))),
        }
    }
}
