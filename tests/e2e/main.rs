//! End-to-end tests: one test binary, a module per capability. Each test gets its own
//! temporary data directories and port-0 listeners on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod community;
mod crash;
mod hostile;
mod invitations;
mod mdns;
mod partition;
mod private;
mod single_node;
mod storage_faults;
mod sync;
