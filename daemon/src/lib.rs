//! guildd: holds a community's Automerge documents in redb and serves them on a loopback
//! HTTP API. `main.rs` is a thin wrapper around [`Daemon`].
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
pub mod clock;
mod dashboard;
pub mod data_dir;
pub mod metrics;
pub mod net;
pub mod node;
pub mod repo;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use api::{AppState, Shared};
use net::swarm::NetConfig;
use node::Node;
use repo::Repo;
use store::Store;

#[derive(Clone, Debug)]
pub struct Config {
    pub data_dir: PathBuf,
    /// Must be a loopback address; port 0 picks a free port.
    pub api_addr: SocketAddr,
    /// libp2p listen addresses (port 0 picks a free port).
    pub listen: Vec<libp2p::Multiaddr>,
    /// Discover peers on the local network by mDNS.
    pub mdns: bool,
    /// Serve as a hub (relay, rendezvous point, AutoNAT server) for the community's members.
    pub hub: bool,
}

impl Config {
    /// Where guildd listens for peers unless told otherwise: every interface, TCP and QUIC
    /// on port 4717.
    pub fn default_listen() -> Vec<libp2p::Multiaddr> {
        let quic = cfg!(feature = "quic").then_some("/ip4/0.0.0.0/udp/4717/quic-v1");
        std::iter::once("/ip4/0.0.0.0/tcp/4717")
            .chain(quic)
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// A running daemon.
pub struct Daemon {
    pub api_addr: SocketAddr,
    repo: Arc<Repo>,
    node: Arc<Node>,
    app: axum::Router,
    /// Set to true to stop: ends the server and every dashboard event stream.
    shutdown: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
}

impl Daemon {
    /// Opens the store, binds the API and starts serving.
    pub async fn bind(config: Config) -> Result<Self> {
        if !config.api_addr.ip().is_loopback() {
            anyhow::bail!(
                "the API only listens on loopback; {} is not a loopback address",
                config.api_addr
            );
        }
        let dir = &config.data_dir;
        data_dir::prepare(dir)?;
        let token = data_dir::token(dir)?;
        let store = Store::open(&dir.join(data_dir::STORE_FILE))?;
        let repo = Arc::new(Repo::open(store)?);
        // Documents load in the background (and on first use), so a large store starts at
        // once; one that does not load stops the daemon (see `fatal`).
        repo.load_all();
        let node = Node::start(
            repo.clone(),
            NetConfig {
                keypair: net::identity::load_or_create(dir)?,
                listen: config.listen.clone(),
                mdns: config.mdns,
                hub: config.hub,
            },
        )?;

        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.api_addr))?;
        let api_addr = listener.local_addr()?;
        let state = AppState(Arc::new(Shared {
            repo: repo.clone(),
            node: node.clone(),
            token,
            data_dir: dir.clone(),
            api_addr,
        }));
        let (shutdown, mut stopped) = watch::channel(false);
        let app = http_app(state, shutdown.subscribe());
        let server = tokio::spawn(
            axum::serve(listener, app.clone())
                .with_graceful_shutdown(async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                })
                .into_future(),
        );
        data_dir::write_addr(dir, api_addr)?;
        tracing::info!(
            "guildd listening on http://{api_addr} (data: {})",
            dir.display()
        );
        Ok(Self {
            api_addr,
            repo,
            node,
            app,
            shutdown,
            server,
        })
    }

    /// Resolves with why the daemon cannot go on: a stored document that does not load.
    pub async fn fatal(&self) -> String {
        self.repo.fatal().await
    }

    /// Everything served on the API address, for in-process tests
    /// (`tower::ServiceExt::oneshot`).
    pub fn app(&self) -> axum::Router {
        self.app.clone()
    }

    /// Stops serving (waiting for in-flight requests), stops the sync engine, its dialers
    /// and the swarm, then commits what is pending and closes the store, so that the next
    /// start, in this process or another, opens it cleanly.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown.send_replace(true);
        let served = self.server.await;
        self.node.shutdown().await;
        let repo = self.repo.clone();
        tokio::task::spawn_blocking(move || repo.store().close()).await?;
        served??;
        Ok(())
    }
}

/// What guildd serves on its API address: the JSON API (token) and the dashboard (session
/// cookie from `guild open`), both for loopback only.
fn http_app(state: AppState, stop: watch::Receiver<bool>) -> axum::Router {
    api::router(state.clone()).merge(dashboard::router(state, stop))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    /// Issue 12 and issue 16 (item 7): shutdown only stopped the HTTP server, so a daemon could
    /// not start again in the same process, and a clean SIGTERM left redb "not closed
    /// cleanly". Shutdown now stops the engine and the swarm and closes the store.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_daemon_restarts_in_one_process_and_closes_its_store_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            api_addr: "127.0.0.1:0".parse().unwrap(),
            listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
            mdns: false,
            hub: false,
        };
        for _ in 0..3 {
            let daemon = Daemon::bind(config.clone()).await.unwrap();
            daemon.shutdown().await.unwrap();
        }
        let repaired = Arc::new(AtomicBool::new(false));
        let flag = repaired.clone();
        let mut builder = redb::Database::builder();
        builder.set_repair_callback(move |_| flag.store(true, Ordering::SeqCst));
        drop(builder.open(dir.path().join(data_dir::STORE_FILE)).unwrap());
        assert!(
            !repaired.load(Ordering::SeqCst),
            "the store was not closed cleanly"
        );
    }
}
