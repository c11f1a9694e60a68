//! owui-bridge: Open WebUI's log output in, signed webhooks out.
//!
//! The data path, one module per stage:
//!
//! ```text
//! source/  ──lines──▶  record/  ──records──▶  rules/  ──hits──▶  event
//!   (file, stdin,        (multi-line          (TOML rules,         (stable id,
//!    docker)              assembly)            literal prefilter)   exact JSON body)
//!                                                                      │
//!                          sink/  ◀──per-sink ordered queues──  outbox/ (redb, durable)
//!                          (signed webhook, retries)
//! ```
//!
//! `pipeline` connects source → outbox (for `run` and `test-rules` alike);
//! `config` owns the environment; `secret` how secrets are kept and shown;
//! `memory` gives back what the rule loading briefly needed;
//! `cli` the command line; `server` the HTTP endpoint; `metrics` and `health`
//! what it reports; `app` runs the commands, one module each.
//!
//! Dependencies follow the data path: a module uses only those before it in
//! this order — `secret memory metrics health shutdown config telemetry record event
//! rules source outbox sink pipeline server cli app` (checked by a test).

pub mod app;
pub mod cli;
pub mod config;
pub mod event;
pub mod health;
pub mod memory;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod record;
pub mod rules;
pub mod secret;
pub mod server;
pub mod shutdown;
pub mod sink;
pub mod source;
pub mod telemetry;
