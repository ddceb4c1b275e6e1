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
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig,
};
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

/// One Kafka record: destination topic, key, value (either may be null) and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    pub topic: String,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Vec<u8>)>,
}

impl OutRecord {
    pub fn new(topic: &str, key: impl Into<Vec<u8>>, value: Vec<u8>) -> Self {
        OutRecord {
            topic: topic.to_string(),
            key: Some(key.into()),
            value: Some(value),
            headers: Vec::new(),
        }
    }

    /// A record with exactly the given key and value, null ones included (dead letters).
    pub fn raw(topic: &str, key: Option<&[u8]>, value: Option<&[u8]>) -> Self {
        OutRecord {
            topic: topic.to_string(),
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            headers: Vec::new(),
        }
    }

    pub fn header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// What one unit of work writes: records (data and rejects, any topics) and, last, the progress
/// record that says the unit is done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Chunk {
    pub records: Vec<OutRecord>,
    pub progress: Option<OutRecord>,
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
    timeout: Duration,
    max_attempts: u32,
    context: DeliveryContext,
    producer: BaseProducer<DeliveryContext>,
    stats: ProducerStats,
    /// How long the last successful commit_transaction took (until taken).
    commit_latency: Option<Duration>,
}

/// How long [`PageProducer::drain`] waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    All,
    UntilFailure,
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
        timeout: Duration,
    ) -> Result<Self, KafkaAdapterError> {
        let context = DeliveryContext::default();
        let producer = create(settings, &mode, &context, timeout)?;
        Ok(PageProducer {
            settings: settings.clone(),
            mode,
            timeout,
            max_attempts: 5,
            context,
            producer,
            stats: ProducerStats::default(),
            commit_latency: None,
        })
    }

    pub fn stats(&self) -> ProducerStats {
        self.stats
    }

    /// How long the last committed transaction's commit took (retries of the commit call
    /// included), once per commit: None afterwards, and with idempotent delivery.
    pub fn take_commit_latency(&mut self) -> Option<Duration> {
        self.commit_latency.take()
    }

    /// The underlying client, for tests that inject faults into a mock cluster.
    pub fn client(&self) -> &BaseProducer<impl ProducerContext> {
        &self.producer
    }

    /// Write a chunk as one unit: one transaction (records and progress together), or — idempotent
    /// delivery — the records acknowledged, then the progress record. Retries as the core decides;
    /// `describe` is `(page, from, to)` for error messages.
    pub fn send_chunk(
        &mut self,
        chunk: &Chunk,
        describe: (u64, u32, u32),
    ) -> Result<(), KafkaAdapterError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let failure = match self.attempt(chunk) {
                Ok(()) => {
                    self.stats.chunks += 1;
                    self.stats.records += chunk.records.len() as u64;
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

    fn attempt(&mut self, chunk: &Chunk) -> Result<(), Failure> {
        let transactional = matches!(self.mode, DeliveryMode::Transactional { .. });
        // Reports of an earlier, aborted attempt must not count against this one.
        self.drain(Wait::All)?;
        self.take_failures();
        if transactional {
            self.producer.begin_transaction().map_err(classify)?;
        }
        self.send_acknowledged(&chunk.records)?;
        if let Some(progress) = &chunk.progress {
            // In a transaction this commits atomically with the records; without one it is only
            // sent once every record above was acknowledged.
            self.send_acknowledged(std::slice::from_ref(progress))?;
        }
        if transactional {
            // Deliveries are drained, so librdkafka's flush inside commit returns at once.
            let mut tries = 0;
            let committing = Instant::now();
            loop {
                match self.producer.commit_transaction(self.timeout) {
                    Ok(()) => {
                        self.commit_latency = Some(committing.elapsed());
                        break;
                    }
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

    /// Send records and wait until every delivery report is in; any failed delivery fails.
    fn send_acknowledged(&self, records: &[OutRecord]) -> Result<(), Failure> {
        for record in records {
            self.send_one(record).map_err(classify)?;
        }
        self.drain(Wait::UntilFailure)?;
        let failed = self.take_failures();
        if failed.is_empty() {
            Ok(())
        } else {
            Err(Failure {
                class: TxnFailure::Abortable,
                detail: format!("{} deliveries failed, first: {}", failed.len(), failed[0]),
            })
        }
    }

    fn send_one(&self, record: &OutRecord) -> Result<(), KafkaError> {
        let mut base: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&record.topic);
        if let Some(key) = &record.key {
            base = base.key(key.as_slice());
        }
        if let Some(value) = &record.value {
            base = base.payload(value.as_slice());
        }
        if !record.headers.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
            for (name, value) in &record.headers {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(value.as_slice()),
                });
            }
            base = base.headers(headers);
        }
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

    /// Serve delivery reports until nothing is in flight, polling with short timeouts. Inside a
    /// transaction, the first failed delivery ends the wait: librdkafka holds the remaining
    /// messages of an abortable transaction until it is aborted, so they would never drain.
    /// `Wait::All` waits for every report regardless (after a purge, before a new attempt).
    fn drain(&self, wait: Wait) -> Result<(), Failure> {
        let deadline = Instant::now() + self.timeout;
        let transactional = matches!(self.mode, DeliveryMode::Transactional { .. });
        while self.producer.in_flight_count() > 0 {
            if wait == Wait::UntilFailure && transactional && self.has_failures() {
                return Err(Failure {
                    class: TxnFailure::Abortable,
                    detail: format!(
                        "a delivery failed with {} records still in flight: {}",
                        self.producer.in_flight_count(),
                        self.first_failure()
                    ),
                });
            }
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

    fn has_failures(&self) -> bool {
        self.context.failures.lock().is_ok_and(|f| !f.is_empty())
    }

    fn first_failure(&self) -> String {
        self.context
            .failures
            .lock()
            .ok()
            .and_then(|f| f.first().cloned())
            .unwrap_or_default()
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
        // librdkafka's abort waits until every outstanding message's delivery report has been
        // served, but nothing polls during that blocking call: purge, serve the reports here,
        // then abort (otherwise each abort runs into its full timeout).
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        if let Err(f) = self.drain(Wait::All) {
            debug!(error = %f.detail, "purged messages still unacknowledged before abort");
        }
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
        .map_err(|source| settings.create_error("producer", source))?;
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
