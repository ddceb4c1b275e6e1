//! Consumers: a group consumer driven by a [`RebalanceHook`], and a whole-topic reader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaResult;
use rdkafka::message::Headers;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::Message;
use tracing::{info, warn};

use super::{KafkaAdapterError, KafkaSettings};
use crate::core::processor::StartAt;
use crate::core::Partition;

/// What the processor does around a rebalance (called on the polling thread, inside `poll`).
pub trait RebalanceHook: Send + Sync {
    /// Partitions of the topic were assigned: where to start each.
    fn assigned(&self, partitions: &[Partition]) -> Vec<(Partition, StartAt)>;
    /// Partitions are about to be revoked: finish and commit the in-flight batch; returns the
    /// offsets to commit to Kafka (next offset per partition).
    fn revoking(&self, partitions: &[Partition]) -> BTreeMap<Partition, i64>;
}

/// The consumer context that routes rebalances to a hook.
pub struct HookContext {
    topic: String,
    hook: Arc<dyn RebalanceHook>,
}

impl ClientContext for HookContext {}

impl ConsumerContext for HookContext {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let partitions: Vec<Partition> = tpl.elements().iter().map(|e| e.partition()).collect();
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let starts = self.hook.assigned(&partitions);
                let mut assignment = TopicPartitionList::new();
                for (p, at) in &starts {
                    let offset = match at {
                        StartAt::Offset(o) => Offset::Offset(*o),
                        StartAt::Beginning => Offset::Beginning,
                    };
                    if let Err(e) = assignment.add_partition_offset(&self.topic, *p, offset) {
                        warn!(partition = p, error = %e, "cannot set start offset");
                    }
                }
                info!(?starts, "partitions assigned");
                if let Err(e) = consumer.assign(&assignment) {
                    warn!(error = %e, "assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let offsets = self.hook.revoking(&partitions);
                commit_offsets(consumer, &self.topic, &offsets);
                info!(?partitions, "partitions revoked");
                if let Err(e) = consumer.unassign() {
                    warn!(error = %e, "unassign failed");
                }
            }
            other => {
                warn!(error = ?other, "rebalance error; dropping the assignment");
                let _ = consumer.unassign();
            }
        }
    }
}

/// Commit `offsets` (next offset per partition) to Kafka, synchronously. Kafka's committed offsets
/// are advisory for SQL sinks (the database holds the truth), so a failure is logged, not fatal.
pub fn commit_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    topic: &str,
    offsets: &BTreeMap<Partition, i64>,
) {
    if offsets.is_empty() {
        return;
    }
    let mut tpl = TopicPartitionList::new();
    for (&p, &o) in offsets {
        if tpl
            .add_partition_offset(topic, p, Offset::Offset(o))
            .is_err()
        {
            return;
        }
    }
    if let Err(e) = consumer.commit(&tpl, CommitMode::Sync) {
        warn!(error = %e, "Kafka offset commit failed (the sink's stored offsets still hold)");
    }
}

/// A group consumer for `topic`: read_committed, no auto-commit, rebalances through `hook`.
pub fn group_consumer(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    hook: Arc<dyn RebalanceHook>,
) -> Result<BaseConsumer<HookContext>, KafkaAdapterError> {
    let mut config = settings.client_config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("allow.auto.create.topics", "false")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("partition.assignment.strategy", "range");
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    let context = HookContext {
        topic: topic.to_string(),
        hook,
    };
    let consumer: BaseConsumer<HookContext> =
        config
            .create_with_context(context)
            .map_err(|source| KafkaAdapterError::Create {
                what: "consumer",
                bootstrap: settings.bootstrap.clone(),
                source,
            })?;
    consumer
        .subscribe(&[topic])
        .map_err(|source| KafkaAdapterError::Operation {
            operation: "subscribe",
            bootstrap: settings.bootstrap.clone(),
            source,
        })?;
    Ok(consumer)
}

/// Leave the group and close the consumer, bounded in time (librdkafka's close can hang when the
/// broker is gone, GROUND.md): past `limit` the handle is leaked instead of blocking exit.
pub fn close<C: ConsumerContext>(consumer: BaseConsumer<C>, limit: Duration) {
    consumer.unsubscribe();
    let deadline = Instant::now() + limit;
    if consumer.close_queue().is_ok() {
        while !consumer.closed() {
            if Instant::now() >= deadline {
                warn!("consumer did not close within {limit:?}; leaving it to process exit");
                std::mem::forget(consumer);
                return;
            }
            consumer.poll(Duration::from_millis(50));
        }
    }
    drop(consumer);
}

/// One record as read by [`read_topic`].
#[derive(Debug, Clone)]
pub struct ReadRecord {
    pub partition: Partition,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl ReadRecord {
    /// The value of header `name`, as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    }
}

/// Read every committed record of `topic` (read_committed) from the beginning up to the high
/// watermarks seen at the start, without joining a group. `on_record` sees each record.
pub fn read_topic(
    settings: &KafkaSettings,
    topic: &str,
    timeout: Duration,
    mut on_record: impl FnMut(ReadRecord),
) -> Result<u64, KafkaAdapterError> {
    let partitions = super::admin::topic_partitions(settings, topic, timeout)?;
    let mut config = settings.client_config();
    config
        .set("group.id", "eosflow-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("allow.auto.create.topics", "false");
    let consumer: BaseConsumer = settings.create(&config, "topic reader")?;
    let op_err = |operation, source| KafkaAdapterError::Operation {
        operation,
        bootstrap: settings.bootstrap.clone(),
        source,
    };
    let mut ends = BTreeMap::new();
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, timeout)
            .map_err(|e| op_err("ListOffsets (watermarks)", e))?;
        if high > low {
            ends.insert(p, high);
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .map_err(|e| op_err("assign", e))?;
        }
    }
    consumer.assign(&tpl).map_err(|e| op_err("assign", e))?;
    let mut count = 0u64;
    let mut last_progress = Instant::now();
    while !ends.is_empty() {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                last_progress = Instant::now();
                count += 1;
                on_record(ReadRecord {
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    value: m.payload().map(<[u8]>::to_vec),
                    headers: m
                        .headers()
                        .map(|h| {
                            h.iter()
                                .map(|h| {
                                    (
                                        h.key.to_string(),
                                        h.value.map(<[u8]>::to_vec).unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                });
                if ends
                    .get(&m.partition())
                    .is_some_and(|&end| m.offset() + 1 >= end)
                {
                    ends.remove(&m.partition());
                }
            }
            Some(Err(e)) => return Err(op_err("fetch", e)),
            None => {
                // Transaction markers take offsets too: a partition whose position reached the
                // end has nothing more to give.
                drop_finished(&consumer, topic, &mut ends);
                if last_progress.elapsed() > timeout {
                    return Err(KafkaAdapterError::Unreachable {
                        bootstrap: settings.bootstrap.clone(),
                        operation: "fetch to the end of the topic",
                        timeout_ms: timeout.as_millis() as u64,
                        detail: format!("partitions not read to their end: {ends:?} (an open transaction holds the last stable offset back?)"),
                    });
                }
            }
        }
    }
    Ok(count)
}

fn drop_finished(consumer: &BaseConsumer, topic: &str, ends: &mut BTreeMap<Partition, i64>) {
    let positions: KafkaResult<TopicPartitionList> = consumer.position();
    if let Ok(positions) = positions {
        for e in positions.elements_for_topic(topic) {
            if let (Offset::Offset(pos), Some(&end)) = (e.offset(), ends.get(&e.partition())) {
                if pos >= end {
                    ends.remove(&e.partition());
                }
            }
        }
    }
}
