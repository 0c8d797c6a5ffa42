//! guild: the command-line companion to guildd. Every command is one call to the daemon's
//! local HTTP API, then printing. Exit codes: 0 ok, 1 the daemon refused (bad input, not
//! found, conflict) or the command failed, 2 usage error, 3 the daemon is not reachable.
//! With `--json`, errors too are JSON: `{"error": {"code", "message", ...}}` on stderr.

mod changes;
mod client;
mod community;
mod doctor;
mod guests;
mod knowledge;
mod members;
mod network;
mod open;
mod output;
mod plural;
mod relationships;
mod sessions;
mod skills;
mod transfer;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use crdt_model::api::{InitRequest, InitResponse, Status};
use crdt_model::member::Profile;

use client::{Client, Failure};
use output::say;

#[derive(Parser)]
#[command(
    name = "guild",
    version,
    about = "Guild: your community of practice, local-first"
)]
struct Cli {
    /// Data directory of the daemon to talk to [default: $GUILD_DATA_DIR, else the XDG data dir]
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Print JSON instead of text, errors included (on stderr).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a community with you as its first member.
    Init {
        /// The community's name.
        #[arg(long)]
        community: String,
        /// Your name.
        #[arg(long)]
        name: String,
        /// Your role (any role: product, service, research, engineering, ...).
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        team: Option<String>,
        /// What the community is for.
        #[arg(long, default_value = "")]
        purpose: String,
    },
    /// The daemon, the community and every document's heads.
    Status,
    /// The member directory.
    #[command(subcommand)]
    Members(members::MembersCmd),
    /// The skills audit: a map for growing together, never a performance check.
    #[command(subcommand)]
    Skills(skills::SkillsCmd),
    /// Meetups, away days, unconferences...: RSVPs, attendance, write-ups, agendas.
    Sessions(sessions::SessionsArgs),
    /// Rolling leadership: the council rota.
    Council {
        #[command(subcommand)]
        command: Option<community::CouncilCmd>,
    },
    /// Resources, guidelines and rituals.
    #[command(subcommand)]
    Knowledge(knowledge::KnowledgeCmd),
    /// People from outside the community: guest speakers, suppliers, other departments.
    #[command(subcommand)]
    Guests(guests::GuestsCmd),
    /// Ask the community a question.
    Ask {
        /// The question.
        title: String,
        /// More detail.
        #[arg(long, default_value = "")]
        body: String,
    },
    /// Answer a question.
    Answer {
        /// The question: id, id prefix or title prefix.
        question: String,
        /// The answer.
        body: String,
        /// Record a guest's answer (from guild guests) instead of your own.
        #[arg(long)]
        guest: Option<String>,
    },
    /// Questions and their answers.
    Questions {
        #[command(subcommand)]
        command: Option<knowledge::QuestionsCmd>,
    },
    /// Is the community thriving or waning? Who is active, who drifted, who never came.
    Health {
        /// The last skills audit, YYYY-MM-DD: show how skills moved since the end of that
        /// day [default: six months ago].
        #[arg(long)]
        since: Option<String>,
    },
    /// The change log: removals, cancellations and role changes, who made them and when.
    Log,
    /// Your private map of stakeholders and influencers (only on your own devices).
    #[command(subcommand)]
    Relationships(relationships::RelationshipsCmd),
    /// Print a ticket that lets new members join this community (or list and revoke them).
    #[command(args_conflicts_with_subcommands = true)]
    Invite {
        #[command(subcommand)]
        command: Option<network::InviteCmd>,
        #[command(flatten)]
        new: network::NewInvite,
    },
    /// Join a community with a ticket from `guild invite` (on a daemon with no community yet).
    Join {
        ticket: String,
        /// Your name.
        #[arg(long)]
        name: String,
        #[arg(long)]
        role: Option<String>,
        #[arg(long)]
        team: Option<String>,
    },
    /// Your own laptops: link another one so it syncs your private data too.
    Devices {
        #[command(subcommand)]
        command: Option<network::DevicesCmd>,
    },
    /// Peers: connected daemons and addresses to keep dialling.
    Peers {
        #[command(subcommand)]
        command: Option<network::PeersCmd>,
    },
    /// Hubs: always-on member daemons that relay and introduce members behind NATs.
    Hubs {
        #[command(subcommand)]
        command: Option<network::HubsCmd>,
    },
    /// Open the dashboard in your browser (a one-time login link).
    Open {
        /// Print the link instead of starting a browser.
        #[arg(long)]
        print: bool,
    },
    /// Back up every shared document as readable JSON, or each as Automerge bytes.
    Export(transfer::ExportArgs),
    /// Import members, or a skills matrix, from a spreadsheet (CSV).
    Import(transfer::ImportArgs),
    /// Check the daemon, the data directory, the store, the clock and the network, and say
    /// what to do about each problem.
    Doctor,
    /// Print shell completions (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page, or write every page (guild, guild-members, ...) into a directory.
    Man {
        /// Directory to write guild.1 and one page per subcommand into.
        #[arg(long, short = 'o', value_name = "DIR")]
        out: Option<PathBuf>,
    },
}

fn main() {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // Usage errors in JSON too, when the command line asked for JSON.
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                let message = e.to_string();
                let first = message.lines().next().unwrap_or_default();
                output::json_error("usage", first.trim_start_matches("error: "), None, None);
                std::process::exit(2);
            }
            e.exit()
        }
    };
    let json = cli.json;
    if let Err(e) = run(cli) {
        if is_broken_pipe(&e) {
            // `guild ... | head`: the reader has what it wanted.
            std::process::exit(0);
        }
        let failure = e.downcast_ref::<Failure>();
        let exit = match failure {
            Some(Failure::Unreachable { .. }) => 3,
            _ => 1,
        };
        if json {
            // serde_json escapes control characters in strings itself.
            match failure {
                Some(Failure::Refused {
                    status,
                    code,
                    details,
                    ..
                }) => output::json_error(code, &one_line(&e), Some(*status), details.as_ref()),
                Some(Failure::Unreachable { code, .. }) => {
                    output::json_error(code, &one_line(&e), None, None);
                }
                None => output::json_error("failed", &one_line(&e), None, None),
            }
        } else {
            // The message may quote text from other members: escape it like any output.
            eprintln!(
                "guild: {}",
                crdt_model::text::printable(&one_line(&e), false)
            );
        }
        std::process::exit(exit);
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn one_line(e: &anyhow::Error) -> String {
    e.chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ")
        .replace('\n', " ")
}

fn run(cli: Cli) -> Result<()> {
    let data_dir = client::resolve_data_dir(cli.data_dir)?;
    // Commands that need no daemon.
    match &cli.command {
        Cmd::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "guild", &mut std::io::stdout());
            return Ok(());
        }
        Cmd::Man { out } => return man(out.as_deref()),
        Cmd::Doctor => return doctor::run(&data_dir, cli.json),
        _ => {}
    }
    let client = Client::connect(&data_dir)?;
    match cli.command {
        Cmd::Completions { .. } | Cmd::Man { .. } | Cmd::Doctor => Ok(()),
        Cmd::Export(args) => transfer::export(&client, args, cli.json),
        Cmd::Import(args) => transfer::import(&client, args, cli.json),
        Cmd::Init {
            community,
            name,
            role,
            team,
            purpose,
        } => {
            let req = InitRequest {
                community,
                purpose,
                me: Profile {
                    name: Some(name),
                    role,
                    team,
                    ..Profile::default()
                },
            };
            let created: InitResponse = client.post("/api/init", &req)?;
            if cli.json {
                return output::json(&created);
            }
            say!(
                "Created community {} ({}); you are member {}",
                req.community,
                created.community_id,
                created.member_id
            );
            Ok(())
        }
        Cmd::Status => {
            let status: Status = client.get("/api/status")?;
            if cli.json {
                return output::json(&status);
            }
            print_status(&status);
            Ok(())
        }
        Cmd::Sessions(cmd) => sessions::run(&client, cmd, cli.json),
        Cmd::Council { command } => community::council(&client, command, cli.json),
        Cmd::Knowledge(cmd) => knowledge::knowledge(&client, cmd, cli.json),
        Cmd::Ask { title, body } => knowledge::ask(&client, title, body, cli.json),
        Cmd::Answer {
            question,
            body,
            guest,
        } => knowledge::answer(&client, question, body, guest, cli.json),
        Cmd::Guests(cmd) => guests::run(&client, cmd, cli.json),
        Cmd::Questions { command } => knowledge::questions(&client, command, cli.json),
        Cmd::Health { since } => community::health(&client, since, cli.json),
        Cmd::Log => changes::log(&client, cli.json),
        Cmd::Relationships(cmd) => relationships::run(&client, cmd, cli.json),
        Cmd::Invite { command, new } => network::invite(&client, command, new, cli.json),
        Cmd::Join {
            ticket,
            name,
            role,
            team,
        } => {
            let me = Profile {
                name: Some(name),
                role,
                team,
                ..Profile::default()
            };
            network::join(&client, ticket, me, cli.json)
        }
        Cmd::Peers { command } => network::peers(&client, command, cli.json),
        Cmd::Hubs { command } => network::hubs(&client, command, cli.json),
        Cmd::Devices { command } => network::devices(&client, command, cli.json),
        Cmd::Members(cmd) => members::run(&client, cmd, cli.json),
        Cmd::Skills(cmd) => skills::run(&client, cmd, cli.json),
        Cmd::Open { print } => open::run(&client, print, cli.json),
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

fn print_status(status: &Status) {
    say!("guildd {} at http://{}", status.version, status.api_addr);
    say!("data        {}", status.data_dir);
    match &status.community {
        Some(c) => say!(
            "community   {} ({}), {}",
            c.name,
            c.id,
            plural::count(c.members, "member", "members")
        ),
        None => say!("community   none yet: run `guild init --community NAME --name YOU`"),
    }
    if let Some(me) = &status.me {
        say!("you         {} ({})", me.name, me.id);
    }
    say!("documents   {}", status.documents.len());
    say!("peer id     {}", status.peer_id);
    for addr in &status.listen_addrs {
        say!("listening   {addr}");
    }
    if !status.peers.is_empty() {
        say!();
        network::print_peers(&status.peers);
    }
}
