//! guildd: parse arguments, bind the daemon, wait for a signal, shut down.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use guild_daemon::{Config, Daemon, data_dir};

#[derive(Parser)]
#[command(
    name = "guildd",
    version,
    about = "The Guild daemon: your community's data, local-first"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run in the foreground (the default).
    Run(RunArgs),
    /// Start in the background and return once the API is listening.
    Start(RunArgs),
}

#[derive(Args, Clone)]
struct RunArgs {
    /// Data directory [default: $GUILD_DATA_DIR, else the XDG data dir]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Loopback address for the HTTP API; port 0 picks a free one.
    #[arg(long, global = true, default_value = "127.0.0.1:0")]
    api_addr: SocketAddr,
    /// libp2p address to listen on for peers; repeatable; port 0 picks a free one
    /// [default: /ip4/0.0.0.0/tcp/4717 and /ip4/0.0.0.0/udp/4717/quic-v1]
    #[arg(long = "listen", global = true, value_name = "MULTIADDR")]
    listen: Vec<libp2p::Multiaddr>,
    /// Do not discover peers on the local network (mDNS).
    #[arg(long, global = true)]
    no_mdns: bool,
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Cmd::Start(args)) => start(&args),
        Some(Cmd::Run(args)) => run(args),
        None => run(cli.run),
    };
    if let Err(e) = result {
        eprintln!("guildd: {}", one_line(&e));
        std::process::exit(1);
    }
}

fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
}

fn run(args: RunArgs) -> Result<()> {
    let wanted = std::env::var("GUILD_LOG").unwrap_or_else(|_| "info".into());
    let mut filter = tracing_subscriber::EnvFilter::try_new(&wanted)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !wanted.contains("automerge") {
        // Automerge's instrumented functions are info-level spans that Debug-format their
        // arguments, the document's whole change graph among them: with them enabled, one
        // incoming change on a long history took 80 ms instead of 2 ms.
        filter = filter.add_directive("automerge=warn".parse()?);
    }
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        // By default a failed log write is reported with `eprintln!`, which panics when
        // stderr fails too: a full disk under the log file would crash request handlers.
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .init();
    let config = Config {
        data_dir: data_dir::resolve(args.data_dir)?,
        api_addr: args.api_addr,
        listen: if args.listen.is_empty() {
            Config::default_listen()
        } else {
            args.listen
        },
        mdns: !args.no_mdns,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let daemon = Daemon::bind(config).await?;
            let fatal = tokio::select! {
                signal = wait_for_signal() => {
                    signal?;
                    None
                }
                why = daemon.fatal() => Some(why),
            };
            tracing::info!("shutting down");
            daemon.shutdown().await?;
            match fatal {
                Some(why) => Err(anyhow::anyhow!(why)),
                None => Ok(()),
            }
        })
}

async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

/// Re-runs this binary as `guildd run` in its own process group, logging to the data
/// directory, and waits until its API is up.
fn start(args: &RunArgs) -> Result<()> {
    let dir = data_dir::resolve(args.data_dir.clone())?;
    data_dir::prepare(&dir)?;
    if let Some(addr) = running_at(&dir) {
        println!(
            "guildd is already running at http://{addr} (data: {})",
            dir.display()
        );
        return Ok(());
    }
    let _ = std::fs::remove_file(dir.join(data_dir::ADDR_FILE));
    let log_path = dir.join(data_dir::LOG_FILE);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let mut child = {
        use std::os::unix::process::CommandExt;
        Command::new(std::env::current_exe()?)
            .arg("run")
            .arg("--data-dir")
            .arg(&dir)
            .arg("--api-addr")
            .arg(args.api_addr.to_string())
            .args(
                args.listen
                    .iter()
                    .flat_map(|a| ["--listen".to_string(), a.to_string()]),
            )
            .args(args.no_mdns.then_some("--no-mdns"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("cannot start guildd")?
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait()? {
            bail!(
                "guildd exited at start ({status}): {}",
                last_line(&log_path).unwrap_or_default()
            );
        }
        if let Some(addr) = running_at(&dir) {
            println!(
                "guildd started (pid {}) at http://{addr}; data in {}, log in {}",
                child.id(),
                dir.display(),
                log_path.display()
            );
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!(
        "guildd did not start within 30 s; see {}",
        log_path.display()
    )
}

/// The address of a daemon that is running on `dir`, if one accepts connections.
fn running_at(dir: &Path) -> Option<SocketAddr> {
    let addr: SocketAddr = std::fs::read_to_string(dir.join(data_dir::ADDR_FILE))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500))
        .ok()
        .map(|_| addr)
}

fn last_line(path: &Path) -> Option<String> {
    let log = std::fs::read_to_string(path).ok()?;
    log.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(str::to_owned)
}
