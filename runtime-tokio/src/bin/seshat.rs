//! The `seshat` command: run one node, or a local three-node cluster.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use seshat_core::config::Config;

/// Seshat: a distributed, Redis-compatible key-value store on Raft.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Run one node with this configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local three-node cluster on 127.0.0.1 (clients: 6379-6381, internal: 7379-7381)
    /// as three processes, with data under ./data. Ctrl-C stops it.
    Local,
    /// Look at or change a running cluster's membership, through any member.
    Cluster {
        /// A member's internal address.
        #[arg(long, default_value = "127.0.0.1:7379")]
        addr: String,
        #[command(subcommand)]
        action: ClusterAction,
    },
}

#[derive(Subcommand)]
enum ClusterAction {
    /// Each group's leader, term, indexes and members, as the member at --addr sees them.
    Status,
    /// Add a node (already running with bootstrap = false) to every group, as a voter.
    AddNode {
        /// Its id.
        #[arg(long)]
        id: u64,
        /// Its advertised client address, host:port.
        #[arg(long)]
        client_addr: String,
        /// Its advertised internal address, host:port.
        #[arg(long)]
        internal_addr: String,
    },
    /// Remove a node from every group (moving its leaderships away first).
    RemoveNode {
        /// Its id.
        #[arg(long)]
        id: u64,
    },
    /// Hand leadership of a group to a voter.
    TransferLeader {
        /// The new leader.
        #[arg(long)]
        id: u64,
        /// The group (0: system, 1: data).
        #[arg(long, default_value_t = 1)]
        group: u64,
    },
}

/// The local cluster's configurations, embedded so `seshat local` needs no files.
const LOCAL_CONFIGS: [&str; 3] = [
    include_str!("../../../config/node1.toml"),
    include_str!("../../../config/node2.toml"),
    include_str!("../../../config/node3.toml"),
];

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match (cli.config, cli.command) {
        (Some(path), None) => run_node(&path),
        (None, Some(Command::Local)) => run_local(),
        (None, Some(Command::Cluster { addr, action })) => run_cluster(&addr, action),
        _ => Err(anyhow::anyhow!(
            "give either --config FILE or the `local` command (see --help)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seshat: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_cluster(addr: &str, action: ClusterAction) -> anyhow::Result<()> {
    use seshat_runtime_tokio::admin::Admin;
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    let admin = Admin::new(addr);
    runtime.block_on(async {
        match action {
            ClusterAction::Status => {
                let status = admin.status().await?;
                println!(
                    "node {} (clients: {}){}",
                    status.node,
                    status.client_addr,
                    if status.removed { ", removed" } else { "" }
                );
                for g in &status.groups {
                    println!(
                        "group {}: {} term {} leader {} commit {} applied {} snapshot {} \
                         voters {:?} learners {:?} outgoing {:?}",
                        g.group,
                        g.role,
                        g.term,
                        g.leader,
                        g.commit_index,
                        g.applied_index,
                        g.snapshot_index,
                        g.voters,
                        g.learners,
                        g.voters_outgoing
                    );
                }
                for member in &status.members {
                    println!("member {}: {}", member.node, member.internal_addr);
                }
                Ok(())
            }
            ClusterAction::AddNode {
                id,
                client_addr,
                internal_addr,
            } => admin.add_node(id, &client_addr, &internal_addr).await,
            ClusterAction::RemoveNode { id } => admin.remove_node(id).await,
            ClusterAction::TransferLeader { id, group } => admin.transfer_leader(group, id).await,
        }
    })?;
    Ok(())
}

fn run_node(path: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let config = Config::from_toml(&text).with_context(|| format!("in {}", path.display()))?;
    raise_open_files_limit(config.limits.max_concurrent_client_connections + FILES_RESERVED);
    let runtime = tokio::runtime::Runtime::new().context("starting tokio")?;
    runtime.block_on(seshat_runtime_tokio::server::run(
        config,
        Some(path),
        shutdown_signal(),
    ))?;
    Ok(())
}

/// Descriptors kept for RocksDB's files, peer connections and listeners on top of one per
/// client connection.
const FILES_RESERVED: u64 = 1024;

/// Raises the soft open-files limit towards `wanted` (within the hard limit), as Redis does at
/// startup: the common default of 1024 cannot hold thousands of client connections.
fn raise_open_files_limit(wanted: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit with a valid pointer to an rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 || limit.rlim_cur >= wanted {
            return;
        }
        let previous = limit.rlim_cur;
        limit.rlim_cur = wanted.min(limit.rlim_max);
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
            tracing::info!(
                from = previous,
                to = limit.rlim_cur,
                "raised the open files limit"
            );
        }
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}

fn run_local() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding the seshat binary")?;
    let dir = PathBuf::from("data");
    std::fs::create_dir_all(&dir).context("creating ./data")?;
    let mut children = Vec::new();
    for (i, text) in LOCAL_CONFIGS.iter().enumerate() {
        let path = dir.join(format!("node{}.toml", i + 1));
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        let child = std::process::Command::new(&exe)
            .arg("--config")
            .arg(&path)
            .spawn()
            .with_context(|| format!("starting node {}", i + 1))?;
        children.push(child);
    }
    println!(
        "\nSeshat: a local 3-node cluster is starting (data in ./data).\n\
         Connect with:   redis-cli -c -p 6379      (any of 6379, 6380, 6381)\n\
         Try:            SET hello world   then   GET hello\n\
         Stop with Ctrl-C.\n"
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(shutdown_signal());
    // Ctrl-C in a terminal reaches the children too; SIGTERM them in case it did not.
    for child in &children {
        // SAFETY: kill(2) with a pid this process started and has not reaped.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    }
    let mut failed = false;
    for (i, mut child) in children.into_iter().enumerate() {
        let status = child.wait()?;
        failed |= !status.success();
        println!("node {} stopped ({status})", i + 1);
    }
    anyhow::ensure!(!failed, "a node did not stop cleanly");
    Ok(())
}
