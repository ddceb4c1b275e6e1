//! The processor's exactly-once state machine.
//!
//! Positions are "next offset to apply" per assigned partition, as durably stored by the sink.
//! A record below its partition's position (or below what the open batch already holds) is a
//! redelivery and is skipped; everything else joins the open batch. A batch carries its rows and
//! the next offsets it advances; the adapter writes both in one sink transaction, then reports
//! [`ProcessorCore::committed`], which moves positions forward (never backwards).
//!
//! A taken batch stays *in flight* until it is reported committed: the adapter may read and
//! offer the next records while the sink writes it (one batch in the sink, one filling). Records
//! the in-flight batch holds are redeliveries too, so a batch never repeats its predecessor's.

use std::collections::BTreeMap;

use super::Partition;

/// When a batch is due: at `max_records` rows, or `linger_ms` after its first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    pub max_records: usize,
    pub linger_ms: u64,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        BatchPolicy {
            max_records: 5000,
            linger_ms: 500,
        }
    }
}

/// Where to start reading an assigned partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartAt {
    /// The offset stored by the sink (the source of truth for SQL sinks).
    Offset(i64),
    /// The sink stores no offset for the partition yet: read from the beginning.
    Beginning,
}

/// What the core made of one polled record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// Joined the open batch.
    Accepted,
    /// Already applied (or already in the open batch): a redelivery, skipped.
    Redelivered,
    /// The partition is not assigned to this processor (a late record after revocation).
    NotAssigned,
}

/// A batch to write: rows plus, per partition, the next offset after its last record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch<R> {
    pub rows: Vec<R>,
    pub next_offsets: BTreeMap<Partition, i64>,
}

/// Records of a partition deleted before this group read them: offsets `[from, to)`, where `from`
/// is where the group would have gone on (its stored offset, or 0) and `to` the log start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    pub partition: Partition,
    pub from: i64,
    pub to: i64,
}

impl Skipped {
    /// How many offsets the range spans (records, and transaction markers among them).
    pub fn len(&self) -> i64 {
        self.to - self.from
    }

    pub fn is_empty(&self) -> bool {
        self.to <= self.from
    }
}

/// The ranges of `partitions` that retention (or a `DeleteRecords`) removed before the group
/// read them: the stored next offset (0 when none is stored) is below the partition's log start.
/// Starting there would mean a silent jump; the processor stops instead, unless told to skip.
pub fn gaps(
    partitions: &[Partition],
    stored: &BTreeMap<Partition, i64>,
    log_start: &BTreeMap<Partition, i64>,
) -> Vec<Skipped> {
    partitions
        .iter()
        .filter_map(|&p| {
            let from = stored.get(&p).copied().unwrap_or(0);
            let to = log_start.get(&p).copied().unwrap_or(0);
            (from < to).then_some(Skipped {
                partition: p,
                from,
                to,
            })
        })
        .collect()
}

/// A violation of the protocol by the caller (a bug, never bad input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("offset for partition {partition} would move backwards from {from} to {to}")]
    Backwards {
        partition: Partition,
        from: i64,
        to: i64,
    },
}

/// Pure processor state; `R` is the row type (any value in tests).
#[derive(Debug, Clone)]
pub struct ProcessorCore<R> {
    policy: BatchPolicy,
    /// Next offset to apply, per assigned partition (None: nothing applied yet, read from start).
    positions: BTreeMap<Partition, Option<i64>>,
    /// Next offset after the last record in the open batch, per partition.
    pending: BTreeMap<Partition, i64>,
    /// Next offsets of batches taken but not yet reported committed, per partition.
    in_flight: BTreeMap<Partition, i64>,
    rows: Vec<R>,
    opened_at_ms: Option<u64>,
}

impl<R> ProcessorCore<R> {
    pub fn new(policy: BatchPolicy) -> Self {
        ProcessorCore {
            policy,
            positions: BTreeMap::new(),
            pending: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            rows: Vec::new(),
            opened_at_ms: None,
        }
    }

    /// Partitions were assigned; `stored` are the sink's next offsets. Returns where to start
    /// each newly assigned partition.
    pub fn assign(
        &mut self,
        partitions: &[Partition],
        stored: &BTreeMap<Partition, i64>,
    ) -> Vec<(Partition, StartAt)> {
        partitions
            .iter()
            .map(|&p| {
                let at = stored.get(&p).copied();
                self.positions.insert(p, at);
                (p, at.map_or(StartAt::Beginning, StartAt::Offset))
            })
            .collect()
    }

    /// Partitions are being revoked: returns the open batch, which the adapter must commit
    /// (and report with [`Self::committed`]) BEFORE calling [`Self::forget`].
    pub fn revoke(&mut self) -> Option<Batch<R>> {
        self.take_batch()
    }

    /// Drop revoked partitions from the state (after their batch is committed).
    pub fn forget(&mut self, partitions: &[Partition]) {
        for p in partitions {
            self.positions.remove(p);
            self.pending.remove(p);
            self.in_flight.remove(p);
        }
    }

    /// Lose everything not committed, in flight or open (a crash, or a failed batch the adapter
    /// gives up on).
    pub fn discard_open_batch(&mut self) {
        self.rows.clear();
        self.pending.clear();
        self.in_flight.clear();
        self.opened_at_ms = None;
    }

    /// Offer one polled record at `now_ms`.
    pub fn offer(&mut self, partition: Partition, offset: i64, row: R, now_ms: u64) -> Offer {
        self.offer_maybe(partition, offset, Some(row), now_ms)
    }

    /// Offer a record that yields no row (it went to the dead-letter topic): its offset still
    /// advances with the open batch, so a commit moves past it exactly once.
    pub fn offer_without_row(&mut self, partition: Partition, offset: i64, now_ms: u64) -> Offer {
        self.offer_maybe(partition, offset, None, now_ms)
    }

    fn offer_maybe(
        &mut self,
        partition: Partition,
        offset: i64,
        row: Option<R>,
        now_ms: u64,
    ) -> Offer {
        let Some(position) = self.positions.get(&partition) else {
            return Offer::NotAssigned;
        };
        let floor = self
            .pending
            .get(&partition)
            .or(self.in_flight.get(&partition))
            .copied()
            .or(*position)
            .unwrap_or(0);
        if offset < floor {
            return Offer::Redelivered;
        }
        self.pending.insert(partition, offset + 1);
        self.rows.extend(row);
        self.opened_at_ms.get_or_insert(now_ms);
        Offer::Accepted
    }

    /// Is the open batch due at `now_ms`?
    pub fn due(&self, now_ms: u64) -> bool {
        if self.rows.len() >= self.policy.max_records {
            return true;
        }
        match self.opened_at_ms {
            Some(t) => now_ms.saturating_sub(t) >= self.policy.linger_ms,
            None => false,
        }
    }

    /// Rows in the open batch.
    pub fn open_rows(&self) -> usize {
        self.rows.len()
    }

    /// Is a taken batch waiting to be reported committed?
    pub fn has_in_flight(&self) -> bool {
        !self.in_flight.is_empty()
    }

    /// Close the open batch (None when it is empty); it is in flight until [`Self::committed`].
    pub fn take_batch(&mut self) -> Option<Batch<R>> {
        if self.pending.is_empty() {
            return None;
        }
        self.opened_at_ms = None;
        self.in_flight
            .extend(self.pending.iter().map(|(&p, &o)| (p, o)));
        Some(Batch {
            rows: std::mem::take(&mut self.rows),
            next_offsets: std::mem::take(&mut self.pending),
        })
    }

    /// The batch is durably in the sink: advance positions.
    pub fn committed(
        &mut self,
        next_offsets: &BTreeMap<Partition, i64>,
    ) -> Result<(), ProtocolError> {
        for (&p, &next) in next_offsets {
            if let Some(Some(current)) = self.positions.get(&p) {
                if next < *current {
                    return Err(ProtocolError::Backwards {
                        partition: p,
                        from: *current,
                        to: next,
                    });
                }
            }
            if let Some(slot) = self.positions.get_mut(&p) {
                *slot = Some(next);
            }
            if self.in_flight.get(&p).is_some_and(|&f| f <= next) {
                self.in_flight.remove(&p);
            }
        }
        Ok(())
    }

    /// Positions of assigned partitions that have one (to commit to Kafka after the sink).
    pub fn positions(&self) -> BTreeMap<Partition, i64> {
        self.positions
            .iter()
            .filter_map(|(&p, &o)| o.map(|o| (p, o)))
            .collect()
    }

    /// Assigned partitions.
    pub fn assigned(&self) -> Vec<Partition> {
        self.positions.keys().copied().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> ProcessorCore<&'static str> {
        ProcessorCore::new(BatchPolicy {
            max_records: 3,
            linger_ms: 100,
        })
    }

    #[test]
    fn assignment_starts_at_stored_offsets_or_beginning() {
        let mut c = core();
        let stored = BTreeMap::from([(0, 42)]);
        assert_eq!(
            c.assign(&[0, 1], &stored),
            vec![(0, StartAt::Offset(42)), (1, StartAt::Beginning)]
        );
    }

    #[test]
    fn a_stored_offset_below_the_log_start_is_a_gap() {
        let stored = BTreeMap::from([(0, 42), (1, 7)]);
        let log_start = BTreeMap::from([(0, 40), (1, 100), (2, 5)]);
        assert_eq!(
            gaps(&[0, 1, 2, 3], &stored, &log_start),
            vec![
                Skipped {
                    partition: 1,
                    from: 7,
                    to: 100
                },
                Skipped {
                    partition: 2,
                    from: 0,
                    to: 5
                },
            ],
            "partition 0 is past the log start, 3 starts at 0: no gap"
        );
        assert_eq!(gaps(&[1], &stored, &log_start)[0].len(), 93);
    }

    #[test]
    fn redeliveries_below_position_or_pending_are_skipped() {
        let mut c = core();
        c.assign(&[0], &BTreeMap::from([(0, 10)]));
        assert_eq!(c.offer(0, 9, "old", 0), Offer::Redelivered);
        assert_eq!(c.offer(0, 10, "a", 0), Offer::Accepted);
        assert_eq!(c.offer(0, 10, "a-again", 0), Offer::Redelivered);
        assert_eq!(c.offer(0, 12, "gap is fine", 0), Offer::Accepted);
        assert_eq!(c.offer(7, 0, "x", 0), Offer::NotAssigned);
        let b = c.take_batch().expect("batch");
        assert_eq!(b.rows, vec!["a", "gap is fine"]);
        assert_eq!(b.next_offsets, BTreeMap::from([(0, 13)]));
    }

    #[test]
    fn due_by_count_and_by_linger() {
        let mut c = core();
        c.assign(&[0], &BTreeMap::new());
        assert!(!c.due(1_000));
        c.offer(0, 0, "a", 1_000);
        assert!(!c.due(1_050));
        assert!(c.due(1_100));
        c.offer(0, 1, "b", 1_000);
        c.offer(0, 2, "c", 1_000);
        assert!(c.due(1_000));
    }

    #[test]
    fn a_dead_lettered_record_advances_the_offset_without_a_row() {
        let mut c = core();
        c.assign(&[0], &BTreeMap::from([(0, 4)]));
        assert_eq!(c.offer(0, 4, "a", 0), Offer::Accepted);
        assert_eq!(c.offer_without_row(0, 5, 0), Offer::Accepted);
        assert_eq!(c.offer_without_row(0, 5, 0), Offer::Redelivered);
        let b = c.take_batch().expect("batch");
        assert_eq!(b.rows, vec!["a"]);
        assert_eq!(b.next_offsets, BTreeMap::from([(0, 6)]));
        // A batch of nothing but dead letters still commits its offsets.
        c.offer_without_row(0, 6, 0);
        assert_eq!(
            c.take_batch().map(|b| (b.rows.len(), b.next_offsets)),
            Some((0, BTreeMap::from([(0, 7)])))
        );
    }

    #[test]
    fn committed_moves_forward_only() {
        let mut c = core();
        c.assign(&[0], &BTreeMap::from([(0, 5)]));
        c.offer(0, 5, "a", 0);
        let b = c.take_batch().expect("batch");
        c.committed(&b.next_offsets).expect("forward");
        assert_eq!(c.positions(), BTreeMap::from([(0, 6)]));
        assert_eq!(
            c.committed(&BTreeMap::from([(0, 3)])),
            Err(ProtocolError::Backwards {
                partition: 0,
                from: 6,
                to: 3
            })
        );
    }

    #[test]
    fn records_of_the_batch_in_flight_are_redeliveries() {
        let mut c = core();
        c.assign(&[0, 1], &BTreeMap::from([(0, 10)]));
        c.offer(0, 10, "a", 0);
        c.offer(0, 11, "b", 0);
        c.offer(1, 0, "c", 0);
        let in_flight = c.take_batch().expect("batch");
        assert!(c.has_in_flight());
        // The sink writes the batch while the next records arrive, some of them again.
        assert_eq!(c.offer(0, 11, "b-again", 0), Offer::Redelivered);
        assert_eq!(c.offer(1, 0, "c-again", 0), Offer::Redelivered);
        assert_eq!(c.offer(0, 12, "d", 0), Offer::Accepted);
        assert_eq!(
            c.positions(),
            BTreeMap::from([(0, 10)]),
            "nothing is committed yet"
        );
        c.committed(&in_flight.next_offsets).expect("forward");
        assert!(!c.has_in_flight());
        assert_eq!(c.positions(), BTreeMap::from([(0, 12), (1, 1)]));
        let next = c.take_batch().expect("batch");
        assert_eq!(next.rows, vec!["d"]);
        assert_eq!(next.next_offsets, BTreeMap::from([(0, 13)]));
    }

    #[test]
    fn a_discarded_batch_in_flight_lets_its_records_in_again() {
        let mut c = core();
        c.assign(&[0], &BTreeMap::from([(0, 5)]));
        c.offer(0, 5, "a", 0);
        c.take_batch().expect("batch");
        c.discard_open_batch();
        assert!(!c.has_in_flight());
        assert_eq!(
            c.offer(0, 5, "a", 0),
            Offer::Accepted,
            "read again after a failure"
        );
    }

    #[test]
    fn revoke_hands_back_the_open_batch_then_forgets() {
        let mut c = core();
        c.assign(&[0, 1], &BTreeMap::new());
        c.offer(1, 0, "a", 0);
        let b = c.revoke().expect("open batch");
        c.committed(&b.next_offsets).expect("ok");
        c.forget(&[0, 1]);
        assert!(c.assigned().is_empty());
        assert_eq!(c.offer(1, 1, "late", 0), Offer::NotAssigned);
    }
}
