//! guildd: parse arguments, bind the daemon, wait for a signal, shut down.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod service;

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Args, CommandFactory, Parser, Subcommand};
use guild_daemon::{Config, Daemon, data_dir};

#[derive(Parser)]
#[command(
    name = "guildd",
    version,
    about = "The Guild daemon: your community's data, local-first",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    run: RunCmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run in the foreground (the default).
    Run(RunCmd),
    /// Start in the background and return once the API is listening.
    Start(RunCmd),
    /// Stop the daemon running on a data directory, cleanly.
    Stop(DirArgs),
    /// Run guildd as your own service: starts at login, restarts if it fails.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write every page (guildd, guildd-run, ...) into a directory.
    Man {
        /// Directory to write guildd.1 and one page per subcommand into.
        #[arg(long, short = 'o', value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// Write the service file (systemd user unit or launchd agent), enable and start it.
    Install {
        #[command(flatten)]
        run: RunArgs,
        /// Only write the file; do not ask systemd or launchd to enable or start it.
        #[arg(long, env = "GUILD_SERVICE_NO_ENABLE", value_parser = clap::builder::BoolishValueParser::new())]
        no_enable: bool,
    },
    /// Stop and disable the service and remove its file.
    Uninstall {
        /// Only remove the file; do not ask systemd or launchd to stop or disable it.
        #[arg(long, env = "GUILD_SERVICE_NO_ENABLE", value_parser = clap::builder::BoolishValueParser::new())]
        no_disable: bool,
    },
    /// Whether the service is installed, enabled and running.
    Status {
        /// Do not ask systemd or launchd, only read the file.
        #[arg(long, env = "GUILD_SERVICE_NO_ENABLE", value_parser = clap::builder::BoolishValueParser::new())]
        no_ask: bool,
    },
}

#[derive(Args, Clone)]
struct RunCmd {
    #[command(flatten)]
    args: RunArgs,
    /// Start over with an empty store and a new identity in a data directory whose store is
    /// missing (the old identity.key is kept as identity.key.old).
    #[arg(long)]
    fresh: bool,
}

#[derive(Args, Clone)]
struct RunArgs {
    #[command(flatten)]
    dir: DirArgs,
    /// Loopback address for the HTTP API; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    api_addr: SocketAddr,
    /// libp2p address to listen on for peers; repeatable; port 0 picks a free one
    /// [default: /ip4/0.0.0.0/tcp/4717 and /ip4/0.0.0.0/udp/4717/quic-v1]
    #[arg(long = "listen", value_name = "MULTIADDR")]
    listen: Vec<libp2p::Multiaddr>,
    /// Do not discover peers on the local network (mDNS).
    #[arg(long)]
    no_mdns: bool,
    /// Serve as the community's hub: relay, rendezvous point and AutoNAT server for members
    /// behind NATs (run it where members can reach it: a public address)
    #[arg(long)]
    hub: bool,
}

#[derive(Args, Clone)]
struct DirArgs {
    /// Data directory [default: $GUILD_DATA_DIR, else the XDG data dir]
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl RunArgs {
    /// The options other than the data directory, as they are typed.
    fn options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.api_addr.port() != 0 || self.api_addr.ip() != std::net::Ipv4Addr::LOCALHOST {
            out.extend(["--api-addr".to_owned(), self.api_addr.to_string()]);
        }
        for addr in &self.listen {
            out.extend(["--listen".to_owned(), addr.to_string()]);
        }
        if self.no_mdns {
            out.push("--no-mdns".to_owned());
        }
        if self.hub {
            out.push("--hub".to_owned());
        }
        out
    }
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Cmd::Start(cmd)) => start(&cmd),
        Some(Cmd::Run(cmd)) => run(cmd),
        Some(Cmd::Stop(dir)) => stop(&dir),
        Some(Cmd::Service(cmd)) => service(cmd),
        Some(Cmd::Completions { shell }) => {
            clap_complete::generate(shell, &mut Cli::command(), "guildd", &mut std::io::stdout());
            Ok(())
        }
        Some(Cmd::Man { out }) => man(out.as_deref()),
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

fn run(cmd: RunCmd) -> Result<()> {
    let args = cmd.args;
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
        // Colour only for a person at a terminal: never in guildd.log or the journal, and
        // never when NO_COLOR is set (https://no-color.org).
        .with_ansi(std::io::stderr().is_terminal() && !no_color())
        // By default a failed log write is reported with `eprintln!`, which panics when
        // stderr fails too: a full disk under the log file would crash request handlers.
        .log_internal_errors(false)
        .with_writer(std::io::stderr)
        .init();
    let dir = data_dir::resolve(args.dir.data_dir)?;
    data_dir::check_store(&dir, cmd.fresh)?;
    guild_daemon::api::doctor::record_mdns(!args.no_mdns);
    let config = Config {
        data_dir: dir.clone(),
        api_addr: args.api_addr,
        listen: if args.listen.is_empty() {
            Config::default_listen()
        } else {
            args.listen
        },
        mdns: !args.no_mdns,
        hub: args.hub,
    };
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let daemon = Daemon::bind(config).await?;
            // The API address is written by `bind`; the pid lets `guildd stop` find us. A
            // daemon that cannot write it (a full disk) still serves reads.
            if let Err(e) = data_dir::write_pid(&dir, std::process::id()) {
                tracing::warn!("{e:#}: `guildd stop` will not find this daemon");
            }
            let fatal = tokio::select! {
                signal = wait_for_signal() => {
                    signal?;
                    None
                }
                why = daemon.fatal() => Some(why),
            };
            tracing::info!("shutting down");
            let stopped = daemon.shutdown().await;
            // Nobody answers there any more: the CLI must not try.
            data_dir::remove_run_files(&dir);
            stopped?;
            tracing::info!("stopped");
            match fatal {
                Some(why) => Err(anyhow::anyhow!(why)),
                None => Ok(()),
            }
        })
}

/// `NO_COLOR` set to anything but the empty string.
fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
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
fn start(cmd: &RunCmd) -> Result<()> {
    let args = &cmd.args;
    let dir = data_dir::resolve(args.dir.data_dir.clone())?;
    data_dir::prepare(&dir)?;
    if let Some(addr) = running_at(&dir) {
        println!(
            "guildd is already running at http://{addr} (data: {})",
            dir.display()
        );
        return Ok(());
    }
    // Here rather than in the child, so a refusal is printed rather than left in the log.
    data_dir::check_store(&dir, cmd.fresh)?;
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
            .args(args.options())
            // Checked above; the child must accept what the user accepted (a new identity).
            .args(cmd.fresh.then_some("--fresh"))
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

/// How long `guildd stop` waits for the daemon to finish its requests and exit.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends SIGTERM to the daemon recorded in the data directory and waits until it is gone.
fn stop(dir: &DirArgs) -> Result<()> {
    let dir = data_dir::resolve(dir.data_dir.clone())?;
    let Some(pid) = data_dir::running_pid(&dir) else {
        if let Some(addr) = running_at(&dir) {
            bail!(
                "a guildd answers at http://{addr} for {} but recorded no pid (an older guildd?); stop it with Ctrl-C or kill",
                dir.display()
            );
        }
        data_dir::remove_run_files(&dir);
        println!("guildd is not running (data: {})", dir.display());
        return Ok(());
    };
    let target = rustix::process::Pid::from_raw(pid).context("the recorded pid is not valid")?;
    rustix::process::kill_process(target, rustix::process::Signal::TERM)
        .with_context(|| format!("cannot signal guildd (pid {pid})"))?;
    let deadline = Instant::now() + STOP_TIMEOUT;
    while data_dir::is_guildd(pid) {
        if Instant::now() >= deadline {
            bail!(
                "guildd (pid {pid}) did not stop within {} s; `kill -9 {pid}` forces it (acknowledged writes are safe)",
                STOP_TIMEOUT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // A daemon that exits cleanly removes these itself; one that did not may have left them.
    data_dir::remove_run_files(&dir);
    println!("guildd stopped (pid {pid}, data: {})", dir.display());
    Ok(())
}

fn service(cmd: ServiceCmd) -> Result<()> {
    match cmd {
        ServiceCmd::Install { run, no_enable } => {
            let dir = std::path::absolute(data_dir::resolve(run.dir.data_dir.clone())?)?;
            data_dir::prepare(&dir)?;
            let binary = std::env::current_exe().context("cannot find the guildd binary")?;
            let unit = service::Service {
                binary,
                args: service::run_args(&dir, &run.options()),
                log: Some(dir.join(data_dir::LOG_FILE)),
            };
            if !no_enable && running_at(&dir).is_some() {
                // The service manager takes over the data directory.
                stop(&run.dir)?;
            }
            let path = service::install(&unit, !no_enable)?;
            if no_enable {
                println!("wrote {} (not enabled)", path.display());
            } else {
                println!(
                    "installed and started {}: guildd now starts at login",
                    path.display()
                );
            }
            Ok(())
        }
        ServiceCmd::Uninstall { no_disable } => {
            match service::uninstall(!no_disable)? {
                Some(path) => println!("removed {}", path.display()),
                None => println!("the service is not installed"),
            }
            Ok(())
        }
        ServiceCmd::Status { no_ask } => {
            for line in service::status(!no_ask)? {
                println!("{line}");
            }
            Ok(())
        }
    }
}

fn man(out: Option<&Path>) -> Result<()> {
    let command = Cli::command();
    match out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command, dir)
                .with_context(|| format!("cannot write man pages into {}", dir.display()))
        }
        None => Ok(clap_mangen::Man::new(command).render(&mut std::io::stdout())?),
    }
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
