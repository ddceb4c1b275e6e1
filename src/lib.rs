//! # eosflow — exactly-once users → Kafka → database
//!
//! A map of the house. Every room has one door (its `mod.rs`); the core holds the protocol and
//! never touches the network, the adapters around it are thin. Imports run down the floors only:
//! `cli` → `pipeline` (jobs) → adapters (`kafka`, `registry`, `avro`, `source`, `sink`) →
//! `core`, `model`, `schema`, `secret`, `net`, `out`.
//!
//! | module | what lives there |
//! |---|---|
//! | [`model`] | the domain record: [`model::User`] and its field table [`model::USER_FIELDS`] (one list, from which the Avro codec and every sink's columns derive), its source identity and UUIDv5 key, the one sample-user builder |
//! | [`core`] | **sans-I/O exactly-once protocol**: batches, per-partition offsets, seek and commit decisions for the processor ([`core::processor`]), page/cursor planning for the producer ([`core::producer`]). Pure state, driven by tests without Kafka |
//! | [`avro`] | the User schema history in `avro/`, Confluent wire format (magic 0 + 4-byte id + Avro binary), encode; decode through a plan compiled once per writer schema (the `Value`-tree projection where the plan does not reach) |
//! | [`schema`] | eosflow's Avro schema-evolution engine: Java Avro's reader/writer compatibility rules (what Confluent's registry runs), Confluent's levels, a parser as strict as Java's, and the one physical-type table with the spec's promotions ([`schema::Type`]) |
//! | [`registry`] | Schema Registry: a client ([`registry::client`], over `schema_registry_converter`: register, schemas by id, compatibility) and a Confluent-compatible server ([`registry::server`]); `doctor`'s read-only [`registry::probe`] |
//! | [`source`] | where users come from, opened by [`source::open`]: the offline deterministic [`source::generator`], a randomuser-compatible [`source::http`] API, and [`source::randomuser`] formatting + validation (rejects keep their position) |
//! | [`kafka`] | the only room that speaks rdkafka: client config, the transactional/idempotent producer (records + progress cursor in one transaction), the group consumer with rebalance hooks, the topic reader, the producer's side topics ([`kafka::progress`]), topic admin, the in-memory demo broker, a raw ApiVersions probe ([`kafka::api_versions`]) |
//! | [`sink`] | where rows go, behind one [`sink::Sink`] trait and one door, [`sink::SinkUrl`] (parse, validate, redact, password, open): [`sink::sqlite`], [`sink::postgres`] (rows and offsets in one database transaction), [`sink::cassandra`] (idempotent rows, then offsets) |
//! | [`pipeline`] | the jobs that wire core + adapters: `produce` (+ rejects), `process` (+ dead letters), `verify`, `demo`, `bench`, `doctor` (checks every connection), `schema` (evolution checks); and the one record decoder ([`pipeline::decode`]) that `process`, `verify` and the fuzz target share |
//! | [`metrics`] | Prometheus: a hand-rolled registry (atomic counters, gauges, fixed-bucket histograms) and text-format encoder, sans-I/O; the catalogue of every exported metric; the live status model behind the status page ([`metrics::status`]); the HTTP adapter (`--metrics-listen`): `/metrics`, `/healthz`, `/readyz`, the page `/` and `/status.json` |
//! | [`config`] | one typed config: file, `EOSFLOW_*` env, flags (flags > env > file) |
//! | [`secret`] | passwords that never print, which keys are secret, every URL secret (find, redact, percent-encode) and every scrub of logs and errors |
//! | [`net`] | TCP reachability: unknown host, refused, silent, told apart (the Kafka preflight and the registry client's errors) |
//! | [`out`] | standard output: `outln!`/`out!`, which end quietly on a closed pipe instead of panicking |
//! | [`cli`] | argument parsing and wiring only |
//! | [`fuzzing`] | the fuzz targets' bodies (`fuzz/`, cargo-fuzz): wire format + Avro decode, randomuser pages, schema parse + compatibility, registry request bodies; replayed over the committed corpora by `tests/fuzz_corpus.rs` |
//!
//! The exactly-once argument, in one paragraph: a user's identity is its position in a
//! deterministic source (`source`, `seed`, `page`, `index`), and its row key is
//! `UUIDv5(EOSFLOW_NAMESPACE, canonical identity)`. Replaying a page, re-sending a batch or a broker
//! leaking an aborted transaction therefore lands on the same rows with the same contents. On top of
//! that, SQL sinks store the consumer offsets in the same transaction as the rows, and the processor
//! seeks to them on assignment, so a crash between the database commit and the Kafka commit neither
//! loses nor re-applies a batch.

pub mod avro;
pub mod cli;
pub mod config;
pub mod core;
pub mod fuzzing;
pub mod kafka;
pub mod metrics;
pub mod model;
pub mod net;
pub mod out;
pub mod pipeline;
pub mod registry;
pub mod schema;
pub mod secret;
pub mod sink;
pub mod source;
