//! One node, assembled: storage, the driver, the internal gRPC server, peer links and the
//! client listener, with a clean shutdown on SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::sync::Arc;

use seshat_core::cmd::CommandLimits;
use seshat_core::config::Config;
use seshat_core::resp::DecoderLimits;
use seshat_core::storage::Store;
use seshat_core::{Node, NodeConfig};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::channels::{Disk, Event, NodeStatus};
use crate::clock::Clock;
use crate::connection::ConnectionLimits;
use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::listener::Listener;
use crate::process::{Counters, Probe};
use crate::transport::{InternalServer, InternalService, Peers, GRPC_MESSAGE_BYTES_MAX};

/// Client requests queued for the driver at most; connections wait when it is full.
const CALL_QUEUE_MAX: usize = 16 * 1024;
/// Peer messages and completions queued for the driver at most.
const EVENT_QUEUE_MAX: usize = 16 * 1024;

/// Runs the node described by `config` until `shutdown` resolves, then stops accepting,
/// answers what is in flight, lets the last writes finish and returns.
#[cfg(feature = "rocksdb")]
/// `config_file` is the path the configuration was read from, for INFO (`config_file`).
pub async fn run(
    config: Config,
    config_file: Option<&std::path::Path>,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    use crate::store::{PersistWriter, RocksStore};
    use std::path::Path;

    let hostname = hostname();
    let rng_seed: u64 = rand::random();
    let mut node_config = NodeConfig::from_config(&config, &hostname, rng_seed);
    node_config.process = crate::process::process_info();
    node_config.process.config_file = config_file
        .and_then(|path| std::fs::canonicalize(path).ok())
        .map(|path| path.display().to_string())
        .unwrap_or_default();
    tracing::info!(
        node = config.node.id,
        client_addr = %node_config.client_addr,
        internal_addr = %node_config.internal_addr,
        rng_seed,
        "starting"
    );

    let data_dir = Path::new(&config.node.data_dir);
    std::fs::create_dir_all(data_dir).map_err(|source| Error::Io {
        action: format!("creating data_dir {}", data_dir.display()),
        source,
    })?;
    let store = RocksStore::open(data_dir)?;
    let (status, _) = watch::channel(NodeStatus::default());
    serve(
        &config,
        node_config,
        Box::new(store.clone()),
        Clock::start(),
        |events| PersistWriter::start(store, events),
        status,
        Probe::OperatingSystem,
        shutdown,
    )
    .await
}

/// Serves one node over `store` until `shutdown` resolves: the driver, the internal gRPC
/// server, the peer links and the client listener. The server and the simulator differ only
/// in what they pass here: the store, the disk writer (`make_disk` gets the channel its
/// completions go to), the clock and the process probe (the simulator's nodes share one real
/// process, so it passes [`Probe::None`]). The node's state is published to `status`.
#[allow(clippy::too_many_arguments)] // Each is one seam the simulator replaces.
pub async fn serve<D: Disk + 'static>(
    config: &Config,
    mut node_config: NodeConfig,
    store: Box<dyn Store>,
    clock: Clock,
    make_disk: impl FnOnce(mpsc::Sender<Event>) -> D,
    status: watch::Sender<NodeStatus>,
    probe: Probe,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<()> {
    // Bound first, so INFO's tcp_port is the port actually bound.
    let client_listener = TcpListener::bind(&config.node.client_addr)
        .await
        .map_err(|source| Error::Io {
            action: format!("binding client_addr {}", config.node.client_addr),
            source,
        })?;
    if let Ok(local) = client_listener.local_addr() {
        node_config.process.tcp_port = local.port();
    }
    let node = Node::new(node_config.clone(), store, clock.now())?;
    // A node that joins has no configuration until a member adds it.
    let has_configuration = node
        .status()
        .iter()
        .any(|group| !group.voters.is_empty() || !group.learners.is_empty());

    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE_MAX);
    let (calls_tx, calls_rx) = mpsc::channel(CALL_QUEUE_MAX);
    status.send_replace(NodeStatus {
        node: config.node.id,
        client_addr: node_config.client_addr.clone(),
        groups: node.status(),
        members: node.peer_addrs(),
        removed: node.is_removed(),
    });

    let internal_addr: SocketAddr = resolve(&config.node.internal_addr).await?;
    let internal = tonic::transport::Server::builder()
        .add_service(
            InternalServer::new(InternalService::new(
                events_tx.clone(),
                status.subscribe(),
                calls_tx.clone(),
            ))
            .max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX),
        )
        .serve_with_shutdown(internal_addr, wait_for(shutdown_rx.clone()));
    let internal = tokio::spawn(internal);

    let peers = Peers::start(
        node_config.id,
        node_config.internal_addr.clone(),
        config.members(),
        config.raft_rpc_timeout(),
        events_tx.clone(),
    );
    let disk = make_disk(events_tx);
    let counters = Arc::new(Counters::default());
    let driver = Driver::new(
        node,
        clock,
        calls_rx,
        events_rx,
        peers,
        disk,
        shutdown_rx.clone(),
    )
    .publish_status(status)
    .report_stats(counters.clone(), probe);
    let mut driver = tokio::spawn(driver.run());

    let limits = ConnectionLimits {
        decoder: DecoderLimits::for_value_bytes_max(config.limits.max_value_size_bytes as usize),
        command: CommandLimits {
            key_bytes_max: config.limits.max_key_size_bytes as usize,
            value_bytes_max: config.limits.max_value_size_bytes as usize,
        },
    };
    let listener = Listener::new(
        client_listener,
        calls_tx,
        limits,
        config.limits.max_concurrent_client_connections as usize,
        counters,
        shutdown_rx.clone(),
    );
    let listener = tokio::spawn(listener.run());
    tracing::info!(node = config.node.id, "serving");
    let joining = match (&config.cluster.join_addr, config.cluster.bootstrap) {
        (Some(join_addr), false) if !has_configuration => Some(tokio::spawn(join(
            join_addr.clone(),
            node_config.id.0,
            node_config.client_addr.clone(),
            node_config.internal_addr.clone(),
        ))),
        _ => None,
    };

    // Fail-stop: a node whose event loop ended on its own (a store write failed, say on a full
    // or failing disk, or a bug panicked) stops serving at once; it has acknowledged nothing
    // it could not write, and a restart on a healthy disk recovers from what is on it.
    tokio::pin!(shutdown);
    tokio::select! {
        () = &mut shutdown => {}
        ended = &mut driver => {
            // A panic's `JoinError` names its message ("task 7 panicked with message ...").
            let why = match &ended {
                Ok(_) => "it returned".to_owned(),
                Err(error) => error.to_string(),
            };
            tracing::error!(node = config.node.id, %why, "the node's event loop stopped; stopping the node");
            if let Some(joining) = &joining {
                joining.abort();
            }
            listener.abort();
            internal.abort();
            return Err(match ended {
                Err(source) => Error::Task { what: "the node's event loop", source },
                Ok(_) => Error::Stopped,
            });
        }
    }
    tracing::info!(node = config.node.id, "shutting down");
    if let Some(joining) = joining {
        joining.abort();
    }
    let _ = shutdown_tx.send(true);
    let _ = listener.await;
    // The driver answers what is in flight, then drops the writer, which finishes its queue
    // and releases the store; the node (and its store handle) is dropped here.
    drop(driver.await);
    // Peers' Raft streams never end on their own, so a graceful gRPC shutdown would wait for
    // them forever: stop the server outright once the driver is done.
    internal.abort();
    let _ = internal.await;
    Ok(())
}

/// Asks the cluster at `join_addr` to add this node, until it has (a member may be down or
/// busy with another change).
async fn join(join_addr: String, node: u64, client_addr: String, internal_addr: String) {
    let admin = crate::admin::Admin::new(join_addr.clone());
    loop {
        tracing::info!(node, %join_addr, "asking to join the cluster");
        match admin.add_node(node, &client_addr, &internal_addr).await {
            Ok(()) => {
                tracing::info!(node, "joined the cluster as a voter");
                return;
            }
            Err(error) => {
                tracing::warn!(node, %error, "joining failed; trying again");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    }
}

/// Resolves once `shutdown` turns true.
async fn wait_for(mut shutdown: watch::Receiver<bool>) {
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}

async fn resolve(addr: &str) -> Result<SocketAddr> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|source| Error::Io {
            action: format!("resolving {addr}"),
            source,
        })?
        .next()
        .ok_or_else(|| Error::Unresolved {
            addr: addr.to_owned(),
        })
}

/// The host's name, the default host of the advertised addresses.
#[cfg(feature = "rocksdb")]
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}
