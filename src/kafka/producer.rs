//! The page producer: one chunk of records per Kafka transaction.
//!
//! `transactional`: begin → send every record → drain deliveries ourselves (librdkafka's commit
//! would otherwise flush with a fixed 100 ms poll, see GROUND.md) → commit. Failures are classified
//! and handed to [`crate::core::producer::on_failure`], whose decision this adapter carries out.
//! `idempotent` (brokers without transactions): send → drain → check every delivery report; a
//! failed chunk is sent again whole, and the deterministic keys make the repeat harmless.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use tracing::{debug, warn};

use super::{KafkaAdapterError, KafkaSettings};
use crate::core::producer::{on_failure, TxnAction, TxnFailure};

/// How records reach the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryMode {
    /// One Kafka transaction per chunk; `init_transactions` fences older instances of the id.
    Transactional { transactional_id: String },
    /// Idempotent producer only, for brokers without transactions (e.g. tansu 0.6.0).
    Idempotent,
}

/// One Kafka record: key (the UUIDv5 as text) and framed Avro value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub key: String,
    pub value: Vec<u8>,
}

/// Counters of what the producer did, for summaries and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProducerStats {
    pub chunks: u64,
    pub records: u64,
    pub aborts: u64,
    pub reinits: u64,
    pub resends: u64,
}

#[derive(Clone, Default)]
struct DeliveryContext {
    failures: Arc<Mutex<Vec<String>>>,
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        if let Err((e, _)) = result {
            if let Ok(mut failures) = self.failures.lock() {
                failures.push(e.to_string());
            }
        }
    }
}

/// A producer of chunks to one topic.
pub struct PageProducer {
    settings: KafkaSettings,
    mode: DeliveryMode,
    topic: String,
    timeout: Duration,
    max_attempts: u32,
    context: DeliveryContext,
    producer: BaseProducer<DeliveryContext>,
    stats: ProducerStats,
}

/// Why one attempt at a chunk failed.
struct Failure {
    class: TxnFailure,
    detail: String,
}

impl PageProducer {
    /// Create the producer and, for transactional delivery, initialise transactions (fencing any
    /// older producer with the same transactional.id).
    pub fn new(
        settings: &KafkaSettings,
        mode: DeliveryMode,
        topic: &str,
        timeout: Duration,
    ) -> Result<Self, KafkaAdapterError> {
        let context = DeliveryContext::default();
        let producer = create(settings, &mode, &context, timeout)?;
        Ok(PageProducer {
            settings: settings.clone(),
            mode,
            topic: topic.to_string(),
            timeout,
            max_attempts: 5,
            context,
            producer,
            stats: ProducerStats::default(),
        })
    }

    pub fn stats(&self) -> ProducerStats {
        self.stats
    }

    /// The underlying client, for tests that inject faults into a mock cluster.
    pub fn client(&self) -> &BaseProducer<impl ProducerContext> {
        &self.producer
    }

    /// Write `records` as one unit: one transaction, or one acknowledged batch. Retries as the
    /// core decides; `describe` is `(page, from, to)` for error messages.
    pub fn send_chunk(
        &mut self,
        records: &[OutRecord],
        describe: (u64, u32, u32),
    ) -> Result<(), KafkaAdapterError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(records) {
                Ok(()) => {
                    self.stats.chunks += 1;
                    self.stats.records += records.len() as u64;
                    return Ok(());
                }
                Err(f) => f,
            };
            let action = on_failure(failure.class, attempt, self.max_attempts);
            warn!(attempt, class = ?failure.class, ?action, error = %failure.detail, "chunk failed");
            match action {
                TxnAction::RetryStep | TxnAction::AbortAndRetryChunk => self.abort_open()?,
                TxnAction::ReinitAndRetryChunk => self.reinit()?,
                TxnAction::Exit if failure.class == TxnFailure::Fenced => {
                    return Err(KafkaAdapterError::Fenced {
                        transactional_id: self.transactional_id().unwrap_or_default(),
                    })
                }
                TxnAction::Exit => {
                    let (page, from, to) = describe;
                    return Err(KafkaAdapterError::GaveUp {
                        page,
                        from,
                        to,
                        attempts: attempt,
                        last: failure.detail,
                    });
                }
            }
            self.stats.resends += 1;
        }
    }

    fn transactional_id(&self) -> Option<String> {
        match &self.mode {
            DeliveryMode::Transactional { transactional_id } => Some(transactional_id.clone()),
            DeliveryMode::Idempotent => None,
        }
    }

    fn attempt(&mut self, records: &[OutRecord]) -> Result<(), Failure> {
        let transactional = matches!(self.mode, DeliveryMode::Transactional { .. });
        // Reports of an earlier, aborted attempt must not count against this one.
        self.drain()?;
        self.take_failures();
        if transactional {
            self.producer.begin_transaction().map_err(classify)?;
        }
        for record in records {
            self.send_one(record).map_err(classify)?;
        }
        self.drain()?;
        let failed = self.take_failures();
        if !failed.is_empty() {
            return Err(Failure {
                class: TxnFailure::Abortable,
                detail: format!("{} deliveries failed, first: {}", failed.len(), failed[0]),
            });
        }
        if transactional {
            // Deliveries are drained, so librdkafka's flush inside commit returns at once.
            let mut tries = 0;
            loop {
                match self.producer.commit_transaction(self.timeout) {
                    Ok(()) => break,
                    Err(e) => {
                        let failure = classify(e);
                        tries += 1;
                        if failure.class == TxnFailure::Retriable && tries < 3 {
                            debug!(error = %failure.detail, "retrying commit");
                            continue;
                        }
                        return Err(failure);
                    }
                }
            }
        }
        Ok(())
    }

    fn send_one(&self, record: &OutRecord) -> Result<(), KafkaError> {
        let mut base = BaseRecord::to(&self.topic)
            .key(record.key.as_str())
            .payload(record.value.as_slice());
        loop {
            match self.producer.send(base) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    base = back;
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Serve delivery reports until nothing is in flight, polling with short timeouts.
    fn drain(&self) -> Result<(), Failure> {
        let deadline = Instant::now() + self.timeout;
        while self.producer.in_flight_count() > 0 {
            if Instant::now() >= deadline {
                return Err(Failure {
                    class: TxnFailure::Abortable,
                    detail: format!(
                        "{} records still unacknowledged after {:?}",
                        self.producer.in_flight_count(),
                        self.timeout
                    ),
                });
            }
            self.producer.poll(Duration::from_millis(1));
        }
        Ok(())
    }

    fn take_failures(&self) -> Vec<String> {
        self.context
            .failures
            .lock()
            .map(|mut f| std::mem::take(&mut *f))
            .unwrap_or_default()
    }

    fn abort_open(&mut self) -> Result<(), KafkaAdapterError> {
        if !matches!(self.mode, DeliveryMode::Transactional { .. }) {
            return Ok(());
        }
        self.stats.aborts += 1;
        match self.producer.abort_transaction(self.timeout) {
            Ok(()) => Ok(()),
            // No transaction open (begin failed), or the abort itself failed: start afresh.
            Err(e) => {
                debug!(error = %e, "abort failed; re-initialising the producer");
                self.reinit()
            }
        }
    }

    fn reinit(&mut self) -> Result<(), KafkaAdapterError> {
        self.stats.reinits += 1;
        self.producer = create(&self.settings, &self.mode, &self.context, self.timeout)?;
        Ok(())
    }
}

fn create(
    settings: &KafkaSettings,
    mode: &DeliveryMode,
    context: &DeliveryContext,
    timeout: Duration,
) -> Result<BaseProducer<DeliveryContext>, KafkaAdapterError> {
    let mut config = settings.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", timeout.as_millis().to_string());
    if let DeliveryMode::Transactional { transactional_id } = mode {
        config
            .set("transactional.id", transactional_id)
            .set("transaction.timeout.ms", "60000");
    }
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    let producer: BaseProducer<DeliveryContext> = config
        .create_with_context(context.clone())
        .map_err(|source| KafkaAdapterError::Create {
            what: "producer",
            bootstrap: settings.bootstrap.clone(),
            source,
        })?;
    if let DeliveryMode::Transactional { transactional_id } = mode {
        producer.init_transactions(timeout).map_err(|e| {
            let failure = classify(e);
            match failure.class {
                TxnFailure::Fenced => KafkaAdapterError::Fenced {
                    transactional_id: transactional_id.clone(),
                },
                _ => KafkaAdapterError::Unreachable {
                    bootstrap: settings.bootstrap.clone(),
                    operation: "InitProducerId (init_transactions)",
                    timeout_ms: timeout.as_millis() as u64,
                    detail: failure.detail,
                },
            }
        })?;
    }
    Ok(producer)
}

fn classify(e: KafkaError) -> Failure {
    let detail = e.to_string();
    let class = match &e {
        KafkaError::Transaction(rd) => {
            let fenced = matches!(
                rd.code(),
                RDKafkaErrorCode::Fenced
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::TransactionCoordinatorFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
            );
            let timed_out = matches!(
                rd.code(),
                RDKafkaErrorCode::OperationTimedOut | RDKafkaErrorCode::RequestTimedOut
            );
            if fenced {
                TxnFailure::Fenced
            } else if rd.txn_requires_abort() {
                TxnFailure::Abortable
            } else if rd.is_retriable() {
                TxnFailure::Retriable
            } else if timed_out {
                TxnFailure::Unknown
            } else if rd.is_fatal() {
                TxnFailure::Fatal
            } else {
                TxnFailure::Abortable
            }
        }
        _ => TxnFailure::Abortable,
    };
    Failure { class, detail }
}
