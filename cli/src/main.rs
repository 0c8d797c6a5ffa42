//! guild: the command-line companion to guildd. Every command is one call to the daemon's
//! local HTTP API, then printing. Exit codes: 0 ok, 1 the daemon refused (bad input, not
//! found, conflict), 2 usage error, 3 the daemon is not reachable.

mod client;
mod community;
mod members;
mod network;
mod output;
mod relationships;
mod sessions;
mod skills;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};
use crdt_model::api::{InitRequest, InitResponse, Status};
use crdt_model::member::Profile;

use client::{Client, Failure};

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
    /// Print JSON instead of tables (read commands).
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
    #[command(subcommand)]
    Sessions(sessions::SessionsCmd),
    /// Rolling leadership: the council rota.
    Council {
        #[command(subcommand)]
        command: Option<community::CouncilCmd>,
    },
    /// Resources, guidelines and rituals.
    #[command(subcommand)]
    Knowledge(community::KnowledgeCmd),
    /// Ask the community a question.
    Ask {
        title: String,
        #[arg(long, default_value = "")]
        body: String,
    },
    /// Answer a question (id, id prefix or title prefix).
    Answer { question: String, body: String },
    /// Questions and their answers.
    Questions {
        #[command(subcommand)]
        command: Option<community::QuestionsCmd>,
    },
    /// Is the community thriving or waning?
    Health,
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
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        let code = match e.downcast_ref::<Failure>() {
            Some(Failure::Unreachable(_)) => 3,
            _ => 1,
        };
        eprintln!("guild: {}", one_line(&e));
        std::process::exit(code);
    }
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
    let client = Client::connect(&data_dir)?;
    match cli.command {
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
            println!(
                "Created community {} ({}); you are member {}",
                req.community, created.community_id, created.member_id
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
        Cmd::Knowledge(cmd) => community::knowledge(&client, cmd, cli.json),
        Cmd::Ask { title, body } => community::ask(&client, title, body, cli.json),
        Cmd::Answer { question, body } => community::answer(&client, question, body, cli.json),
        Cmd::Questions { command } => community::questions(&client, command, cli.json),
        Cmd::Health => community::health(&client, cli.json),
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
        Cmd::Devices { command } => network::devices(&client, command, cli.json),
        Cmd::Members(cmd) => members::run(&client, cmd, cli.json),
        Cmd::Skills(cmd) => skills::run(&client, cmd, cli.json),
    }
}

fn print_status(status: &Status) {
    println!("guildd {} at http://{}", status.version, status.api_addr);
    println!("data        {}", status.data_dir);
    match &status.community {
        Some(c) => println!("community   {} ({}), {} members", c.name, c.id, c.members),
        None => println!("community   none yet: run `guild init --community NAME --name YOU`"),
    }
    if let Some(me) = &status.me {
        println!("you         {} ({})", me.name, me.id);
    }
    println!("documents   {}", status.documents.len());
    println!("peer id     {}", status.peer_id);
    for addr in &status.listen_addrs {
        println!("listening   {addr}");
    }
    if !status.peers.is_empty() {
        println!();
        network::print_peers(&status.peers);
    }
}
