//! Consumers: a group consumer driven by a [`RebalanceHook`], and a whole-topic reader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Headers;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::Message;
use tracing::{debug, error, info, warn};

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
    /// librdkafka's statistics arrived (when `statistics.interval.ms` is set): where each
    /// partition of the topic stands.
    fn statistics(&self, _partitions: &[PartitionStats]) {}
}

/// Where one partition stands, from librdkafka's statistics (no broker round trip: the ends come
/// from the fetch responses librdkafka keeps receiving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionStats {
    pub partition: Partition,
    /// The last stable offset (read_committed), else the high watermark; None before any fetch.
    pub end: Option<i64>,
    /// The offset of the last record handed to the application, plus one.
    pub position: Option<i64>,
    /// The low watermark.
    pub low: Option<i64>,
}

impl PartitionStats {
    /// Records between the position and the end. Before the first record the position is
    /// `start` (where reading began, e.g. the sink's stored offset), else the low watermark.
    pub fn lag(&self, start: Option<i64>) -> Option<i64> {
        let end = self.end?;
        let position = self.position.or(start).or(self.low)?;
        Some((end - position).max(0))
    }
}

#[derive(serde::Deserialize)]
struct RawStats {
    #[serde(default)]
    topics: BTreeMap<String, RawTopic>,
}

#[derive(serde::Deserialize)]
struct RawTopic {
    #[serde(default)]
    partitions: BTreeMap<String, RawPartition>,
}

#[derive(serde::Deserialize)]
struct RawPartition {
    partition: i32,
    #[serde(default = "unset")]
    app_offset: i64,
    #[serde(default = "unset")]
    hi_offset: i64,
    #[serde(default = "unset")]
    ls_offset: i64,
    #[serde(default = "unset")]
    lo_offset: i64,
}

fn unset() -> i64 {
    -1
}

/// The partitions of `topic` in a librdkafka statistics JSON document (the internal `-1`
/// partition left out; librdkafka's invalid offsets are negative).
pub fn partition_stats(json: &[u8], topic: &str) -> Result<Vec<PartitionStats>, serde_json::Error> {
    let stats: RawStats = serde_json::from_slice(json)?;
    let valid = |o: i64| (o >= 0).then_some(o);
    Ok(stats
        .topics
        .get(topic)
        .map(|t| {
            t.partitions
                .values()
                .filter(|p| p.partition >= 0)
                .map(|p| PartitionStats {
                    partition: p.partition,
                    end: valid(p.ls_offset).or(valid(p.hi_offset)),
                    position: valid(p.app_offset),
                    low: valid(p.lo_offset),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// The consumer context that routes rebalances to a hook.
pub struct HookContext {
    topic: String,
    hook: Arc<dyn RebalanceHook>,
}

impl ClientContext for HookContext {
    fn stats_raw(&self, statistics: &[u8]) {
        match partition_stats(statistics, &self.topic) {
            Ok(partitions) => self.hook.statistics(&partitions),
            Err(e) => debug!(error = %e, "unreadable librdkafka statistics"),
        }
    }

    /// Reaching the end of a partition is news, not an error (`enable.partition.eof`); the
    /// processor reads it from the poll. Everything else is logged as librdkafka's default does.
    fn error(&self, error: KafkaError, reason: &str) {
        if matches!(error, KafkaError::PartitionEOF(_)) {
            debug!(reason, "end of partition");
        } else {
            error!(error = %error, reason, "librdkafka error");
        }
    }
}

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

/// A group consumer for `topic`: read_committed, no auto-commit, rebalances through `hook`, and
/// librdkafka statistics to [`RebalanceHook::statistics`] every `statistics` when given.
pub fn group_consumer(
    settings: &KafkaSettings,
    group: &str,
    topic: &str,
    hook: Arc<dyn RebalanceHook>,
    statistics: Option<Duration>,
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
        .set("partition.assignment.strategy", "range")
        // End-of-partition events tell "caught up" even when the last offsets hold no record
        // (transaction markers, aborted records), where the position never reaches the high
        // watermark.
        .set("enable.partition.eof", "true");
    if let Some(every) = statistics {
        config.set(
            "statistics.interval.ms",
            every.as_millis().max(1).to_string(),
        );
    }
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    let context = HookContext {
        topic: topic.to_string(),
        hook,
    };
    let consumer: BaseConsumer<HookContext> = config
        .create_with_context(context)
        .map_err(|source| settings.create_error("consumer", source))?;
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
            // A broker restarting under us: librdkafka reconnects by itself; the no-progress
            // timeout below decides when to give up.
            Some(Err(e)) if is_transient(&e) => {
                debug!(error = %e, "transient fetch error; retrying");
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

/// Errors librdkafka recovers from by itself (a broker down or restarting).
fn is_transient(e: &KafkaError) -> bool {
    use rdkafka::types::RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(C::BrokerTransportFailure | C::AllBrokersDown | C::NetworkException)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_stats_from_librdkafka_json_and_lag() {
        let json = br#"{"name": "c#consumer-1", "topics": {
            "users": {"topic": "users", "partitions": {
                "0": {"partition": 0, "app_offset": 40, "hi_offset": 45, "ls_offset": 43, "lo_offset": 0},
                "1": {"partition": 1, "app_offset": -1001, "hi_offset": 12, "ls_offset": -1001, "lo_offset": 2},
                "2": {"partition": 2, "app_offset": -1001, "hi_offset": -1001, "ls_offset": -1001, "lo_offset": -1001},
                "-1": {"partition": -1, "app_offset": -1001, "hi_offset": -1001, "ls_offset": -1001, "lo_offset": -1001}}},
            "other": {"topic": "other", "partitions": {"0": {"partition": 0, "app_offset": 1, "hi_offset": 9}}}}}"#;
        let stats = partition_stats(json, "users").expect("parses");
        assert_eq!(
            stats,
            vec![
                PartitionStats {
                    partition: 0,
                    end: Some(43),
                    position: Some(40),
                    low: Some(0)
                },
                PartitionStats {
                    partition: 1,
                    end: Some(12),
                    position: None,
                    low: Some(2)
                },
                PartitionStats {
                    partition: 2,
                    end: None,
                    position: None,
                    low: None
                },
            ]
        );
        assert_eq!(stats[0].lag(Some(7)), Some(3), "position beats the start");
        assert_eq!(
            stats[1].lag(Some(10)),
            Some(2),
            "before the first record: from the start"
        );
        assert_eq!(
            stats[1].lag(None),
            Some(10),
            "no start: from the low watermark"
        );
        assert_eq!(stats[2].lag(Some(0)), None, "no end known yet");
        let ahead = PartitionStats {
            partition: 0,
            end: Some(5),
            position: Some(6),
            low: None,
        };
        assert_eq!(ahead.lag(None), Some(0), "never negative");
        assert_eq!(partition_stats(b"{}", "users").expect("empty").len(), 0);
        assert!(partition_stats(b"not json", "users").is_err());
    }
}
