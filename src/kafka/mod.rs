//! Kafka adapters around rdkafka. Thin: they translate between librdkafka and the core's events
//! and decisions, and classify librdkafka's errors.
//!
//! - [`producer`]: [`producer::PageProducer`] writes one chunk of records per transaction
//!   (`transactional`) or acknowledged batch (`idempotent`).
//! - [`consumer`]: a group consumer whose rebalance callback asks a hook where to start each
//!   assigned partition and lets it commit before partitions are revoked.
//! - [`group`]: the consumer group as the broker describes it (members, assignments), for the
//!   status page.
//! - [`reach`]: a TCP look at the bootstrap addresses, so a broker that is down is said at once.
//! - [`reader`]: a plain reader of a whole topic (`verify`, the producer's cursor).
//! - [`admin`]: topic existence and creation.
//! - [`progress`]: the producer's side topics: its progress cursor and its rejects.
//! - [`api_versions`]: which APIs a broker advertises (raw ApiVersions, for `doctor`).
//! - [`mock`]: the in-process demo broker (librdkafka's MockCluster).
//! - [`security`]: SSL and SASL options mapped onto librdkafka properties, checked early.

pub mod admin;
pub mod api_versions;
pub mod consumer;
pub mod group;
pub mod mock;
pub mod producer;
pub mod progress;
pub mod raw;
pub mod reach;
pub mod reader;
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

    /// Before a job touches the network: librdkafka reads every pass-through property (a
    /// client is created and dropped, so a misspelt property or a bad value is named before
    /// anything connects), then [`reach::check`] says whether a broker takes a connection.
    pub fn preflight(&self, timeout: std::time::Duration) -> Result<(), KafkaAdapterError> {
        let client: rdkafka::consumer::BaseConsumer =
            self.create(&self.client_config(), "client")?;
        drop(client);
        reach::check(&self.bootstrap, timeout)
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
            KafkaError::ClientConfig(_, desc, key, value) => {
                let shown = crate::secret::shown(&key, &value).to_string();
                let detail = if shown == value {
                    desc
                } else {
                    desc.replace(&value, crate::secret::REDACTED)
                };
                return KafkaAdapterError::Property {
                    key,
                    value: shown,
                    detail,
                };
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
    #[error("librdkafka refused the Kafka property {key}={value}: {detail} (set by --kafka-property, EOSFLOW_KAFKA_PROPERTIES or [kafka.properties]; names and values are librdkafka's, see https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md)")]
    Property {
        key: String,
        value: String,
        detail: String,
    },
    #[error("Kafka broker at {bootstrap} did not answer {operation} within {timeout_ms} ms: {detail} (is the broker running and the address right?)")]
    Unreachable {
        bootstrap: String,
        operation: &'static str,
        timeout_ms: u64,
        detail: String,
    },
    #[error("cannot reach any Kafka broker of {bootstrap}: {detail}")]
    BrokersDown {
        bootstrap: String,
        detail: String,
        /// Refused or unknown hosts only: certain, not a timeout.
        certain: bool,
    },
    #[error("topic {topic:?} does not exist on {bootstrap} (create it, or let `eosflow produce` create it with --partitions)")]
    UnknownTopic { topic: String, bootstrap: String },
    #[error("producer fenced: another producer with transactional.id {transactional_id:?} started; this one must stop (the newer instance continues). Nothing this producer wrote after that is visible to read_committed readers")]
    Fenced { transactional_id: String },
    #[error("transaction of transactional.id {transactional_id:?} was open for {open_ms} ms, past transaction.timeout.ms = {timeout_ms}: the broker aborted it (none of its records is visible) and fenced this producer. A restart resumes from the last committed cursor; if transactions take this long, raise --transaction-timeout")]
    TransactionTimedOut {
        transactional_id: String,
        open_ms: u64,
        timeout_ms: u64,
    },
    #[error("{operation} on {bootstrap} did not finish: {detail}")]
    Incomplete {
        operation: &'static str,
        bootstrap: String,
        detail: String,
    },
    #[error("Kafka {operation} failed on {bootstrap}: {source}")]
    Operation {
        operation: &'static str,
        bootstrap: String,
        source: KafkaError,
    },
    #[error("progress record at {at} (key {key:?}) is not valid JSON progress: {detail} (delete it with a tombstone for that key to start afresh)")]
    BadProgress {
        at: String,
        key: String,
        detail: String,
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
