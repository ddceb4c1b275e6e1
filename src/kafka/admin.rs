//! Topic metadata and creation.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

use super::{KafkaAdapterError, KafkaSettings};
use crate::core::Partition;

/// The partitions of `topic`; a clear error when the broker is unreachable or the topic missing.
pub fn topic_partitions(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<Vec<Partition>, KafkaAdapterError> {
    let mut config = settings.client_config();
    config.set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer = settings.create(&config, "metadata client")?;
    let metadata = consumer.fetch_metadata(Some(topic), timeout).map_err(|e| {
        KafkaAdapterError::Unreachable {
            bootstrap: settings.bootstrap.clone(),
            operation: "Metadata",
            timeout_ms: timeout.as_millis() as u64,
            detail: e.to_string(),
        }
    })?;
    let unknown = || KafkaAdapterError::UnknownTopic {
        topic: topic.to_string(),
        bootstrap: settings.bootstrap.clone(),
    };
    let t = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(unknown)?;
    if t.error().is_some() || t.partitions().is_empty() {
        return Err(unknown());
    }
    let mut partitions: Vec<Partition> = t.partitions().iter().map(|p| p.id()).collect();
    partitions.sort_unstable();
    Ok(partitions)
}

/// Make sure `topic` exists, creating it with `partitions` partitions if it does not.
pub fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
    replication: i32,
    configs: &[(&str, &str)],
    timeout: Duration,
) -> Result<Vec<Partition>, KafkaAdapterError> {
    match topic_partitions(settings, topic, timeout) {
        Err(KafkaAdapterError::UnknownTopic { .. }) => {}
        other => return other,
    }
    let admin: AdminClient<DefaultClientContext> =
        settings.create(&settings.client_config(), "admin client")?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(replication));
    for (k, v) in configs {
        new = new.set(k, v);
    }
    let options = AdminOptions::new().operation_timeout(Some(timeout));
    let results =
        futures::executor::block_on(admin.create_topics([&new], &options)).map_err(|source| {
            KafkaAdapterError::Operation {
                operation: "CreateTopics",
                bootstrap: settings.bootstrap.clone(),
                source,
            }
        })?;
    for result in results {
        if let Err((name, code)) = result {
            if code != RDKafkaErrorCode::TopicAlreadyExists {
                return Err(KafkaAdapterError::Operation {
                    operation: "CreateTopics",
                    bootstrap: settings.bootstrap.clone(),
                    source: rdkafka::error::KafkaError::AdminOp(code),
                })
                .inspect_err(|_| tracing::error!(topic = %name, "topic creation failed"));
            }
        }
    }
    // Metadata may lag creation for a moment.
    let deadline = std::time::Instant::now() + timeout;
    loop {
        match topic_partitions(settings, topic, timeout) {
            Err(KafkaAdapterError::UnknownTopic { .. }) if std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

/// What one metadata request shows of the cluster (for `doctor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterView {
    /// `(id, host:port)` of every broker, by id.
    pub brokers: Vec<(i32, String)>,
    /// Each asked topic with what the metadata says of it, in the order asked.
    pub topics: Vec<(String, TopicState)>,
}

/// A topic as the metadata shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicState {
    Partitions(usize),
    Missing,
    /// Listed with an error other than "unknown topic" (e.g. not authorized).
    Error(String),
}

/// One metadata request for every topic (no auto-creation): the brokers, and the state of each
/// of `topics`.
pub fn cluster_view(
    settings: &KafkaSettings,
    topics: &[&str],
    timeout: Duration,
) -> Result<ClusterView, KafkaAdapterError> {
    let mut config = settings.client_config();
    config.set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer = settings.create(&config, "metadata client")?;
    let metadata =
        consumer
            .fetch_metadata(None, timeout)
            .map_err(|e| KafkaAdapterError::Unreachable {
                bootstrap: settings.bootstrap.clone(),
                operation: "Metadata",
                timeout_ms: timeout.as_millis() as u64,
                detail: e.to_string(),
            })?;
    let mut brokers: Vec<(i32, String)> = metadata
        .brokers()
        .iter()
        .map(|b| (b.id(), format!("{}:{}", b.host(), b.port())))
        .collect();
    brokers.sort_unstable();
    let state = |name: &str| match metadata.topics().iter().find(|t| t.name() == name) {
        None => TopicState::Missing,
        Some(t) => match t.error() {
            Some(e) if RDKafkaErrorCode::from(e) == RDKafkaErrorCode::UnknownTopicOrPartition => {
                TopicState::Missing
            }
            Some(e) => TopicState::Error(RDKafkaErrorCode::from(e).to_string()),
            None if t.partitions().is_empty() => TopicState::Missing,
            None => TopicState::Partitions(t.partitions().len()),
        },
    };
    Ok(ClusterView {
        brokers,
        topics: topics.iter().map(|t| (t.to_string(), state(t))).collect(),
    })
}
