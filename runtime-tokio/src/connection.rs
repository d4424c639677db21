//! One client connection: bytes in, RESP frames decoded by the core, commands answered by the
//! core's [`Session`] or forwarded to the driver, replies written back in request order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use seshat_core::cmd::CommandLimits;
use seshat_core::resp::{encode_reply, DecoderLimits, RequestDecoder};
use seshat_core::session::{Action, Session};
use seshat_core::stats::Accounting;
use seshat_core::{ClientId, Protocol, Reply, RequestId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};

use crate::channels::Call;
use crate::process::Counters;

/// Limits applied to every connection.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Frame limits for the decoder.
    pub decoder: DecoderLimits,
    /// Key and value limits for commands.
    pub command: CommandLimits,
}

/// Spare room the read buffer keeps; it grows beyond only while a large frame arrives, and
/// never past what the decoder's limits allow.
const READ_CHUNK_BYTES: usize = 4096;

/// A reply in request order: ready now, or coming from the driver; with what INFO's
/// commandstats need to count it, and when its command was decoded.
enum Pending {
    Ready(Reply, Protocol, Counted),
    Waiting(oneshot::Receiver<Reply>, Protocol, Counted),
}

/// A command's accounting and the instant it was decoded.
type Counted = (Accounting, tokio::time::Instant);

/// A client connection being served.
pub struct Connection {
    socket: TcpStream,
    client: ClientId,
    calls: mpsc::Sender<Call>,
    limits: ConnectionLimits,
    connected: Arc<AtomicU64>,
    counters: Arc<Counters>,
    shutdown: watch::Receiver<bool>,
}

impl Connection {
    /// Wraps an accepted socket.
    pub fn new(
        socket: TcpStream,
        client: ClientId,
        calls: mpsc::Sender<Call>,
        limits: ConnectionLimits,
        connected: Arc<AtomicU64>,
        counters: Arc<Counters>,
        shutdown: watch::Receiver<bool>,
    ) -> Connection {
        Connection {
            socket,
            client,
            calls,
            limits,
            connected,
            counters,
            shutdown,
        }
    }

    /// Serves requests until the client leaves, sends QUIT or a malformed frame, or the
    /// server shuts down. Pipelined requests are decoded together and answered in order.
    pub async fn serve(mut self) -> std::io::Result<()> {
        let mut session = Session::new(self.client, self.limits.command.clone());
        let mut decoder = RequestDecoder::new(self.limits.decoder.clone());
        let mut input = BytesMut::with_capacity(4096);
        let mut output = BytesMut::with_capacity(4096);
        let mut pending = VecDeque::new();
        let mut requests = 0u64;
        loop {
            let mut close = false;
            loop {
                match decoder.decode(&mut input) {
                    Ok(Some(args)) => {
                        let connected = self.connected.load(Ordering::Relaxed);
                        let decoded_at = tokio::time::Instant::now();
                        let (action, accounting) = session.handle_counted(args, connected);
                        let counted = (accounting, decoded_at);
                        let protocol = session.protocol();
                        match action {
                            Action::Reply(reply) => {
                                pending.push_back(Pending::Ready(reply, protocol, counted))
                            }
                            Action::Close(reply) => {
                                pending.push_back(Pending::Ready(reply, protocol, counted));
                                close = true;
                                break;
                            }
                            Action::Forward(request) => {
                                requests += 1;
                                let (reply, receiver) = oneshot::channel();
                                let call = Call {
                                    client: self.client,
                                    id: RequestId(requests),
                                    request,
                                    reply,
                                };
                                if self.calls.send(call).await.is_err() {
                                    pending.push_back(Pending::Ready(
                                        Reply::error("ERR server is shutting down"),
                                        protocol,
                                        counted,
                                    ));
                                    close = true;
                                    break;
                                }
                                pending.push_back(Pending::Waiting(receiver, protocol, counted));
                            }
                        }
                    }
                    Ok(None) => break,
                    Err(error) => {
                        // After a protocol error the stream cannot be re-synchronised: answer and
                        // close, as Redis does.
                        pending.push_back(Pending::Ready(
                            Reply::error(format!("ERR {error}")),
                            session.protocol(),
                            (Accounting::default(), tokio::time::Instant::now()),
                        ));
                        close = true;
                        break;
                    }
                }
            }
            while let Some(next) = pending.pop_front() {
                let (reply, protocol, (accounting, decoded_at)) = match next {
                    Pending::Ready(reply, protocol, counted) => (reply, protocol, counted),
                    Pending::Waiting(receiver, protocol, counted) => {
                        let reply = receiver
                            .await
                            .unwrap_or_else(|_| Reply::error("ERR server is shutting down"));
                        (reply, protocol, counted)
                    }
                };
                // A pipelined command's time includes waiting behind the earlier ones' replies:
                // the time the server took to answer it, as its client sees it.
                self.counters
                    .commands
                    .record(accounting, &reply, decoded_at.elapsed());
                encode_reply(&reply, protocol, &mut output);
            }
            if !output.is_empty() {
                Counters::add(&self.counters.net_output_bytes, output.len() as u64);
                self.socket.write_all(&output).await?;
                // A no-op on a kernel socket; madsim's simulated one sends only on flush.
                self.socket.flush().await?;
                output.clear();
            }
            if close {
                let _ = self.socket.shutdown().await;
                return Ok(());
            }
            input.reserve(READ_CHUNK_BYTES);
            let read = tokio::select! {
                read = self.socket.read_buf(&mut input) => read?,
                _ = self.shutdown.changed() => return Ok(()),
            };
            if read == 0 {
                return Ok(());
            }
            Counters::add(&self.counters.net_input_bytes, read as u64);
        }
    }
}
