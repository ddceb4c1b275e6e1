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
