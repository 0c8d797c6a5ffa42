//! End-to-end tests: one test binary, a module per capability. Each test gets its own
//! temporary data directories and port-0 listeners on 127.0.0.1.
#![allow(clippy::unwrap_used)]

mod community;
mod crash;
mod dashboard;
mod doctor;
mod hostile;
mod hubs;
mod invitations;
mod mdns;
mod metrics;
mod openapi;
mod ops;
mod partition;
mod people;
mod private;
mod single_node;
mod storage_faults;
mod sync;
mod transfer;
mod unconference;
