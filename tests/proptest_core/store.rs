//! The simulated broker and sink of the property test: an in-memory broker (data partitions
//! with transactions and control markers, plus the producer's progress topic) and an in-memory
//! sink (rows by id + stored next offsets, committed atomically, checking every batch).

use std::collections::{BTreeMap, BTreeSet};

use eosflow::core::processor::{Batch, BatchPolicy};
use eosflow::core::producer::Progress;
use eosflow::core::Partition;

pub type Check = Result<(), String>;

pub const SOURCE: &str = "generator";
pub const SEED: &str = "prop";
pub const PARTITIONS: i32 = 3;

/// The fixed parameters of one run.
#[derive(Debug, Clone, Copy)]
pub struct Setup {
    /// Like tansu and rdkafka's MockCluster: aborted records stay visible to read_committed
    /// consumers and open transactions do not hold them back (no last stable offset). When false,
    /// a real broker: aborted records are skipped and an open transaction blocks its partition.
    pub shows_aborted: bool,
    pub page_size: u32,
    /// The producer's absolute end (`--last-page`); pages start at 1.
    pub last_page: u64,
    pub policy: BatchPolicy,
}

/// A user's identity in the deterministic source.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId {
    pub page: u64,
    pub index: u32,
}

impl std::fmt::Debug for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "u{}.{}", self.page, self.index)
    }
}

/// The user's contents: a pure function of its identity (no time, no offsets).
pub fn contents(id: UserId) -> u64 {
    let mut x = id.page.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(id.index);
    x ^= x >> 29;
    x.wrapping_mul(0xBF58_476D_1CE4_E5B9)
}

/// The partition of a user's key (the key is the identity, so retries land on the same partition).
pub fn partition_of(id: UserId) -> Partition {
    let h = id.page.wrapping_mul(31) + u64::from(id.index) * 17;
    (h % PARTITIONS as u64) as Partition
}

/// What the processor core batches: the polled record, with where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Row {
    pub partition: Partition,
    pub offset: i64,
    pub id: UserId,
    pub contents: u64,
}

impl std::fmt::Debug for Row {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}@p{}:{}", self.id, self.partition, self.offset)
    }
}

// ---------------------------------------------------------------------------------------------
// Broker

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnState {
    Open,
    Committed,
    Aborted,
}

#[derive(Debug, Clone)]
pub enum Entry {
    /// A user record written inside transaction `txn`.
    User {
        id: UserId,
        contents: u64,
        txn: usize,
    },
    /// A non-transactional record no reader schema can decode (goes to the dead-letter topic).
    Poison,
    /// A transaction commit/abort marker: occupies an offset, never delivered.
    Marker,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Deliver,
    Skip,
    /// An open transaction on a broker with a last stable offset: nothing at or after it is readable.
    Block,
}

#[derive(Debug)]
pub struct Broker {
    pub shows_aborted: bool,
    pub logs: Vec<Vec<Entry>>,
    pub txns: Vec<TxnState>,
    pub txn_partitions: Vec<BTreeSet<Partition>>,
    /// The producer's progress topic: each record with the transaction that wrote it.
    pub progress: Vec<(Progress, usize)>,
}

/// A delivered record: its offset and the user (None: poison).
pub type Fetched = (i64, Option<(UserId, u64)>);

impl Broker {
    pub fn new(shows_aborted: bool) -> Self {
        Broker {
            shows_aborted,
            logs: vec![Vec::new(); PARTITIONS as usize],
            txns: Vec::new(),
            txn_partitions: Vec::new(),
            progress: Vec::new(),
        }
    }

    pub fn begin(&mut self) -> usize {
        self.txns.push(TxnState::Open);
        self.txn_partitions.push(BTreeSet::new());
        self.txns.len() - 1
    }

    pub fn append_user(&mut self, txn: usize, id: UserId) {
        let p = partition_of(id);
        self.logs[p as usize].push(Entry::User {
            id,
            contents: contents(id),
            txn,
        });
        self.txn_partitions[txn].insert(p);
    }

    pub fn end(&mut self, txn: usize, commit: bool) {
        assert_eq!(
            self.txns[txn],
            TxnState::Open,
            "simulator: txn {txn} ended twice"
        );
        self.txns[txn] = if commit {
            TxnState::Committed
        } else {
            TxnState::Aborted
        };
        for &p in &self.txn_partitions[txn] {
            self.logs[p as usize].push(Entry::Marker);
        }
    }

    pub fn seen(&self, txn: usize) -> Seen {
        match (self.txns[txn], self.shows_aborted) {
            (TxnState::Committed, _) | (_, true) => Seen::Deliver,
            (TxnState::Aborted, false) => Seen::Skip,
            (TxnState::Open, false) => Seen::Block,
        }
    }

    /// The first record a consumer at `from` receives, or None at the (stable) end.
    pub fn fetch(&self, p: Partition, from: i64) -> Option<Fetched> {
        let log = &self.logs[p as usize];
        for (o, e) in log.iter().enumerate().skip(from.max(0) as usize) {
            let o = o as i64;
            match e {
                Entry::Marker => {}
                Entry::Poison => return Some((o, None)),
                Entry::User { id, contents, txn } => match self.seen(*txn) {
                    Seen::Deliver => return Some((o, Some((*id, *contents)))),
                    Seen::Skip => {}
                    Seen::Block => return None,
                },
            }
        }
        None
    }

    /// Every record a consumer reading `[from, to)` receives; Err if an open transaction blocks it.
    pub fn delivered(&self, p: Partition, from: i64, to: i64) -> Result<Vec<Fetched>, String> {
        let mut out = Vec::new();
        let mut at = from;
        while at < to {
            match self.fetch(p, at) {
                Some((o, rec)) if o < to => {
                    out.push((o, rec));
                    at = o + 1;
                }
                Some(_) => break,
                None if (to as usize) <= self.logs[p as usize].len() => {
                    // Reached a block or the end before `to`: only markers/skipped may remain.
                    let blocked = self.logs[p as usize][at as usize..to as usize].iter().any(
                        |e| matches!(e, Entry::User { txn, .. } if self.seen(*txn) == Seen::Block),
                    );
                    if blocked {
                        return Err(format!(
                            "p{p}: offsets [{at}, {to}) cross an open transaction a read_committed consumer cannot pass"
                        ));
                    }
                    break;
                }
                None => return Err(format!("p{p}: offset {to} is beyond the log end")),
            }
        }
        Ok(out)
    }

    /// A record at `offset` of `p` as a late (pre-revocation) fetch would hand it over.
    pub fn any_record(&self, p: Partition, offset_sel: u8) -> Option<Fetched> {
        let log = &self.logs[p as usize];
        let data: Vec<(i64, Option<(UserId, u64)>)> = log
            .iter()
            .enumerate()
            .filter_map(|(o, e)| match e {
                Entry::User { id, contents, .. } => Some((o as i64, Some((*id, *contents)))),
                Entry::Poison => Some((o as i64, None)),
                Entry::Marker => None,
            })
            .collect();
        (!data.is_empty()).then(|| data[offset_sel as usize % data.len()])
    }

    /// The last progress record the (re)starting producer reads.
    pub fn last_progress(&self) -> Option<Progress> {
        self.progress
            .iter()
            .rev()
            .find(|(_, t)| self.seen(*t) == Seen::Deliver)
            .map(|(p, _)| p.clone())
    }

    /// Ids of user records the consumers can see (now, or eventually when open ones resolve).
    pub fn ids_in_log(&self, committed_only: bool) -> BTreeSet<UserId> {
        self.logs
            .iter()
            .flatten()
            .filter_map(|e| match e {
                Entry::User { id, txn, .. }
                    if !committed_only || self.txns[*txn] == TxnState::Committed =>
                {
                    Some(*id)
                }
                _ => None,
            })
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Sink

/// Rows by id and next offsets by partition; `commit` is all-or-nothing.
#[derive(Debug, Default)]
pub struct Sink {
    pub rows: BTreeMap<UserId, u64>,
    pub offsets: BTreeMap<Partition, i64>,
    pub commits: usize,
}

impl Sink {
    /// One atomic transaction: rows + next offsets. Before applying, checks that the batch is
    /// exactly what a consumer receives between the stored offset and the batch's next offset, per
    /// partition, in order: nothing skipped (lost), nothing already applied (duplicated), offsets
    /// never backwards.
    pub fn commit(&mut self, broker: &Broker, batch: &Batch<Row>) -> Check {
        for r in &batch.rows {
            ensure!(
                batch.next_offsets.contains_key(&r.partition),
                "batch row {r:?} has no next offset for its partition: {:?}",
                batch.next_offsets
            );
        }
        for (&p, &next) in &batch.next_offsets {
            let stored = self.offsets.get(&p).copied().unwrap_or(0);
            ensure!(
                next > stored,
                "p{p}: the batch would move the stored offset from {stored} to {next} (backwards or nowhere)"
            );
            let want: Vec<(i64, UserId)> = broker
                .delivered(p, stored, next)?
                .into_iter()
                .filter_map(|(o, rec)| rec.map(|(id, _)| (o, id)))
                .collect();
            let got: Vec<(i64, UserId)> = batch
                .rows
                .iter()
                .filter(|r| r.partition == p)
                .map(|r| (r.offset, r.id))
                .collect();
            ensure!(
                got == want,
                "p{p}: batch for offsets [{stored}, {next}) holds {got:?} but the log delivers {want:?} there"
            );
        }
        for r in &batch.rows {
            ensure!(
                r.contents == contents(r.id),
                "row {r:?} has contents {} instead of {}",
                r.contents,
                contents(r.id)
            );
            self.rows.insert(r.id, r.contents);
        }
        for (&p, &next) in &batch.next_offsets {
            let slot = self.offsets.entry(p).or_insert(next);
            *slot = (*slot).max(next);
        }
        self.commits += 1;
        Ok(())
    }
}
