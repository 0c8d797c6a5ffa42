//! guildd: holds a community's Automerge documents in redb and serves them on a loopback
//! HTTP API. `main.rs` is a thin wrapper around [`Daemon`].
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod api;
mod dashboard;
pub mod data_dir;
pub mod metrics;
pub mod net;
pub mod repo;
pub mod store;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::{Context, Result};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use api::state::{META_COMMUNITY, META_ME};
use api::{AppState, Identity, Shared};
use net::Network;
use net::swarm::NetConfig;
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
}

impl Config {
    /// Where guildd listens for peers unless told otherwise: every interface, TCP and QUIC
    /// on port 4717.
    pub fn default_listen() -> Vec<libp2p::Multiaddr> {
        ["/ip4/0.0.0.0/tcp/4717", "/ip4/0.0.0.0/udp/4717/quic-v1"]
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect()
    }
}

/// A running daemon.
pub struct Daemon {
    pub api_addr: SocketAddr,
    repo: Arc<Repo>,
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
        let identity = Identity {
            community: meta_string(&store, META_COMMUNITY)?,
            me: meta_string(&store, META_ME)?,
        };
        let membership = net::stored_membership(&store, identity.community.as_deref())?;
        let repo = Arc::new(Repo::open(store)?);
        // Documents load in the background (and on first use), so a large store starts at
        // once; one that does not load stops the daemon (see `fatal`).
        repo.load_all();
        let network = Network::start(
            repo.clone(),
            NetConfig {
                keypair: net::identity::load_or_create(dir)?,
                listen: config.listen.clone(),
                mdns: config.mdns,
            },
            membership,
        )?;

        let listener = tokio::net::TcpListener::bind(config.api_addr)
            .await
            .with_context(|| format!("cannot listen on {}", config.api_addr))?;
        let api_addr = listener.local_addr()?;
        let state = AppState(Arc::new(Shared {
            repo: repo.clone(),
            network,
            identity: RwLock::new(identity),
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

    /// Stops serving and waits for in-flight requests to finish.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown.send_replace(true);
        self.server.await??;
        Ok(())
    }
}

/// What guildd serves on its API address: the JSON API (token) and the dashboard (session
/// cookie from `guild open`), both for loopback only.
fn http_app(state: AppState, stop: watch::Receiver<bool>) -> axum::Router {
    api::router(state.clone()).merge(dashboard::router(state, stop))
}

fn meta_string(store: &Store, key: &str) -> Result<Option<String>> {
    store
        .meta(key)?
        .map(|bytes| String::from_utf8(bytes).with_context(|| format!("stored {key} is not text")))
        .transpose()
}
