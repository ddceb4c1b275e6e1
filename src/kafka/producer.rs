//! The page producer: one [`Delivery`] (a page range's records and its progress record) per Kafka
//! transaction.
//!
//! `transactional`: begin → send every record → drain deliveries ourselves (librdkafka's commit
//! would otherwise flush with a fixed 100 ms poll, see GROUND.md) → commit. Failures are classified
//! and handed to [`crate::core::producer::on_failure`], whose decision this adapter carries out.
//! `idempotent` (brokers without transactions): send → drain → check every delivery report; a
//! failed chunk is sent again whole, and the deterministic keys make the repeat harmless.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{
    BaseRecord, DeliveryResult, Producer, ProducerContext, PurgeConfig, ThreadedProducer,
};
use tracing::{debug, warn};

use super::{KafkaAdapterError, KafkaSettings};
use crate::core::producer::{on_failure, TxnAction, TxnFailure};

/// How records reach the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryMode {
    /// One Kafka transaction per chunk; `init_transactions` fences older instances of the id. A
    /// transaction open longer than `transaction_timeout` is aborted by the broker.
    Transactional {
        transactional_id: String,
        transaction_timeout: Duration,
    },
    /// Idempotent producer only, for brokers without transactions (e.g. tansu 0.6.0).
    Idempotent,
}

impl DeliveryMode {
    /// Transactional delivery with the default transaction timeout.
    pub fn transactional(transactional_id: impl Into<String>) -> Self {
        DeliveryMode::Transactional {
            transactional_id: transactional_id.into(),
            transaction_timeout: DEFAULT_TRANSACTION_TIMEOUT,
        }
    }
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

/// What one transaction (one acknowledged unit, with idempotent delivery) writes: records (data
/// and rejects, any topics) and, last, the progress record that says the unit is done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivery {
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

/// What one producer sent and what the broker answered, shared with librdkafka's polling
/// thread, which reports each delivery and wakes [`PageProducer::drain`] (no fixed poll
/// interval: a transaction commits as soon as its last record is acknowledged).
#[derive(Clone, Default)]
struct DeliveryContext {
    state: Arc<(Mutex<Deliveries>, Condvar)>,
}

#[derive(Default)]
struct Deliveries {
    sent: u64,
    reported: u64,
    failures: Vec<String>,
}

impl DeliveryContext {
    fn lock(&self) -> MutexGuard<'_, Deliveries> {
        self.state.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl ClientContext for DeliveryContext {}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: Self::DeliveryOpaque) {
        let mut d = self.lock();
        d.reported += 1;
        if let Err((e, _)) = result {
            d.failures.push(e.to_string());
        }
        self.state.1.notify_all();
    }
}

/// Wait (at most `timeout`) until librdkafka counts no message of `producer` as outstanding.
///
/// librdkafka lowers its count only when the polling thread releases a delivery-report event, a
/// moment after the callback ran. rust-rdkafka's `flush` (also the one inside
/// `commit_transaction`) polls in whole 100 ms steps when it finds the count above 0, so losing
/// that race cost a commit 100 ms (every other commit, measured by `bench`). librdkafka's own
/// flush waits on a condition variable signalled when the count reaches 0, without serving the
/// queue (the `ThreadedProducer`'s thread does), so a rust-rdkafka flush after it returns at once.
pub(crate) fn await_reports_served<C: ProducerContext>(
    producer: &ThreadedProducer<C>,
    timeout: Duration,
) {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the handle is alive for `&producer`; rd_kafka_flush is thread-safe and, with the
    // event API rust-rdkafka enables, only waits.
    let _ = unsafe { rdkafka::bindings::rd_kafka_flush(producer.client().native_ptr(), ms) };
}

/// Where the delivery of a chunk stands, told to a watcher ([`PageProducer::watch`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Transaction begun (transactional) or not; records being sent and acknowledged.
    Sending,
    /// `commit_transaction` called (transactional delivery only).
    Committing,
}

/// A producer of chunks to one topic.
pub struct PageProducer {
    settings: KafkaSettings,
    mode: DeliveryMode,
    timeout: Duration,
    max_attempts: u32,
    context: DeliveryContext,
    producer: ThreadedProducer<DeliveryContext>,
    stats: ProducerStats,
    /// How long the last successful commit_transaction took (until taken).
    commit_latency: Option<Duration>,
    /// `transaction.timeout.ms` as the broker will apply it.
    transaction_timeout: Duration,
    /// When the open transaction began.
    began: Option<Instant>,
    /// A fault to inject: sleep this long inside the next transaction, before its commit.
    stall_next_commit: Option<Duration>,
    /// Told each [`Phase`] of every attempt (the status page).
    watcher: Option<Box<dyn Fn(Phase) + Send + Sync>>,
}

/// `transaction.timeout.ms` unless `--transaction-timeout` says otherwise.
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(60);

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
        let transaction_timeout = match &mode {
            DeliveryMode::Transactional {
                transaction_timeout,
                ..
            } => *transaction_timeout,
            DeliveryMode::Idempotent => DEFAULT_TRANSACTION_TIMEOUT,
        };
        Ok(PageProducer {
            settings: settings.clone(),
            mode,
            timeout,
            max_attempts: 5,
            context,
            producer,
            stats: ProducerStats::default(),
            commit_latency: None,
            transaction_timeout,
            began: None,
            stall_next_commit: None,
            watcher: None,
        })
    }

    /// Tell `watcher` each phase of every delivery attempt.
    pub fn watch(&mut self, watcher: impl Fn(Phase) + Send + Sync + 'static) {
        self.watcher = Some(Box::new(watcher));
    }

    fn tell(&self, phase: Phase) {
        if let Some(watcher) = &self.watcher {
            watcher(phase);
        }
    }

    /// Fault injection: the next transaction sleeps `stall` after its records are acknowledged
    /// and before its commit (a producer stuck inside a transaction, e.g. a long GC pause).
    pub fn stall_next_commit(&mut self, stall: Duration) {
        self.stall_next_commit = Some(stall);
    }

    /// Fault injection: write `delivery` in a transaction and abort it (transactional delivery
    /// only). A `read_committed` reader must never see any of it.
    pub fn deliver_aborted(&mut self, delivery: &Delivery) -> Result<(), KafkaAdapterError> {
        let failed = |what: &'static str, e: KafkaError| KafkaAdapterError::Operation {
            operation: what,
            bootstrap: self.settings.bootstrap.clone(),
            source: e,
        };
        self.producer
            .begin_transaction()
            .map_err(|e| failed("begin_transaction (injected abort)", e))?;
        for record in delivery.records.iter().chain(&delivery.progress) {
            self.send_one(record)
                .map_err(|e| failed("send (injected abort)", e))?;
        }
        // Acknowledged, so the aborted records are really in the log (behind an abort marker).
        if let Err(f) = self.drain(Wait::All) {
            debug!(error = %f.detail, "injected abort: deliveries not all acknowledged");
        }
        self.take_failures();
        self.stats.aborts += 1;
        self.producer
            .abort_transaction(self.timeout)
            .map_err(|e| failed("abort_transaction (injected abort)", e))
    }

    pub fn stats(&self) -> ProducerStats {
        self.stats
    }

    /// How long the last committed transaction's commit took (retries of the commit call
    /// included), once per commit: None afterwards, and with idempotent delivery.
    pub fn take_commit_latency(&mut self) -> Option<Duration> {
        self.commit_latency.take()
    }

    /// Write a chunk as one unit: one transaction (records and progress together), or — idempotent
    /// delivery — the records acknowledged, then the progress record. Retries as the core decides;
    /// `describe` is `(page, from, to)` for error messages.
    pub fn deliver(
        &mut self,
        chunk: &Delivery,
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
            // A fenced producer is fenced whatever step noticed it (a delivery, an abort): never
            // re-initialise then, or two instances would fence each other in turn.
            let failure = match self.fenced() {
                Some(detail) => Failure {
                    class: TxnFailure::Fenced,
                    detail,
                },
                None => failure,
            };
            let action = on_failure(failure.class, attempt, self.max_attempts);
            warn!(attempt, class = ?failure.class, ?action, error = %failure.detail, "chunk failed");
            match action {
                TxnAction::RetryStep | TxnAction::AbortAndRetryChunk => self.abort_open()?,
                TxnAction::ReinitAndRetryChunk => self.reinit()?,
                TxnAction::Exit if failure.class == TxnFailure::Fenced => {
                    let transactional_id = self.transactional_id().unwrap_or_default();
                    // The broker also bumps the epoch when it aborts a transaction that outlived
                    // transaction.timeout.ms: then no other producer is to blame.
                    let open = self.began.map(|b| b.elapsed()).unwrap_or_default();
                    if open > self.transaction_timeout {
                        return Err(KafkaAdapterError::TransactionTimedOut {
                            transactional_id,
                            open_ms: open.as_millis() as u64,
                            timeout_ms: self.transaction_timeout.as_millis() as u64,
                        });
                    }
                    return Err(KafkaAdapterError::Fenced { transactional_id });
                }
                TxnAction::Exit => {
                    let (page, from, to) = describe;
                    return Err(KafkaAdapterError::GaveUp {
                        page,
                        from,
                        to,
                        attempts: attempt,
                        last: with_hint(failure.detail),
                    });
                }
            }
            self.stats.resends += 1;
        }
    }

    fn transactional_id(&self) -> Option<String> {
        match &self.mode {
            DeliveryMode::Transactional {
                transactional_id, ..
            } => Some(transactional_id.clone()),
            DeliveryMode::Idempotent => None,
        }
    }

    fn attempt(&mut self, chunk: &Delivery) -> Result<(), Failure> {
        let transactional = matches!(self.mode, DeliveryMode::Transactional { .. });
        // Reports of an earlier, aborted attempt must not count against this one.
        self.drain(Wait::All)?;
        self.take_failures();
        self.tell(Phase::Sending);
        if transactional {
            self.producer.begin_transaction().map_err(classify)?;
            self.began = Some(Instant::now());
        }
        let sending = Instant::now();
        if transactional {
            // The progress record commits atomically with the records: one round of
            // acknowledgements for both.
            let progress = chunk.progress.iter();
            self.send_acknowledged(chunk.records.iter().chain(progress))?;
        } else {
            // Without a transaction the progress record is sent only once every record above
            // was acknowledged.
            self.send_acknowledged(chunk.records.iter())?;
            self.send_acknowledged(chunk.progress.iter())?;
        }
        let acknowledged = sending.elapsed();
        if let Some(stall) = self.stall_next_commit.take() {
            warn!(
                ?stall,
                "injected fault: stalling inside the transaction before its commit"
            );
            std::thread::sleep(stall);
        }
        if transactional {
            let committing = Instant::now();
            self.tell(Phase::Committing);
            // Every delivery is reported by now.
            await_reports_served(&self.producer, self.timeout);
            match self.producer.commit_transaction(self.timeout) {
                Ok(()) => self.commit_latency = Some(committing.elapsed()),
                Err(e) => return Err(commit_failure(classify(e))),
            }
        }
        debug!(
            records = chunk.records.len(),
            ?acknowledged,
            commit = ?self.commit_latency,
            "chunk delivered"
        );
        Ok(())
    }

    /// Send records and wait until every delivery report is in; any failed delivery fails.
    fn send_acknowledged<'r>(
        &self,
        records: impl Iterator<Item = &'r OutRecord>,
    ) -> Result<(), Failure> {
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
                Ok(()) => {
                    self.context.lock().sent += 1;
                    return Ok(());
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    base = back;
                    // The polling thread serves delivery reports; the next one frees room.
                    let d = self.context.lock();
                    drop(
                        self.context
                            .state
                            .1
                            .wait_timeout(d, Duration::from_millis(5)),
                    );
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Wait until every record sent has its delivery report, woken by each report. Inside a
    /// transaction, the first failed delivery ends the wait: librdkafka holds the remaining
    /// messages of an abortable transaction until it is aborted, so they would never drain.
    /// `Wait::All` waits for every report regardless (after a purge, before a new attempt).
    fn drain(&self, wait: Wait) -> Result<(), Failure> {
        let deadline = Instant::now() + self.timeout;
        let transactional = matches!(self.mode, DeliveryMode::Transactional { .. });
        let mut d = self.context.lock();
        while d.reported < d.sent {
            let in_flight = d.sent - d.reported;
            if wait == Wait::UntilFailure && transactional && !d.failures.is_empty() {
                return Err(Failure {
                    class: TxnFailure::Abortable,
                    detail: format!(
                        "a delivery failed with {in_flight} records still in flight: {}",
                        d.failures[0]
                    ),
                });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Failure {
                    class: TxnFailure::Abortable,
                    detail: format!(
                        "{in_flight} records still unacknowledged after {:?}",
                        self.timeout
                    ),
                });
            }
            d = match self.context.state.1.wait_timeout(d, deadline - now) {
                Ok((d, _)) => d,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        Ok(())
    }

    fn take_failures(&self) -> Vec<String> {
        std::mem::take(&mut self.context.lock().failures)
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
            Err(_) if self.fenced().is_some() => Err(KafkaAdapterError::Fenced {
                transactional_id: self.transactional_id().unwrap_or_default(),
            }),
            // No transaction open (begin failed), or the abort itself failed: start afresh.
            Err(e) => {
                debug!(error = %e, "abort failed; re-initialising the producer");
                self.reinit()
            }
        }
    }

    /// Whether librdkafka put this producer in the fatal state because a newer instance of its
    /// transactional.id (or the broker, after a transaction timeout) fenced it.
    fn fenced(&self) -> Option<String> {
        let (code, text) = self.producer.client().fatal_error()?;
        matches!(
            code,
            RDKafkaErrorCode::Fenced
                | RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::TransactionCoordinatorFenced
        )
        .then(|| format!("{code:?}: {text}"))
    }

    /// A new producer with the same transactional.id (init_transactions bumps the epoch and
    /// completes or aborts what the old one left). The coordinator may be the very broker that
    /// did not answer: this keeps asking for three timeouts before it gives up.
    fn reinit(&mut self) -> Result<(), KafkaAdapterError> {
        self.stats.reinits += 1;
        let deadline = Instant::now() + 3 * self.timeout;
        loop {
            // A new producer, a new count: what the old one had in flight died with it.
            let context = DeliveryContext::default();
            match create(&self.settings, &self.mode, &context, self.timeout) {
                Ok(producer) => {
                    self.producer = producer;
                    self.context = context;
                    return Ok(());
                }
                Err(e @ KafkaAdapterError::Unreachable { .. }) if Instant::now() < deadline => {
                    warn!(error = %e, "a new producer could not initialise yet; asking again");
                    std::thread::sleep(Duration::from_millis(500));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// The producer's delivery settings without transactions: idempotent, `acks=all`, and the
/// batching eosflow uses (the bench's raw producer takes the same).
pub(crate) fn idempotent_config(settings: &KafkaSettings, timeout: Duration) -> ClientConfig {
    let mut config = settings.client_config();
    config
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "200000")
        .set("message.timeout.ms", timeout.as_millis().to_string());
    config
}

fn create(
    settings: &KafkaSettings,
    mode: &DeliveryMode,
    context: &DeliveryContext,
    timeout: Duration,
) -> Result<ThreadedProducer<DeliveryContext>, KafkaAdapterError> {
    let mut config = idempotent_config(settings, timeout);
    if let DeliveryMode::Transactional {
        transactional_id,
        transaction_timeout,
    } = mode
    {
        // librdkafka wants message.timeout.ms <= transaction.timeout.ms.
        let message_timeout = timeout.min(*transaction_timeout);
        config
            .set("transactional.id", transactional_id)
            .set(
                "transaction.timeout.ms",
                transaction_timeout.as_millis().to_string(),
            )
            .set(
                "message.timeout.ms",
                message_timeout.as_millis().max(1).to_string(),
            );
    }
    for (k, v) in &settings.properties {
        config.set(k, v);
    }
    let producer: ThreadedProducer<DeliveryContext> =
        config
            .create_with_context(context.clone())
            .map_err(|source| settings.create_error("producer", source))?;
    if let DeliveryMode::Transactional {
        transactional_id, ..
    } = mode
    {
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

/// What a failed `commit_transaction` means. Only two answers are definite: the transaction
/// must be aborted (it did not commit), or this producer is fenced. Anything else (a timeout, a
/// retriable error, a lost coordinator) leaves the outcome unknown, and librdkafka 2.12 speaks the
/// pre-KIP-890 protocol: retrying the commit on the same producer can tear the transaction or let
/// a late write of it land in the next one (Jepsen's Kafka analysis). So the producer is dropped
/// and a new one takes the same transactional.id, whose epoch fences whatever was in flight; the
/// chunk is then written again, which is a replay if it had committed (its users and cursor are
/// the same; a restart replays the last recorded chunk the same way).
fn commit_failure(failure: Failure) -> Failure {
    match failure.class {
        TxnFailure::Abortable | TxnFailure::Fenced => failure,
        _ => Failure {
            class: TxnFailure::Unknown,
            detail: format!("commit outcome unknown: {}", failure.detail),
        },
    }
}

/// A delivery failure with what to do about the causes a user can fix.
fn with_hint(detail: String) -> String {
    let lower = detail.to_ascii_lowercase();
    let hint = if lower.contains("notenoughreplicas") || lower.contains("not enough in-sync") {
        " (the topic's min.insync.replicas is more than the replicas in sync: bring the brokers back, or lower min.insync.replicas; acks=all never writes fewer)"
    } else if lower.contains("timed out") || lower.contains("timedout") {
        " (no broker acknowledged in time: is every broker up? a longer --timeout helps only a slow cluster)"
    } else {
        ""
    };
    format!("{detail}{hint}")
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
