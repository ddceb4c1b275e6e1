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

/// CreateTopics' "use the broker's default replication factor".
const BROKER_DEFAULT: i32 = -1;

/// Make sure `topic` exists, creating it with `partitions` partitions if it does not, replicated
/// as the cluster's `default.replication.factor` says (KIP-464: a 3-broker production cluster
/// replicates 3 times, a one-node test broker once).
pub fn ensure_topic(
    settings: &KafkaSettings,
    topic: &str,
    partitions: i32,
    configs: &[(&str, &str)],
    timeout: Duration,
) -> Result<Vec<Partition>, KafkaAdapterError> {
    match topic_partitions(settings, topic, timeout) {
        Err(KafkaAdapterError::UnknownTopic { .. }) => {}
        other => return other,
    }
    let admin: AdminClient<DefaultClientContext> =
        settings.create(&settings.client_config(), "admin client")?;
    let mut new = NewTopic::new(topic, partitions, TopicReplication::Fixed(BROKER_DEFAULT));
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

/// The settings of a topic that decide whether exactly-once can survive a broker failure.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicSettings {
    /// The fewest replicas any partition has.
    pub replication: usize,
    /// The fewest in-sync replicas any partition has now (and which partition that is).
    pub in_sync: Option<(i32, usize)>,
    /// `min.insync.replicas`, as the broker resolves it (topic, else broker default).
    pub min_insync: Option<i64>,
    /// `unclean.leader.election.enable`.
    pub unclean_election: Option<bool>,
}

impl TopicSettings {
    /// Why `acks=all` cannot write to the topic now, if that is so: a partition has fewer
    /// in-sync replicas than `min.insync.replicas` (the broker answers NOT_ENOUGH_REPLICAS,
    /// which the producer retries until its records time out).
    pub fn unwritable(&self, topic: &str) -> Option<String> {
        let (partition, in_sync) = self.in_sync?;
        let min = self.min_insync?;
        (i64::try_from(in_sync).unwrap_or(i64::MAX) < min).then(|| {
            format!(
                "{topic}/{partition} has {in_sync} in-sync replica(s) and the topic's min.insync.replicas is {min}: \
                 no acks=all write can succeed (NOT_ENOUGH_REPLICAS) until a broker is back or min.insync.replicas is lowered"
            )
        })
    }
}

/// `topic`'s replication (from metadata) and its `min.insync.replicas` and
/// `unclean.leader.election.enable` (DescribeConfigs).
pub fn topic_settings(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
) -> Result<TopicSettings, KafkaAdapterError> {
    use rdkafka::admin::{ConfigResource, ResourceSpecifier};
    let mut config = settings.client_config();
    config.set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer = settings.create(&config, "metadata client")?;
    let unreachable = |operation: &'static str, detail: String| KafkaAdapterError::Unreachable {
        bootstrap: settings.bootstrap.clone(),
        operation,
        timeout_ms: timeout.as_millis() as u64,
        detail,
    };
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(|e| unreachable("Metadata", e.to_string()))?;
    let replication = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| t.partitions().iter().map(|p| p.replicas().len()).min())
        .unwrap_or(0);
    let in_sync = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .and_then(|t| {
            t.partitions()
                .iter()
                .map(|p| (p.id(), p.isr().len()))
                .min_by_key(|(_, n)| *n)
        });
    let admin: AdminClient<DefaultClientContext> =
        settings.create(&settings.client_config(), "admin client")?;
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = futures::executor::block_on(
        admin.describe_configs([&ResourceSpecifier::Topic(topic)], &options),
    )
    .map_err(|e| unreachable("DescribeConfigs", e.to_string()))?;
    let resource: Option<ConfigResource> = results.into_iter().next().and_then(Result::ok);
    let value = |name: &str| {
        resource
            .as_ref()
            .and_then(|r| r.get(name))
            .and_then(|e| e.value.clone())
    };
    Ok(TopicSettings {
        replication,
        in_sync,
        min_insync: value("min.insync.replicas").and_then(|v| v.parse().ok()),
        unclean_election: value("unclean.leader.election.enable").map(|v| v == "true"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_few_in_sync_replicas_is_named() {
        let s = |in_sync, min| TopicSettings {
            replication: 3,
            in_sync: Some((1, in_sync)),
            min_insync: Some(min),
            unclean_election: Some(false),
        };
        let why = s(2, 3).unwritable("users").expect("2 < 3");
        assert!(
            why.contains("users/1 has 2 in-sync replica(s)")
                && why.contains("min.insync.replicas is 3")
                && why.contains("NOT_ENOUGH_REPLICAS"),
            "{why}"
        );
        assert_eq!(s(2, 2).unwritable("users"), None);
        assert_eq!(TopicSettings::default().unwritable("users"), None);
    }
}
