//! Raw clients for `eosflow bench`: the Kafka ceilings (a `read_committed` consumer that
//! touches every byte and does nothing else; an idempotent producer writing the same bytes with
//! eosflow's delivery settings) and the latency run's observer, which notes when each record
//! becomes visible to `read_committed` (its transaction committed).

use std::collections::HashSet;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::client::ClientContext;
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use super::admin::{ensure_topic, topic_partitions};
use super::producer::idempotent_config;
use super::{KafkaAdapterError, KafkaSettings};

/// One record's bytes.
pub struct Payload {
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// Read `topic` from the beginning to its end, `read_committed`, touching every key and value
/// byte; with `keep`, the bytes are kept (a second, untimed pass). The wall time from the
/// assignment to the last partition's end, the record count and the kept payloads.
pub fn consume(
    kafka: &KafkaSettings,
    topic: &str,
    keep: bool,
    timeout: Duration,
) -> Result<(Duration, u64, Vec<Payload>), KafkaAdapterError> {
    let partitions = topic_partitions(kafka, topic, timeout)?;
    let mut config = read_committed(kafka, "eosflow-bench-raw");
    config.set("enable.partition.eof", "true");
    let consumer = assigned(kafka, config, topic, &partitions)?;
    let mut at_end: HashSet<i32> = HashSet::new();
    let (mut records, mut touched, mut kept) = (0u64, 0u64, Vec::new());
    // From the first record on: joining and the first fetch are not reading (process's rate
    // is also from its first record).
    let mut started = None;
    let mut last_progress = Instant::now();
    while at_end.len() < partitions.len() {
        match consumer.poll(Duration::from_millis(100)) {
            None if last_progress.elapsed() > timeout => {
                return Err(KafkaAdapterError::Incomplete {
                    operation: "the raw read of the topic",
                    bootstrap: kafka.bootstrap.clone(),
                    detail: format!("nothing for {timeout:?} with {records} records read"),
                })
            }
            None => {}
            Some(Err(KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => return Err(operation(kafka, "the raw read of the topic", e)),
            Some(Ok(m)) => {
                last_progress = Instant::now();
                started.get_or_insert(last_progress);
                records += 1;
                let (key, value) = (m.key().unwrap_or_default(), m.payload().unwrap_or_default());
                touched = key
                    .iter()
                    .chain(value)
                    .fold(touched, |acc, b| acc.wrapping_add(u64::from(*b)));
                if keep {
                    kept.push(Payload {
                        key: m.key().map(<[u8]>::to_vec),
                        value: value.to_vec(),
                    });
                }
            }
        }
    }
    let elapsed = started.map_or(Duration::ZERO, |s| s.elapsed());
    std::hint::black_box(touched);
    Ok((elapsed, records, kept))
}

/// Write `payloads` into a new topic of `partitions` with an idempotent producer, as fast as it
/// takes them; the wall time until every record is acknowledged.
pub fn produce(
    kafka: &KafkaSettings,
    topic: &str,
    partitions: i32,
    payloads: &[Payload],
    timeout: Duration,
) -> Result<Duration, KafkaAdapterError> {
    ensure_topic(kafka, topic, partitions, &[], timeout)?;
    let config = idempotent_config(kafka, timeout);
    let producer: ThreadedProducer<Failures> = config
        .create_with_context(Failures::default())
        .map_err(|e| kafka.create_error("bench producer", e))?;
    // Like eosflow's producer, which has its producer id, its connection and its topic's
    // leaders before its first transaction: one empty warm-up record per partition, acknowledged
    // before the clock starts (they are not among the records counted).
    for p in 0..partitions {
        let warm_up = BaseRecord::<[u8], [u8]>::to(topic)
            .partition(p)
            .payload(&[]);
        producer
            .send(warm_up)
            .map_err(|(e, _)| operation(kafka, "the raw producer's warm-up", e))?;
    }
    super::producer::await_reports_served(&producer, timeout);
    let started = Instant::now();
    for p in payloads {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).payload(&p.value);
        if let Some(key) = &p.key {
            record = record.key(key);
        }
        let mut record = Some(record);
        while let Some(r) = record.take() {
            match producer.send(r) {
                Ok(()) => {}
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    producer.poll(Duration::from_millis(5));
                    record = Some(r);
                }
                Err((e, _)) => return Err(operation(kafka, "the raw producer's send", e)),
            }
        }
    }
    // The same event-driven wait as eosflow's producer, so the ceiling pays no 100 ms poll step.
    super::producer::await_reports_served(&producer, timeout);
    producer
        .flush(timeout)
        .map_err(|e| operation(kafka, "the raw producer's flush", e))?;
    let elapsed = started.elapsed();
    match producer.context().0.load(Ordering::Relaxed) {
        0 => Ok(elapsed),
        n => Err(KafkaAdapterError::Incomplete {
            operation: "the raw producer",
            bootstrap: kafka.bootstrap.clone(),
            detail: format!("{n} records were not delivered"),
        }),
    }
}

/// Counts records the broker did not take.
#[derive(Default)]
struct Failures(AtomicU64);

impl ClientContext for Failures {}

impl ProducerContext for Failures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn operation(
    kafka: &KafkaSettings,
    operation: &'static str,
    source: KafkaError,
) -> KafkaAdapterError {
    KafkaAdapterError::Operation {
        operation,
        bootstrap: kafka.bootstrap.clone(),
        source,
    }
}

/// Logs what librdkafka reports, except the end of a partition (the raw reader's stop signal).
struct EndIsNews;

impl ClientContext for EndIsNews {
    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() != Some(RDKafkaErrorCode::PartitionEOF) {
            tracing::error!(%error, reason, "librdkafka error in a bench client");
        }
    }
}

impl rdkafka::consumer::ConsumerContext for EndIsNews {}

type RawConsumer = BaseConsumer<EndIsNews>;

/// A `read_committed` consumer's settings that commits nothing (`group` only names it).
fn read_committed(kafka: &KafkaSettings, group: &str) -> rdkafka::ClientConfig {
    let mut config = kafka.client_config();
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed");
    // The processor's read-ahead bounds, so the ceiling reads the way `process` does.
    super::consumer::bound_read_ahead(&mut config, kafka);
    config
}

/// A consumer of `config` assigned every partition of `topic` from the beginning.
fn assigned(
    kafka: &KafkaSettings,
    config: rdkafka::ClientConfig,
    topic: &str,
    partitions: &[i32],
) -> Result<RawConsumer, KafkaAdapterError> {
    let consumer: RawConsumer = config
        .create_with_context(EndIsNews)
        .map_err(|e| kafka.create_error("bench consumer", e))?;
    let mut list = TopicPartitionList::new();
    for p in partitions {
        list.add_partition_offset(topic, *p, Offset::Beginning)
            .map_err(|e| operation(kafka, "the bench consumer's assignment", e))?;
    }
    consumer
        .assign(&list)
        .map_err(|e| operation(kafka, "the bench consumer's assignment", e))?;
    Ok(consumer)
}

/// `(partition, offset, when)`: when the observer first saw each record.
pub type Sightings = Vec<(i32, i64, Instant)>;

/// Notes when each record of a topic becomes visible to `read_committed`, until
/// [`Observer::finish`].
pub struct Observer {
    stop: Arc<AtomicBool>,
    seen: JoinHandle<Result<Sightings, KafkaAdapterError>>,
}

impl Observer {
    pub fn start(
        kafka: &KafkaSettings,
        topic: &str,
        timeout: Duration,
    ) -> Result<Observer, KafkaAdapterError> {
        let partitions = topic_partitions(kafka, topic, timeout)?;
        let mut config = read_committed(kafka, "eosflow-bench-observer");
        config.set("fetch.wait.max.ms", "5");
        let consumer = assigned(kafka, config, topic, &partitions)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (flag, kafka) = (stop.clone(), kafka.clone());
        let seen = std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                match consumer.poll(Duration::from_millis(20)) {
                    Some(Ok(m)) => seen.push((m.partition(), m.offset(), Instant::now())),
                    Some(Err(e)) => return Err(operation(&kafka, "the bench observer's poll", e)),
                    None => {}
                }
            }
            Ok(seen)
        });
        Ok(Observer { stop, seen })
    }

    /// Stop, and every record seen.
    pub fn finish(self) -> Result<Sightings, KafkaAdapterError> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.seen.join().unwrap_or_else(|_| {
            Err(KafkaAdapterError::Incomplete {
                operation: "the bench observer",
                bootstrap: String::new(),
                detail: "its thread panicked".into(),
            })
        })
    }
}
