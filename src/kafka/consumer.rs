//! The group consumer of `process`: [`GroupConsumer`], whose rebalances go through a
//! [`RebalanceHook`], and what its polls give ([`Polled`]). The whole-topic reader is
//! [`super::reader`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::error::KafkaError;
use rdkafka::message::BorrowedMessage;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::Message;
use tracing::{debug, error, info, warn};

use super::{KafkaAdapterError, KafkaSettings};
use crate::core::processor::StartAt;
use crate::core::Partition;

/// What the processor does around a rebalance (called on the polling thread, inside `poll`).
pub trait RebalanceHook: Send + Sync {
    /// Partitions of the topic were assigned (with the cooperative protocol: added), with their
    /// log start offsets as far as the broker told them: where to start each.
    fn assigned(
        &self,
        partitions: &[Partition],
        log_start: &BTreeMap<Partition, i64>,
    ) -> Vec<(Partition, StartAt)>;
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
    /// librdkafka said every broker is down (its global error callback, not a poll result).
    brokers_down: std::sync::atomic::AtomicBool,
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
        let eof = matches!(error, KafkaError::PartitionEOF(_))
            || error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PartitionEOF);
        let poll_exceeded =
            error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::PollExceeded);
        if error.rdkafka_error_code() == Some(rdkafka::types::RDKafkaErrorCode::AllBrokersDown) {
            self.brokers_down
                .store(true, std::sync::atomic::Ordering::SeqCst);
        }
        if eof {
            debug!(reason, "end of partition");
        } else if poll_exceeded {
            // The member left the group and rejoins at its next poll: news, not a failure.
            warn!(
                reason,
                "max.poll.interval.ms exceeded: this member left its group and rejoins"
            );
        } else {
            error!(error = %error, reason, "librdkafka error");
        }
    }
}

impl HookContext {
    /// The log start offsets (low watermarks) of `partitions`, as far as the broker answers.
    fn log_starts(
        &self,
        consumer: &BaseConsumer<Self>,
        partitions: &[Partition],
    ) -> BTreeMap<Partition, i64> {
        partitions
            .iter()
            .filter_map(|&p| {
                match consumer.fetch_watermarks(&self.topic, p, Duration::from_secs(5)) {
                    Ok((low, _)) => Some((p, low)),
                    Err(e) => {
                        warn!(partition = p, error = %e, "cannot read the log start offset");
                        None
                    }
                }
            })
            .collect()
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
        // The consumer protocol (KIP-848) and cooperative assignors hand out increments.
        let incremental = matches!(
            consumer.rebalance_protocol(),
            RebalanceProtocol::Cooperative
        );
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let log_start = self.log_starts(consumer, &partitions);
                let starts = self.hook.assigned(&partitions, &log_start);
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
                info!(?starts, incremental, "partitions assigned");
                let assigned = if incremental {
                    consumer.incremental_assign(&assignment)
                } else {
                    consumer.assign(&assignment)
                };
                if let Err(e) = assigned {
                    warn!(error = %e, "assign failed");
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let offsets = self.hook.revoking(&partitions);
                commit_offsets(consumer, &self.topic, &offsets);
                info!(?partitions, incremental, "partitions revoked");
                let unassigned = if incremental {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
                if let Err(e) = unassigned {
                    warn!(error = %e, "unassign failed");
                }
            }
            other => {
                warn!(error = ?other, "rebalance error; dropping the assignment");
                let _ = if incremental {
                    consumer.incremental_unassign(tpl)
                } else {
                    consumer.unassign()
                };
            }
        }
    }
}

/// Commit `offsets` (next offset per partition) to Kafka, without waiting for the answer. Kafka's committed offsets
/// are advisory for SQL sinks (the database holds the truth), so a failure is logged, not fatal.
fn commit_offsets<C: ConsumerContext>(
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
    // Async: with the brokers gone a synchronous commit blocks until they are back (inside a
    // rebalance callback, forever); these offsets are advisory, the sink's are the truth.
    if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
        warn!(error = %e, "Kafka offset commit failed (the sink's stored offsets still hold)");
    }
}

/// How far the consumer reads ahead of the loop. librdkafka's defaults let it queue 64 MiB, and
/// once the queue is over that it postpones the next fetch by a whole second
/// (`fetch.queue.backoff.ms`): on a 300k-record topic that halved throughput, and a lower cap
/// alone made it worse (8 MiB: a third of the rate). Capped at 8 MiB with a 5 ms pause, the
/// processor reads as fast or faster with less memory: 1M records into PostgreSQL at 94.5k/s
/// and 67 MB peak RSS, against 85k/s and 86 MB with a 16 MiB cap. Pass-through properties
/// (`--kafka-property`) still override both. The bench's raw consumer reads with the same bounds.
const PREFETCH: [(&str, &str); 2] = [
    ("queued.max.messages.kbytes", "8192"),
    ("fetch.queue.backoff.ms", "5"),
];

/// Set the read-ahead bounds ([`PREFETCH`]) on a consumer's `config`, except those the user
/// passed through.
pub(crate) fn bound_read_ahead(config: &mut rdkafka::ClientConfig, settings: &KafkaSettings) {
    for (k, v) in PREFETCH {
        if !settings.properties.iter().any(|(set, _)| set == k) {
            config.set(k, v);
        }
    }
}

/// One record polled from the group consumer, borrowed until the next poll.
pub struct Record<'c>(BorrowedMessage<'c>);

impl Record<'_> {
    pub fn partition(&self) -> Partition {
        self.0.partition()
    }

    pub fn offset(&self) -> i64 {
        self.0.offset()
    }

    pub fn key(&self) -> Option<&[u8]> {
        self.0.key()
    }

    pub fn payload(&self) -> Option<&[u8]> {
        self.0.payload()
    }
}

/// What one poll of the group consumer gave.
pub enum Polled<'c> {
    Record(Record<'c>),
    /// The consumer reached the end of a partition (no record after it for now).
    EndOfPartition(Partition),
    /// librdkafka's consumer instance failed for good (a fatal error): only a new consumer can
    /// continue.
    Fatal(String),
    /// A fetch position is out of range and eosflow never lets the consumer jump
    /// (`auto.offset.reset=error`): records were deleted before this member read them.
    OffsetOutOfRange(String),
    /// Every broker connection is down (librdkafka keeps reconnecting).
    BrokersDown(String),
    /// Something librdkafka reports and recovers from by itself (a broker restarting).
    Transient(String),
    Nothing,
}

/// Which consumer-group protocol a member speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupProtocol {
    /// The classic protocol: the group leader assigns (range), eager rebalances, a client-side
    /// session timeout.
    #[default]
    Classic,
    /// KIP-848: the broker assigns, incrementally; the session timeout is the broker's
    /// (`group.consumer.session.timeout.ms`).
    Consumer,
}

/// How a member joins its group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupOptions {
    pub protocol: GroupProtocol,
    /// The classic protocol's `session.timeout.ms` (the consumer protocol's is the broker's).
    pub session_timeout: Duration,
    /// `max.poll.interval.ms`: a member that does not poll this long (a sink stuck in one
    /// commit) leaves the group.
    pub max_poll_interval: Duration,
    /// librdkafka statistics to [`RebalanceHook::statistics`] this often.
    pub statistics: Option<Duration>,
}

impl Default for GroupOptions {
    fn default() -> Self {
        GroupOptions {
            protocol: GroupProtocol::Classic,
            session_timeout: Duration::from_secs(10),
            max_poll_interval: Duration::from_secs(300),
            statistics: None,
        }
    }
}

/// A consumer in a group, subscribed to one topic, whose rebalances go through a
/// [`RebalanceHook`].
pub struct GroupConsumer {
    pub(super) consumer: BaseConsumer<HookContext>,
    topic: String,
}

impl GroupConsumer {
    /// Join `group` for `topic`: read_committed, no auto-commit, never an automatic offset reset,
    /// rebalances through `hook`, in the protocol of `options`.
    pub fn join(
        settings: &KafkaSettings,
        group: &str,
        topic: &str,
        hook: Arc<dyn RebalanceHook>,
        options: GroupOptions,
    ) -> Result<GroupConsumer, KafkaAdapterError> {
        let mut config = settings.client_config();
        config
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("isolation.level", "read_committed")
            // The processor always says where to start (the sink's offsets, or the beginning);
            // a position that is out of range is an error to report, never a silent jump.
            .set("auto.offset.reset", "error")
            .set("allow.auto.create.topics", "false")
            // End-of-partition events tell "caught up" even when the last offsets hold no record
            // (transaction markers, aborted records), where the position never reaches the high
            // watermark.
            .set("enable.partition.eof", "true");
        bound_read_ahead(&mut config, settings);
        config.set(
            "max.poll.interval.ms",
            options.max_poll_interval.as_millis().max(1).to_string(),
        );
        match options.protocol {
            GroupProtocol::Classic => {
                let session = options.session_timeout.as_millis().max(1);
                config
                    .set("session.timeout.ms", session.to_string())
                    .set("heartbeat.interval.ms", (session / 10).max(100).to_string())
                    .set("partition.assignment.strategy", "range");
            }
            // librdkafka refuses the classic protocol's client-side settings with this one.
            GroupProtocol::Consumer => {
                config.set("group.protocol", "consumer");
            }
        }
        if let Some(every) = options.statistics {
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
            brokers_down: std::sync::atomic::AtomicBool::new(false),
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
        Ok(GroupConsumer {
            consumer,
            topic: topic.to_string(),
        })
    }

    /// Poll once (rebalance callbacks run inside).
    pub fn poll(&self, timeout: Duration) -> Polled<'_> {
        use rdkafka::types::RDKafkaErrorCode as C;
        match self.consumer.poll(timeout) {
            None => Polled::Nothing,
            Some(Ok(m)) => Polled::Record(Record(m)),
            Some(Err(KafkaError::PartitionEOF(p))) => Polled::EndOfPartition(p),
            Some(Err(e))
                if self.consumer.client().fatal_error().is_some()
                    || matches!(e, KafkaError::MessageConsumptionFatal(_)) =>
            {
                let detail = self
                    .consumer
                    .client()
                    .fatal_error()
                    .map(|(code, text)| format!("{code:?}: {text}"))
                    .unwrap_or_else(|| e.to_string());
                Polled::Fatal(detail)
            }
            Some(Err(e)) => match e.rdkafka_error_code() {
                Some(C::Fatal) => {
                    let detail = self
                        .consumer
                        .client()
                        .fatal_error()
                        .map(|(code, text)| format!("{code:?}: {text}"))
                        .unwrap_or_else(|| e.to_string());
                    Polled::Fatal(detail)
                }
                Some(C::AutoOffsetReset | C::OffsetOutOfRange) => {
                    Polled::OffsetOutOfRange(e.to_string())
                }
                Some(C::AllBrokersDown) => Polled::BrokersDown(e.to_string()),
                Some(C::PollExceeded) => {
                    Polled::Transient(format!("{e} (this member left its group; it rejoins now)"))
                }
                _ => Polled::Transient(e.to_string()),
            },
        }
    }

    /// Whether librdkafka reported every broker down since the last call.
    pub fn take_brokers_down(&self) -> bool {
        self.consumer
            .context()
            .brokers_down
            .swap(false, std::sync::atomic::Ordering::SeqCst)
    }

    /// The log start offsets (low watermarks) of `partitions`, as far as the broker answers.
    pub fn log_starts(&self, partitions: &[Partition]) -> BTreeMap<Partition, i64> {
        self.consumer
            .context()
            .log_starts(&self.consumer, partitions)
    }

    /// Move `partition`'s fetch position to `offset`.
    pub fn seek(&self, partition: Partition, offset: i64) -> Result<(), KafkaAdapterError> {
        self.consumer
            .seek(
                &self.topic,
                partition,
                Offset::Offset(offset),
                Duration::from_secs(10),
            )
            .map_err(|source| KafkaAdapterError::Operation {
                operation: "seek",
                bootstrap: String::new(),
                source,
            })
    }

    /// Fault injection: make librdkafka fail this consumer for good, as a real fatal error would
    /// (librdkafka's own `rd_kafka_test_fatal_error`, made for testing applications' handling).
    pub fn inject_fatal_error(&self, reason: &str) {
        let reason = std::ffi::CString::new(reason).unwrap_or_default();
        // SAFETY: the handle is alive for `&self`; librdkafka copies the reason string.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                self.consumer.client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID,
                reason.as_ptr(),
            );
        }
    }

    /// Commit `offsets` (next offset per partition) to Kafka; see [`commit_offsets`].
    pub fn commit(&self, offsets: &BTreeMap<Partition, i64>) {
        commit_offsets(&self.consumer, &self.topic, offsets);
    }

    /// Has this member read every assigned partition up to its high watermark? `at_end` are the
    /// partitions that reported their end since their last record. (librdkafka's position moves
    /// past transaction markers, so a fully read partition has position = high.)
    pub fn caught_up(&self, at_end: &std::collections::BTreeSet<Partition>) -> bool {
        let Ok(positions) = self.consumer.position() else {
            return false;
        };
        positions.elements_for_topic(&self.topic).iter().all(|e| {
            if at_end.contains(&e.partition()) {
                return true;
            }
            let marks =
                self.consumer
                    .fetch_watermarks(&self.topic, e.partition(), Duration::from_secs(2));
            match (e.offset(), marks) {
                (Offset::Offset(pos), Ok((_, high))) => pos >= high,
                // Nothing fetched yet: caught up only if the partition is empty.
                (_, Ok((low, high))) => low >= high,
                (_, Err(_)) => false,
            }
        })
    }

    /// Leave the group and close the consumer, bounded in time (librdkafka's close can hang when
    /// the broker is gone, GROUND.md): past `limit` the handle is leaked instead of blocking exit.
    pub fn close(self, limit: Duration) {
        let consumer = self.consumer;
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
