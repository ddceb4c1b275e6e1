//! Schema Registry, both sides of the wire.
//!
//! - [`client`]: what `produce` and `process` use to talk to any Confluent-compatible registry
//!   (eosflow's own or Confluent's): register under a subject, fetch a schema by id (cached).
//! - [`probe`]: `doctor`'s read-only look: reachable, subject's latest version, compatibility level.
//! - [`server`]: `eosflow registry serve`, a Confluent-compatible Schema Registry API so eosflow
//!   runs without a JVM.

pub mod client;
pub mod probe;
pub mod server;
