//! The client edge: accept Redis connections and serve each on its own task (mini-redis's
//! `Listener` and `Handler`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seshat_core::ClientId;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::channels::Call;
use crate::connection::{Connection, ConnectionLimits};
use crate::process::Counters;

/// Accepts client connections until shutdown.
pub struct Listener {
    listener: TcpListener,
    calls: mpsc::Sender<Call>,
    limits: ConnectionLimits,
    /// One permit per connection: `max_concurrent_client_connections`.
    permits: Arc<Semaphore>,
    connected: Arc<AtomicU64>,
    /// What INFO counts, shared with every connection and the driver.
    counters: Arc<Counters>,
    shutdown: watch::Receiver<bool>,
}

/// What a client over the connection limit is told before the server closes its connection.
const TOO_MANY_CLIENTS: &[u8] = b"-ERR max number of clients reached\r\n";

impl Listener {
    /// A listener on a bound socket.
    pub fn new(
        listener: TcpListener,
        calls: mpsc::Sender<Call>,
        limits: ConnectionLimits,
        connections_max: usize,
        counters: Arc<Counters>,
        shutdown: watch::Receiver<bool>,
    ) -> Listener {
        Listener {
            listener,
            calls,
            limits,
            permits: Arc::new(Semaphore::new(connections_max)),
            connected: Arc::new(AtomicU64::new(0)),
            counters,
            shutdown,
        }
    }

    /// Connections open now.
    pub fn connected(&self) -> Arc<AtomicU64> {
        self.connected.clone()
    }

    /// Accepts until shutdown. A failed accept (out of file descriptors, say) is retried with
    /// a growing pause instead of ending the server.
    pub async fn run(mut self) {
        let mut next_client = 0u64;
        let mut backoff = Duration::from_millis(1);
        loop {
            let accepted = tokio::select! {
                _ = self.shutdown.changed() => return,
                accepted = self.listener.accept() => accepted,
            };
            let (mut socket, peer) = match accepted {
                Ok(accepted) => {
                    backoff = Duration::from_millis(1);
                    accepted
                }
                Err(error) => {
                    tracing::warn!(%error, "accept failed; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            Counters::add(&self.counters.connections_received, 1);
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                Counters::add(&self.counters.connections_rejected, 1);
                tokio::spawn(async move {
                    let _ = socket.write_all(TOO_MANY_CLIENTS).await;
                    let _ = socket.flush().await;
                });
                continue;
            };
            let _ = socket.set_nodelay(true);
            next_client += 1;
            let client = ClientId(next_client);
            let connection = Connection::new(
                socket,
                client,
                self.calls.clone(),
                self.limits.clone(),
                self.connected.clone(),
                self.counters.clone(),
                self.shutdown.clone(),
            );
            self.connected.fetch_add(1, Ordering::Relaxed);
            let connected = self.connected.clone();
            tokio::spawn(async move {
                if let Err(error) = connection.serve().await {
                    tracing::debug!(%peer, %error, "client connection ended with an error");
                }
                connected.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
            });
        }
    }
}
