//! Follower forwarding over gRPC (`cluster.follower_requests = "forward"`): the bytes only.
//! The core decides what goes where and keeps connection order (`seshat-core`'s
//! `node/forward.rs`); this module keeps the one promise it asks of a runtime: every forward
//! to one peer of one link generation travels, in the order the core output it, on one
//! `Internal.Forward` stream, and a stream that breaks is reported once, with its generation.
//!
//! - [`ForwardLink`] (follower side): one task per peer, a bounded queue, one bidirectional
//!   stream at a time. Answers come back as [`Event::ForwardReply`]; a stream that fails to
//!   open, breaks, or stops taking requests within the RPC timeout is reported as
//!   [`Event::ForwardFailed`], and what was queued for it is dropped (the core has answered
//!   it). Reconnecting waits a growing pause, so a dead leader costs no busy loop.
//! - [`serve_forwards`] (leader side): decodes a follower's stream and hands each request to
//!   the driver as [`Event::Forwarded`]; answers go back on the reply stream as they come.
//! - [`reply_to_proto`] and [`reply_from_proto`]: the core's protocol-neutral `Reply`, so the
//!   follower's connection encodes exactly what the leader would have answered, in RESP2 or
//!   RESP3.

use std::time::Duration;

use bytes::Bytes;
use seshat_core::{ClientId, ForwardedRequest, GroupId, Link, NodeId, Reply, RequestId};
use seshat_proto::v1::reply_value::{Items, Kind, Null, NullArray, Pairs};
use seshat_proto::v1::{ForwardReply, ForwardRequest, ReplyValue};
use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::{Status, Streaming};

use crate::channels::Event;

/// Forwards queued for one peer at most; one that finds the queue full breaks the link.
pub const FORWARD_QUEUE_MAX: usize = 4096;
/// Answers one stream buffers for its follower at most before the leader waits.
const REPLY_QUEUE_MAX: usize = 1024;
/// First and largest pause between two attempts to open a stream.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(20), Duration::from_secs(1));
/// Nesting a relayed reply may have at most (a transaction's reply holds its commands').
const REPLY_DEPTH_MAX: usize = 16;

/// The follower side of the forwards to one peer.
pub struct ForwardLink {
    /// This node, which forwards.
    pub me: NodeId,
    /// The peer, leader of the group the forwards are for.
    pub peer: NodeId,
    /// The peer's internal address, as the directory has it now.
    pub addr: tokio::sync::watch::Receiver<String>,
    /// Deadline for connecting and for the peer to take one request.
    pub rpc_timeout: Duration,
    /// Where answers and failures go.
    pub events: mpsc::Sender<Event>,
}

impl ForwardLink {
    /// Carries `forwards` to the peer until the driver drops the queue.
    pub async fn run(mut self, mut forwards: mpsc::Receiver<ForwardedRequest>) {
        let mut backoff = BACKOFF.0;
        // Generations below this one broke and were reported: their forwards are dropped.
        let mut dead_below = 0;
        let mut carried: Option<ForwardedRequest> = None;
        loop {
            let first = match carried.take() {
                Some(first) => first,
                None => match forwards.recv().await {
                    Some(first) => first,
                    None => return,
                },
            };
            if first.link.generation < dead_below {
                continue;
            }
            let generation = first.link.generation;
            let outcome = self.stream(first, &mut forwards).await;
            let (answered, next) = match outcome {
                Ok(outcome) => outcome,
                Err(()) => return, // The driver is gone.
            };
            carried = next;
            tracing::debug!(
                peer = %self.peer,
                generation,
                me = %self.me,
                "forwarding stream ended; its requests end with an unknown outcome"
            );
            let failed = Event::ForwardFailed {
                peer: self.peer,
                generation,
            };
            if self.events.send(failed).await.is_err() {
                return;
            }
            dead_below = generation + 1;
            backoff = if answered {
                BACKOFF.0
            } else {
                (backoff * 2).min(BACKOFF.1)
            };
            tokio::time::sleep(backoff).await;
        }
    }

    /// Runs one stream of `first`'s generation until it breaks. `Ok((answered, next))`: whether
    /// the leader answered anything on it, and a forward of a later generation that arrived
    /// meanwhile (for the next stream); `Err` once the driver is gone.
    async fn stream(
        &mut self,
        first: ForwardedRequest,
        forwards: &mut mpsc::Receiver<ForwardedRequest>,
    ) -> Result<(bool, Option<ForwardedRequest>), ()> {
        let generation = first.link.generation;
        let addr = self.addr.borrow_and_update().clone();
        let Ok(mut client) = crate::transport::connect(&addr, self.rpc_timeout).await else {
            return Ok((false, None));
        };
        let (outgoing, requests) = mpsc::channel::<ForwardRequest>(16);
        if outgoing.try_send(request_to_proto(first)).is_err() {
            return Ok((false, None));
        }
        let opened = tokio::time::timeout(
            self.rpc_timeout,
            client.forward(ReceiverStream::new(requests)),
        )
        .await;
        let Ok(Ok(response)) = opened else {
            return Ok((false, None));
        };
        let mut replies = response.into_inner();
        let mut answered = false;
        loop {
            tokio::select! {
                // A new address: this stream ends like a broken one (its requests end with an
                // unknown outcome) and the next one goes there, so no request overtakes another.
                _ = self.addr.changed() => return Ok((answered, None)),
                next = forwards.recv() => {
                    let Some(next) = next else { return Err(()) };
                    if next.link.generation < generation {
                        continue;
                    }
                    if next.link.generation > generation {
                        return Ok((answered, Some(next)));
                    }
                    let sent = tokio::time::timeout(
                        self.rpc_timeout,
                        outgoing.send(request_to_proto(next)),
                    )
                    .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        return Ok((answered, None));
                    }
                }
                reply = replies.next() => {
                    let Some(Ok(reply)) = reply else { return Ok((answered, None)) };
                    answered = true;
                    let event = Event::ForwardReply {
                        client: ClientId(reply.client),
                        id: RequestId(reply.id),
                        reply: reply.reply.map_or_else(
                            || Reply::error("ERR the leader sent an empty reply"),
                            |value| reply_from_proto(value, 0),
                        ),
                    };
                    if self.events.send(event).await.is_err() {
                        return Err(());
                    }
                }
            }
        }
    }
}

/// The leader side of one follower's `Internal.Forward` stream: every request goes to the
/// driver in the order it arrived, every answer back on `replies` as it comes. Ends when the
/// follower closes its side or the driver is gone.
pub async fn serve_forwards(
    mut requests: Streaming<ForwardRequest>,
    events: mpsc::Sender<Event>,
    replies: mpsc::Sender<ReplyItem>,
) {
    while let Some(Ok(request)) = requests.next().await {
        let request = request_from_proto(request);
        let (group, client, id) = (request.group, request.client, request.id);
        let (reply, answer) = oneshot::channel();
        if events
            .send(Event::Forwarded { request, reply })
            .await
            .is_err()
        {
            return;
        }
        let replies = replies.clone();
        tokio::spawn(async move {
            let reply = answer
                .await
                .unwrap_or_else(|_| Reply::error("ERR server is shutting down"));
            let _ = replies
                .send(Ok(ForwardReply {
                    group: group.0,
                    client: client.0,
                    id: id.0,
                    reply: Some(reply_to_proto(reply)),
                }))
                .await;
        });
    }
}

/// What the leader sends back on an `Internal.Forward` stream.
pub type ReplyItem = Result<ForwardReply, Status>;

/// The reply stream of [`serve_forwards`], with its sending half.
pub fn reply_stream() -> (mpsc::Sender<ReplyItem>, ReceiverStream<ReplyItem>) {
    let (sender, receiver) = mpsc::channel(REPLY_QUEUE_MAX);
    (sender, ReceiverStream::new(receiver))
}

fn request_to_proto(request: ForwardedRequest) -> ForwardRequest {
    ForwardRequest {
        group: request.group.0,
        from: request.from.0,
        client: request.client.0,
        id: request.id.0,
        term: request.term,
        link_nonce: request.link.nonce,
        link_generation: request.link.generation,
        args: request.args.into_iter().map(|arg| arg.to_vec()).collect(),
    }
}

fn request_from_proto(request: ForwardRequest) -> ForwardedRequest {
    ForwardedRequest {
        from: NodeId(request.from),
        group: GroupId(request.group),
        client: ClientId(request.client),
        id: RequestId(request.id),
        term: request.term,
        link: Link {
            nonce: request.link_nonce,
            generation: request.link_generation,
        },
        args: request.args.into_iter().map(Bytes::from).collect(),
    }
}

/// A reply as the wire carries it.
pub fn reply_to_proto(reply: Reply) -> ReplyValue {
    let items = |items: Vec<Reply>| Items {
        items: items.into_iter().map(reply_to_proto).collect(),
    };
    let kind = match reply {
        Reply::Simple(text) => Kind::Simple(text),
        Reply::Error(text) => Kind::Error(text),
        Reply::Integer(n) => Kind::Integer(n),
        Reply::Bulk(bytes) => Kind::Bulk(bytes.to_vec()),
        Reply::Null => Kind::Null(Null {}),
        Reply::NullArray => Kind::NullArray(NullArray {}),
        Reply::Array(elements) => Kind::Array(items(elements)),
        Reply::Map(pairs) => Kind::Map(Pairs {
            items: pairs
                .into_iter()
                .flat_map(|(key, value)| [reply_to_proto(key), reply_to_proto(value)])
                .collect(),
        }),
        Reply::Set(elements) => Kind::Set(items(elements)),
        Reply::Verbatim(text) => Kind::Verbatim(text),
    };
    ReplyValue { kind: Some(kind) }
}

/// The reply a [`ReplyValue`] carries. Text that would break RESP framing (CR or LF in a
/// status or error), nesting deeper than [`REPLY_DEPTH_MAX`] and a value with no kind become
/// an error reply: a broken leader cannot make the follower send malformed RESP.
pub fn reply_from_proto(value: ReplyValue, depth: usize) -> Reply {
    let malformed = || Reply::error("ERR the leader sent a malformed reply");
    if depth > REPLY_DEPTH_MAX {
        return malformed();
    }
    let line = |text: String| (!text.contains(['\r', '\n'])).then_some(text);
    let items = |items: Vec<ReplyValue>| -> Vec<Reply> {
        items
            .into_iter()
            .map(|item| reply_from_proto(item, depth + 1))
            .collect()
    };
    match value.kind {
        None => malformed(),
        Some(Kind::Simple(text)) => line(text).map_or_else(malformed, Reply::Simple),
        Some(Kind::Error(text)) => line(text).map_or_else(malformed, Reply::Error),
        Some(Kind::Integer(n)) => Reply::Integer(n),
        Some(Kind::Bulk(bytes)) => Reply::Bulk(Bytes::from(bytes)),
        Some(Kind::Null(_)) => Reply::Null,
        Some(Kind::NullArray(_)) => Reply::NullArray,
        Some(Kind::Array(list)) => Reply::Array(items(list.items)),
        Some(Kind::Set(list)) => Reply::Set(items(list.items)),
        Some(Kind::Map(pairs)) => {
            if pairs.items.len() % 2 != 0 {
                return malformed();
            }
            let mut flat = items(pairs.items).into_iter();
            let mut map = Vec::new();
            while let (Some(key), Some(value)) = (flat.next(), flat.next()) {
                map.push((key, value));
            }
            Reply::Map(map)
        }
        Some(Kind::Verbatim(text)) => Reply::Verbatim(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reply_shape_crosses_the_wire_unchanged() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Reply::Integer(-3),
            Reply::bulk("v\r\n"),
            Reply::Null,
            Reply::NullArray,
            Reply::Map(vec![(Reply::bulk("proto"), Reply::Integer(3))]),
            Reply::Set(vec![Reply::bulk("a")]),
            Reply::Verbatim("txt:hello".to_owned()),
            Reply::Array(Vec::new()),
        ]);
        assert_eq!(reply_from_proto(reply_to_proto(reply.clone()), 0), reply);
    }

    #[test]
    fn a_malformed_reply_becomes_an_error() {
        let framing = ReplyValue {
            kind: Some(Kind::Simple("OK\r\n+PWNED".to_owned())),
        };
        assert!(reply_from_proto(framing, 0).is_error());
        assert!(reply_from_proto(ReplyValue { kind: None }, 0).is_error());
        let mut deep = reply_to_proto(Reply::Null);
        for _ in 0..REPLY_DEPTH_MAX + 2 {
            deep = ReplyValue {
                kind: Some(Kind::Array(Items { items: vec![deep] })),
            };
        }
        let mut reply = reply_from_proto(deep, 0);
        while let Reply::Array(mut inner) = reply {
            reply = inner.pop().expect("one element");
        }
        assert!(reply.is_error(), "too deep a reply decoded as {reply:?}");
    }
}
