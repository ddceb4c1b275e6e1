//! The sink on a thread of its own: while it writes one batch (rows and next offsets in one
//! sink transaction), the poll loop reads and decodes the next. One batch in flight, one filling:
//! the loop waits for the batch in flight before it hands over the next, so memory stays at two
//! batches however slow the database is.
//!
//! The core ([`crate::core::processor`]) keeps the batch in flight apart until the loop reports
//! it committed, so nothing is lost or applied twice if the write fails or the process dies with a
//! batch in flight: the sink's offsets are the truth, and they move only with their rows.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing::warn;

use crate::core::Partition;
use crate::sink::{Sink, SinkBatch, SinkError};

/// The sink, shared by the writer thread and the loop (which uses it only with nothing in
/// flight: offsets on assignment, skipped ranges, the position named in an error).
pub(super) type SharedSink = Arc<Mutex<Box<dyn Sink>>>;

/// Lock the sink. A panic inside a sink call leaves it as it was; the next call finds out.
pub(super) fn lock_sink(sink: &SharedSink) -> MutexGuard<'_, Box<dyn Sink>> {
    sink.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// How many times one batch is tried before the sink counts as stopped, and the pause before
/// each retry (times the attempt number).
const ATTEMPTS: u32 = 3;
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// Commit `batch`, retrying a failed attempt (the sink rolled it back) up to [`ATTEMPTS`] times.
pub(super) fn commit_with_retries(sink: &mut dyn Sink, batch: &SinkBatch) -> Result<(), SinkError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match sink.commit(batch) {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS => {
                warn!(attempt, error = %e, "sink commit failed; retrying the same batch");
                std::thread::sleep(RETRY_PAUSE * attempt);
            }
            Err(e) => return Err(e),
        }
    }
}

/// A batch handed to the writer thread.
struct Job {
    batch: SinkBatch,
    /// An injected stall before the commit (`--inject-sink-stall`).
    stall: Option<Duration>,
}

/// What the writer thread reports for a batch.
pub(super) struct Landed {
    pub(super) rows: u64,
    pub(super) next_offsets: BTreeMap<Partition, i64>,
    /// From the hand-over to the end of the commit.
    pub(super) took: Duration,
    pub(super) result: Result<(), SinkError>,
}

/// The writer thread and the one batch it may hold.
pub(super) struct Writer {
    jobs: Option<mpsc::SyncSender<Job>>,
    landed: mpsc::Receiver<Landed>,
    thread: Option<JoinHandle<()>>,
    in_flight: Option<u64>,
    /// Batches handed over so far (1-based numbering of the injected stall).
    submitted: u64,
}

impl Writer {
    pub(super) fn spawn(sink: SharedSink) -> std::io::Result<Writer> {
        // Capacity 1: with the loop waiting for each batch before the next, never more.
        let (jobs, queue) = mpsc::sync_channel::<Job>(1);
        let (report, landed) = mpsc::channel::<Landed>();
        let thread = std::thread::Builder::new()
            .name("eosflow-sink".into())
            .spawn(move || {
                for job in queue {
                    let started = Instant::now();
                    if let Some(stall) = job.stall {
                        warn!(
                            ?stall,
                            "injected fault: the sink stalls before committing this batch"
                        );
                        std::thread::sleep(stall);
                    }
                    let result = commit_with_retries(lock_sink(&sink).as_mut(), &job.batch);
                    let landed = Landed {
                        rows: job.batch.rows.len() as u64,
                        next_offsets: job.batch.next_offsets,
                        took: started.elapsed(),
                        result,
                    };
                    if report.send(landed).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Writer {
            jobs: Some(jobs),
            landed,
            thread: Some(thread),
            in_flight: None,
            submitted: 0,
        })
    }

    /// The number the next batch will have (1-based).
    pub(super) fn next_number(&self) -> u64 {
        self.submitted + 1
    }

    /// Rows of the batch in flight (0 when none).
    pub(super) fn rows_in_flight(&self) -> u64 {
        self.in_flight.unwrap_or(0)
    }

    /// Hand `batch` to the thread. The caller has waited for the one before ([`Self::wait`]).
    pub(super) fn submit(&mut self, batch: SinkBatch, stall: Option<Duration>) {
        debug_assert!(self.in_flight.is_none(), "one batch in flight at a time");
        let rows = batch.rows.len() as u64;
        self.submitted += 1;
        if let Some(jobs) = &self.jobs {
            // A thread that is gone takes nothing and reports nothing: `wait` says so.
            let _ = jobs.send(Job { batch, stall });
        }
        self.in_flight = Some(rows);
    }

    /// Wait for the batch in flight (None when there is none).
    pub(super) fn wait(&mut self) -> Option<Landed> {
        self.in_flight?;
        self.in_flight = None;
        Some(self.landed.recv().unwrap_or_else(|_| gone()))
    }

    /// The batch in flight, if it has landed already.
    pub(super) fn poll(&mut self) -> Option<Landed> {
        self.in_flight?;
        let landed = match self.landed.try_recv() {
            Ok(landed) => landed,
            Err(mpsc::TryRecvError::Empty) => return None,
            Err(mpsc::TryRecvError::Disconnected) => gone(),
        };
        self.in_flight = None;
        Some(landed)
    }
}

/// What a batch handed to a thread that died (a panic in the sink) comes back as.
fn gone() -> Landed {
    Landed {
        rows: 0,
        next_offsets: BTreeMap::new(),
        took: Duration::ZERO,
        result: Err(SinkError::Operation {
            sink: "sink".into(),
            operation: "commit",
            detail: "the sink's writer thread ended unexpectedly (a panic inside the database client; see the log above)".into(),
        }),
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        // Closing the queue ends the thread after the batch it holds.
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::migrate::Wanted;
    use crate::sink::{IdCounts, SchemaPlan, SkippedRange, Tables};
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A sink whose commits wait for `gate` and fail while `failing` says so.
    struct Gated {
        gate: mpsc::Receiver<()>,
        failing: bool,
        attempts: Arc<AtomicU32>,
    }

    impl Sink for Gated {
        fn describe(&self) -> String {
            "gated".into()
        }
        fn ensure_schema(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn load_offsets(&mut self, _: &str, _: &str) -> Result<BTreeMap<i32, i64>, SinkError> {
            Ok(BTreeMap::new())
        }
        fn commit(&mut self, _: &SinkBatch) -> Result<(), SinkError> {
            self.attempts.fetch_add(1, Ordering::SeqCst);
            let _ = self.gate.recv();
            if self.failing {
                return Err(SinkError::Operation {
                    sink: "gated".into(),
                    operation: "commit",
                    detail: "refused".into(),
                });
            }
            Ok(())
        }
        fn reset_offsets(&mut self, _: &str, _: &str) -> Result<(), SinkError> {
            Ok(())
        }
        fn skipped(&mut self, _: &str) -> Result<Vec<SkippedRange>, SinkError> {
            Ok(Vec::new())
        }
        fn id_counts(&mut self) -> Result<IdCounts, SinkError> {
            Ok(IdCounts::new())
        }
        fn get(&mut self, _: uuid::Uuid) -> Result<Option<crate::model::User>, SinkError> {
            Ok(None)
        }
        fn tables(&mut self) -> Result<Tables, SinkError> {
            Ok(Tables::new("u", true, "o", true))
        }
        fn plan_schema(&mut self, _: &[Wanted]) -> Result<SchemaPlan, SinkError> {
            Ok(SchemaPlan::of("u", &[], Ok(Vec::new()), Vec::new, |_| {
                Vec::new()
            }))
        }
    }

    fn writer(failing: bool) -> (Writer, mpsc::Sender<()>, Arc<AtomicU32>) {
        let (open, gate) = mpsc::channel();
        let attempts = Arc::new(AtomicU32::new(0));
        let sink: Box<dyn Sink> = Box::new(Gated {
            gate,
            failing,
            attempts: attempts.clone(),
        });
        let w = Writer::spawn(Arc::new(Mutex::new(sink))).expect("thread");
        (w, open, attempts)
    }

    fn batch(next: i64) -> SinkBatch {
        SinkBatch {
            group: "g".into(),
            topic: "t".into(),
            rows: Vec::new(),
            next_offsets: BTreeMap::from([(0, next)]),
            skipped: Vec::new(),
        }
    }

    #[test]
    fn a_batch_lands_only_when_the_sink_commits_it() {
        let (mut w, open, _) = writer(false);
        assert!(
            w.poll().is_none() && w.wait().is_none(),
            "nothing in flight"
        );
        w.submit(batch(7), None);
        assert_eq!(w.next_number(), 2);
        assert!(w.poll().is_none(), "the sink has not committed yet");
        open.send(()).expect("gate");
        let landed = w.wait().expect("in flight");
        assert!(landed.result.is_ok());
        assert_eq!(landed.next_offsets, BTreeMap::from([(0, 7)]));
        assert!(w.wait().is_none(), "landed once");
    }

    #[test]
    fn a_failing_sink_is_tried_three_times_then_reported() {
        let (mut w, open, attempts) = writer(true);
        w.submit(batch(3), None);
        for _ in 0..ATTEMPTS {
            open.send(()).expect("gate");
        }
        let landed = w.wait().expect("in flight");
        assert!(landed.result.is_err());
        assert_eq!(attempts.load(Ordering::SeqCst), ATTEMPTS);
    }
}
