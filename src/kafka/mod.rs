//! Kafka adapters around rdkafka. Thin: they translate between librdkafka and the core's events
//! and decisions, and classify librdkafka's errors.
//!
//! - [`producer`]: [`producer::PageProducer`] writes one chunk of records per transaction
//!   (`transactional`) or acknowledged batch (`idempotent`).
//! - [`consumer`]: a group consumer whose rebalance callback asks a hook where to start each
//!   assigned partition and lets it commit before partitions are revoked; and a plain reader of a
//!   whole topic for `verify`.
//! - [`admin`]: topic existence and creation.
//! - [`api_versions`]: which APIs a broker advertises (raw ApiVersions, for `doctor`).
//! - [`mock`]: the in-process demo broker (librdkafka's MockCluster).
//! - [`security`]: SSL and SASL options mapped onto librdkafka properties, checked early.

pub mod admin;
pub mod api_versions;
pub mod consumer;
pub mod mock;
pub mod producer;
pub mod security;

use rdkafka::config::{ClientConfig, FromClientConfig};
use rdkafka::error::KafkaError;

/// How to reach the brokers, plus any librdkafka properties passed through. `Debug` shows
/// secret properties (`sasl.password`, `ssl.key.password`, ...) as `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    pub bootstrap: String,
    /// Extra librdkafka properties (`--kafka-property key=value`), applied last.
    pub properties: Vec<(String, String)>,
}

impl KafkaSettings {
    pub fn new(bootstrap: impl Into<String>) -> Self {
        KafkaSettings {
            bootstrap: bootstrap.into(),
            properties: Vec::new(),
        }
    }

    /// A librdkafka config with the bootstrap servers and the pass-through properties.
    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap);
        config.set("client.id", "eosflow");
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }

    /// Create a plain client (metadata, admin, reader) from `config`, naming `what` on failure.
    pub(crate) fn create<T: FromClientConfig>(
        &self,
        config: &ClientConfig,
        what: &'static str,
    ) -> Result<T, KafkaAdapterError> {
        config
            .create()
            .map_err(|source| self.create_error(what, source))
    }

    /// The error for a client that could not be created: librdkafka's config errors quote the
    /// value, so the value of a secret property is replaced by `***`.
    pub(crate) fn create_error(&self, what: &'static str, source: KafkaError) -> KafkaAdapterError {
        let source = match source {
            KafkaError::ClientConfig(code, desc, key, value) => {
                let shown = crate::secret::shown(&key, &value).to_string();
                let desc = if shown == value {
                    desc
                } else {
                    desc.replace(&value, crate::secret::REDACTED)
                };
                KafkaError::ClientConfig(code, desc, key, shown)
            }
            other => other,
        };
        KafkaAdapterError::Create {
            what,
            bootstrap: self.bootstrap.clone(),
            source,
        }
    }
}

impl std::fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let properties: Vec<(&str, &str)> = self
            .properties
            .iter()
            .map(|(k, v)| (k.as_str(), crate::secret::shown(k, v)))
            .collect();
        f.debug_struct("KafkaSettings")
            .field("bootstrap", &self.bootstrap)
            .field("properties", &properties)
            .finish()
    }
}

/// Errors of the Kafka adapters; each names the broker address and the operation.
#[derive(Debug, thiserror::Error)]
pub enum KafkaAdapterError {
    #[error("cannot create a Kafka {what} for {bootstrap}: {source}")]
    Create {
        what: &'static str,
        bootstrap: String,
        source: KafkaError,
    },
    #[error("Kafka broker at {bootstrap} did not answer {operation} within {timeout_ms} ms: {detail} (is the broker running and the address right?)")]
    Unreachable {
        bootstrap: String,
        operation: &'static str,
        timeout_ms: u64,
        detail: String,
    },
    #[error("topic {topic:?} does not exist on {bootstrap} (create it, or let `eosflow produce` create it with --partitions)")]
    UnknownTopic { topic: String, bootstrap: String },
    #[error("producer fenced: another producer with transactional.id {transactional_id:?} started; this one must stop (the newer instance continues)")]
    Fenced { transactional_id: String },
    #[error("Kafka {operation} failed on {bootstrap}: {source}")]
    Operation {
        operation: &'static str,
        bootstrap: String,
        source: KafkaError,
    },
    #[error("gave up on chunk (page {page}, users {from}..{to}) after {attempts} attempts; last error: {last}")]
    GaveUp {
        page: u64,
        from: u32,
        to: u32,
        attempts: u32,
        last: String,
    },
}
