//! A recording TCP relay on 127.0.0.1 between two daemons: one dials the relay's port, the
//! relay connects to the other. It records every read (time, direction, bytes), which gives
//! what the daemons' own counters cannot: the TCP payload bytes (Noise, Yamux, multistream
//! and libp2p's own protocols included) and the number of round trips, counted as the times
//! the traffic turns from the initiator's direction to the other.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result};

/// Which way bytes went: `Up` from the dialling daemon to the dialled one, `Down` back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Up,
    Down,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    at: Instant,
    dir: Dir,
    bytes: usize,
}

pub struct Proxy {
    pub port: u16,
    log: Arc<Mutex<Vec<Event>>>,
}

/// Traffic seen in a window of time.
#[derive(Clone, Copy, Debug, Default)]
pub struct Traffic {
    pub up: u64,
    pub down: u64,
    /// Turns from the first event's direction to the other.
    pub round_trips: u64,
    /// Runs of reads in one direction.
    pub flights: u64,
}

impl Traffic {
    pub fn total(&self) -> u64 {
        self.up + self.down
    }
}

impl Proxy {
    /// Relays every connection to `target`.
    pub fn start(target: SocketAddr) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind the relay")?;
        let port = listener.local_addr()?.port();
        let log: Arc<Mutex<Vec<Event>>> = Arc::default();
        let accept_log = log.clone();
        thread::Builder::new()
            .name("bench-relay".into())
            .spawn(move || {
                for client in listener.incoming().flatten() {
                    let Ok(server) = TcpStream::connect(target) else {
                        continue;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                        continue;
                    };
                    let (up_log, down_log) = (accept_log.clone(), accept_log.clone());
                    let _ = thread::Builder::new()
                        .name("bench-relay-up".into())
                        .spawn(move || pump(client, server, Dir::Up, &up_log));
                    let _ = thread::Builder::new()
                        .name("bench-relay-down".into())
                        .spawn(move || pump(s2, c2, Dir::Down, &down_log));
                }
            })?;
        Ok(Self { port, log })
    }

    /// The multiaddr a daemon dials to go through the relay.
    pub fn multiaddr(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}", self.port)
    }

    /// A position in the log, for [`Proxy::since`].
    pub fn mark(&self) -> usize {
        self.lock().len()
    }

    /// Traffic recorded since `mark`.
    pub fn since(&self, mark: usize) -> Traffic {
        let log = self.lock();
        let events = log.get(mark..).unwrap_or_default();
        let mut t = Traffic::default();
        let first = events.first().map(|e| e.dir);
        let mut last: Option<Dir> = None;
        for e in events {
            match e.dir {
                Dir::Up => t.up += e.bytes as u64,
                Dir::Down => t.down += e.bytes as u64,
            }
            if last != Some(e.dir) {
                t.flights += 1;
                if last.is_some() && Some(e.dir) != first {
                    t.round_trips += 1;
                }
            }
            last = Some(e.dir);
        }
        t
    }

    /// Time of the first read in direction `dir` since `mark`, if any.
    pub fn first_in(&self, mark: usize, dir: Dir) -> Option<Instant> {
        let log = self.lock();
        log.get(mark..)
            .unwrap_or_default()
            .iter()
            .find(|e| e.dir == dir)
            .map(|e| e.at)
    }

    /// Time of the last read in direction `dir` since `mark`, if any.
    pub fn last_in(&self, mark: usize, dir: Dir) -> Option<Instant> {
        let log = self.lock();
        log.get(mark..)
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|e| e.dir == dir)
            .map(|e| e.at)
    }

    /// Time of the last byte relayed, if any.
    pub fn last_activity(&self) -> Option<Instant> {
        self.lock().last().map(|e| e.at)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Event>> {
        self.log.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, dir: Dir, log: &Mutex<Vec<Event>>) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        log.lock().unwrap_or_else(|e| e.into_inner()).push(Event {
            at: Instant::now(),
            dir,
            bytes: n,
        });
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    let _ = from.shutdown(Shutdown::Read);
}
