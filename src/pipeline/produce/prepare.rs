//! The chunks of a run, made ready to deliver: the page fetched, every user validated and
//! encoded (Avro, Confluent framing), the rejects and the progress record beside them, and the
//! aborted canary copy when a fault asks for one.
//!
//! Preparing a chunk is a pure function of the cursor (the source is deterministic), so the next
//! chunk can be prepared on a second thread while the current one is delivered and committed
//! ([`ahead`]): without that, generating and encoding 1,000 users (5–8 ms) and delivering them
//! (~10 ms) ran in series. One chunk is prepared ahead at most, so memory stays flat.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use serde_json::json;
use tracing::warn;

use super::ProduceJob;
use crate::avro::UserEncoder;
use crate::core::producer::{Cursor, PageRange, Plan, Progress};
use crate::kafka::producer::{Delivery, OutRecord};
use crate::kafka::progress;
use crate::metrics::Counter;
use crate::pipeline::faults::canary;
use crate::pipeline::{PipelineError, Shutdown};
use crate::source::{Page, PageRequest, Rejection, Source};

/// One chunk, ready to deliver.
pub(super) struct Prepared {
    pub(super) chunk: PageRange,
    /// The cursor after the chunk (what its progress record names).
    pub(super) next: Cursor,
    pub(super) out: Delivery,
    /// An aborted transaction of canary copies to send first (`--inject-abort-ratio`).
    pub(super) canary: Option<Delivery>,
    pub(super) rejects: u64,
    /// Users of the chunk counted against `--count`, and users replayed uncounted.
    pub(super) produced: u64,
    pub(super) replayed: u64,
}

/// The chunks of a run in order, prepared one by one from the plan.
pub(super) struct Chunks<'a> {
    pub(super) job: &'a ProduceJob,
    pub(super) source: &'a mut dyn Source,
    /// Writes the users as framed Avro of the run's schema (compiled once for the run).
    pub(super) encoder: UserEncoder<'a>,
    /// Where this producer began (carried in every progress record).
    pub(super) first: Option<Cursor>,
    pub(super) plan: Plan,
    pub(super) cursor: Cursor,
    pub(super) page: Option<Page>,
    pub(super) pages: &'a Counter,
    pub(super) shutdown: &'a Shutdown,
    /// A chunk failed to prepare: the run ends with that error, nothing after it is made.
    pub(super) failed: bool,
}

impl Iterator for Chunks<'_> {
    type Item = Result<Prepared, PipelineError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.shutdown.requested() {
            return None;
        }
        let chunk = self.plan.next(&self.cursor)?;
        let prepared = self.prepare(chunk);
        match &prepared {
            Ok(p) => self.cursor = p.next.clone(),
            Err(_) => self.failed = true,
        }
        Some(prepared)
    }
}

impl Chunks<'_> {
    fn prepare(&mut self, chunk: PageRange) -> Result<Prepared, PipelineError> {
        let job = self.job;
        let page = fetch(
            self.source,
            (&job.seed, job.page_size),
            &chunk,
            &mut self.page,
            self.pages,
        )?;
        let before = (self.plan.produced(), self.plan.replayed());
        let next = self.plan.committed(&self.cursor, &chunk);
        let source_name = self.source.name().to_string();
        let out = chunk_out(
            job,
            (&source_name, self.first.as_ref()),
            &self.encoder,
            page,
            &chunk,
            &next,
        )?;
        let rejects = out
            .records
            .iter()
            .filter(|r| r.topic == job.side.rejects)
            .count() as u64;
        let canary = if job.faults.aborts(&chunk) {
            let users: Vec<&crate::model::User> = page
                .users
                .iter()
                .filter(|u| chunk.holds(u.source_index))
                .collect();
            Some(canary(
                &job.topic,
                &self.encoder,
                &users,
                out.progress.clone(),
            )?)
        } else {
            None
        };
        Ok(Prepared {
            chunk,
            next,
            out,
            canary,
            rejects,
            produced: self.plan.produced() - before.0,
            replayed: self.plan.replayed() - before.1,
        })
    }
}

/// Hand every item of `items` to `each` in order until it says stop (`Ok(false)`) or fails.
/// With `ahead`, the next item is made on a scoped thread while `each` works on the current one:
/// one made ahead at most, and none begun once `each` has stopped (an item already being made
/// then is finished and dropped unused).
pub(super) fn ahead<T: Send>(
    items: impl Iterator<Item = T> + Send,
    ahead: bool,
    mut each: impl FnMut(T) -> Result<bool, PipelineError>,
) -> Result<(), PipelineError> {
    if !ahead {
        for item in items {
            if !each(item)? {
                break;
            }
        }
        return Ok(());
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Rendezvous: the maker blocks until the item is taken, so it is at most one ahead.
        let (give, take) = mpsc::sync_channel::<T>(0);
        let stopped = &stop;
        scope.spawn(move || {
            let mut items = items;
            while !stopped.load(Ordering::SeqCst) {
                let Some(item) = items.next() else { break };
                if give.send(item).is_err() {
                    break;
                }
            }
        });
        let mut result = Ok(());
        for item in take.iter() {
            match each(item) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        stop.store(true, Ordering::SeqCst);
        // A maker waiting to hand over its next item is told nobody takes it.
        drop(take);
        result
    })
}

/// The page holding `chunk` (`seed` and page size), fetched from the source when not already
/// held.
fn fetch<'p>(
    source: &mut dyn Source,
    (seed, page_size): (&str, u32),
    chunk: &PageRange,
    page: &'p mut Option<Page>,
    pages: &Counter,
) -> Result<&'p Page, PipelineError> {
    if page.as_ref().is_none_or(|p| p.request.page != chunk.page) {
        let request = PageRequest {
            seed: seed.to_string(),
            page: chunk.page,
            size: page_size,
        };
        *page = Some(source.fetch(&request)?);
        pages.inc();
    }
    page.as_ref()
        .ok_or_else(|| PipelineError::Other("page vanished".into()))
}

/// The records of one chunk: its valid users (framed Avro), its rejects, and the progress record
/// naming the cursor after it.
fn chunk_out(
    job: &ProduceJob,
    (source_name, first): (&str, Option<&Cursor>),
    encoder: &UserEncoder<'_>,
    page: &Page,
    chunk: &PageRange,
    next: &Cursor,
) -> Result<Delivery, PipelineError> {
    let mut records = Vec::with_capacity(chunk.len() as usize);
    for user in &page.users {
        if chunk.holds(user.source_index) {
            records.push(OutRecord::new(
                &job.topic,
                user.key().to_string(),
                encoder.framed(user)?,
            ));
        }
    }
    for reject in page
        .rejects
        .iter()
        .filter(|r| chunk.holds(r.identity.index))
    {
        warn!(page = chunk.page, index = reject.identity.index, reason = %reject.reason, "user rejected");
        records.push(reject_record(&job.side.rejects, reject));
    }
    let progress = Progress::after(source_name, job.page_size, chunk, next).since(first.cloned());
    Ok(Delivery {
        records,
        progress: Some(progress::record(
            &job.side.progress,
            &job.producer_id,
            &progress,
        )),
    })
}

/// A rejected user as a record: key = the identity's UUIDv5, value = JSON with the reason and the
/// redacted raw user, header `eosflow.reason`.
fn reject_record(topic: &str, reject: &Rejection) -> OutRecord {
    let id = &reject.identity;
    let value = json!({
        "source": id.source, "seed": id.seed, "page": id.page, "index": id.index,
        "key": id.key().to_string(), "reason": reject.reason, "raw": reject.raw,
    });
    OutRecord::new(topic, id.key().to_string(), value.to_string().into_bytes())
        .header("eosflow.reason", reject.reason.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// Items 0.. that count how many were made.
    fn counted(made: &AtomicUsize) -> impl Iterator<Item = usize> + Send + '_ {
        std::iter::from_fn(move || Some(made.fetch_add(1, Ordering::SeqCst)))
    }

    #[test]
    fn items_arrive_in_order_and_making_stops_soon_after_each_stops() {
        for ahead_of in [false, true] {
            let made = AtomicUsize::new(0);
            let mut seen = Vec::new();
            let result = ahead(counted(&made), ahead_of, |i| {
                seen.push(i);
                Ok(i < 4)
            });
            assert!(result.is_ok());
            assert_eq!(seen, vec![0, 1, 2, 3, 4]);
            // Without a maker thread exactly the five; with one, at most one more was begun.
            let extra = made.load(Ordering::SeqCst) - 5;
            assert!(
                extra <= usize::from(ahead_of),
                "made {extra} beyond the stop"
            );
        }
    }

    #[test]
    fn an_error_of_each_ends_the_run_with_that_error() {
        let made = AtomicUsize::new(0);
        let result = ahead(counted(&made), true, |i| {
            if i == 2 {
                return Err(PipelineError::Other("item 2 failed".into()));
            }
            Ok(true)
        });
        assert!(matches!(result, Err(PipelineError::Other(m)) if m == "item 2 failed"));
        assert!(made.load(Ordering::SeqCst) <= 4);
    }
}
