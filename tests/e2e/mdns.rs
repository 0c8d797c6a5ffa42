//! LAN discovery: two daemons find each other by mDNS with no explicit address.
//!
//! libp2p's mDNS ignores loopback, and these machines forbid multicast on their real
//! interface, so the test builds its own little network: two network namespaces joined by a
//! veth pair, one daemon in each. It needs root and `ip` (iproute2); without them it says
//! why it was skipped.

use std::process::Command;
use std::time::Duration;

use guild_tests::{Daemon, Options, ip};

/// Two namespaces joined by a veth pair; removed on drop.
struct Lan {
    namespaces: [String; 2],
}

impl Lan {
    fn create() -> Result<Self, String> {
        let tag = std::process::id() % 100_000;
        let lan = Lan {
            namespaces: [format!("guild-{tag}-a"), format!("guild-{tag}-b")],
        };
        let [a, b] = &lan.namespaces;
        let (va, vb) = (format!("gva{tag}"), format!("gvb{tag}"));
        let steps: Vec<Vec<String>> = vec![
            vec!["netns".into(), "add".into(), a.clone()],
            vec!["netns".into(), "add".into(), b.clone()],
            vec![
                "link".into(),
                "add".into(),
                va.clone(),
                "type".into(),
                "veth".into(),
                "peer".into(),
                "name".into(),
                vb.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                va.clone(),
                "netns".into(),
                a.clone(),
            ],
            vec![
                "link".into(),
                "set".into(),
                vb.clone(),
                "netns".into(),
                b.clone(),
            ],
        ];
        for step in steps {
            ip(&step)?;
        }
        for (ns, dev, addr) in [(a, &va, "10.213.0.1/24"), (b, &vb, "10.213.0.2/24")] {
            for step in [
                vec!["-n", ns, "addr", "add", addr, "dev", dev],
                vec!["-n", ns, "link", "set", dev, "multicast", "on", "up"],
                vec!["-n", ns, "link", "set", "lo", "up"],
                vec!["-n", ns, "route", "add", "224.0.0.0/4", "dev", dev],
            ] {
                ip(&step.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
            }
        }
        Ok(lan)
    }

    fn options(&self, i: usize) -> Options {
        Options {
            prefix: vec![
                "ip".into(),
                "netns".into(),
                "exec".into(),
                self.namespaces[i].clone(),
            ],
            listen: format!("/ip4/10.213.0.{}/tcp/4717", i + 1),
            mdns: true,
            env: Vec::new(),
            args: Vec::new(),
        }
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

#[test]
fn two_daemons_on_a_lan_find_each_other_by_mdns() {
    let lan = match Lan::create() {
        Ok(lan) => lan,
        Err(why) => {
            eprintln!(
                "SKIPPED two_daemons_on_a_lan_find_each_other_by_mdns: {why} (needs root and iproute2)"
            );
            return;
        }
    };
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = Daemon::start_with(dir_a.path(), lan.options(0));
    let mut b = Daemon::start_with(dir_b.path(), lan.options(1));
    a.guild(&["init", "--community", "Away day", "--name", "Ada"]);
    let ticket = a.guild(&["invite"]);
    b.guild(&["join", ticket.trim(), "--name", "Bea"]);

    // Forget every explicit address: from now on only mDNS can bring them together.
    for addr in b.guild_json(&["peers"])["dialled"]
        .as_array()
        .unwrap()
        .clone()
    {
        b.guild(&["peers", "remove", addr.as_str().unwrap()]);
    }
    assert!(
        b.guild_json(&["peers"])["dialled"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    a.kill();
    b.kill();
    a.restart();
    a.guild(&["members", "add", "Found By Mdns"]);
    b.restart();

    let arrived = guild_tests::poll_until(Duration::from_secs(60), || {
        b.guild(&["members", "list", "--json"])
            .contains("Found By Mdns")
    });
    assert!(
        arrived,
        "the change did not arrive over mDNS\n--- a ---\n{}\n--- b ---\n{}",
        a.log(),
        b.log()
    );
    assert!(b.log().contains("on the local network"), "{}", b.log());
}
