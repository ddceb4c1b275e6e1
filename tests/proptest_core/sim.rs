//! The simulated world the property test drives: the broker and sink of `store.rs`, a
//! two-member consumer group, one transactional producer. The protocol decisions all come from
//! `eosflow::core`; the simulator only plays the adapters' part the way `pipeline::produce` and
//! `pipeline::process` do.
//!
//! Every operation returns `Check`: `Err(why)` is an invariant violation (the property fails).

use std::collections::{BTreeMap, BTreeSet};

use eosflow::core::processor::{Batch, Offer, ProcessorCore, StartAt};
use eosflow::core::producer::{resume, Cursor, PageRange, Plan, Progress, Resume};
use eosflow::core::Partition;

use super::events::{Event, Who};
pub use super::store::*;

/// Producer steps the drain may take before declaring the producer stuck (a liveness failure).
const DRAIN_STEPS: usize = 10_000;
// ---------------------------------------------------------------------------------------------
// Processors and producer

/// One group member: its core (None while crashed) and its consumer's fetch positions.
#[derive(Debug, Default)]
pub struct Member {
    pub core: Option<ProcessorCore<Row>>,
    pub pos: BTreeMap<Partition, i64>,
    /// The batch the sink thread is writing while the member reads on (`process`'s pipeline).
    in_flight: Option<Batch<Row>>,
    rr: usize,
}

#[derive(Debug)]
struct Inflight {
    chunk: PageRange,
    next: Cursor,
    txn: usize,
    sent: u32,
    progress_sent: bool,
}

#[derive(Debug)]
struct Producer {
    plan: Plan,
    cursor: Cursor,
    inflight: Option<Inflight>,
}

/// How often the interesting paths were taken (printed by the ignored `coverage` test).
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub accepted: u64,
    pub redelivered: u64,
    pub not_assigned: u64,
    pub batches: u64,
    pub revoke_batches: u64,
    /// Batches written by the sink thread while the member read on.
    pub pipelined: u64,
    pub rows_from_uncommitted: u64,
    pub aborts: u64,
    pub duplicate_commits: u64,
    pub replays: u64,
}

pub struct World {
    pub stats: Stats,
    pub setup: Setup,
    pub now: u64,
    pub broker: Broker,
    pub sink: Sink,
    pub members: [Member; 2],
    /// The group's assignment: the owner of each partition.
    pub owner: Vec<Who>,
    producer: Option<Producer>,
    /// The open transaction of a crashed producer, aborted when the next one initialises.
    dangling: Option<usize>,
    /// Progress records in commit order.
    pub committed_progress: Vec<Progress>,
    /// Committed coverage of the source: every user with linear index < frontier is committed.
    pub frontier: u64,
    /// Where each producer run resumed (for scenario tests).
    pub resumes: Vec<Resume>,
}

impl World {
    pub fn new(setup: Setup) -> Self {
        let mut w = World {
            stats: Stats::default(),
            setup,
            now: 0,
            broker: Broker::new(setup.shows_aborted),
            sink: Sink::default(),
            members: [Member::default(), Member::default()],
            owner: (0..PARTITIONS)
                .map(|p| if p % 2 == 0 { Who::A } else { Who::B })
                .collect(),
            producer: None,
            dangling: None,
            committed_progress: Vec::new(),
            frontier: 0,
            resumes: Vec::new(),
        };
        for who in [Who::A, Who::B] {
            w.restart(who).expect("initial assignment");
        }
        w
    }

    /// Linear index of a position in the source (pages are 1-based).
    fn lin(&self, page: u64, index: u32) -> u64 {
        (page - 1) * u64::from(self.setup.page_size) + u64::from(index)
    }

    fn total(&self) -> u64 {
        self.setup.last_page * u64::from(self.setup.page_size)
    }

    /// Every id the source holds up to the last page: the expected sink contents at quiescence.
    pub fn all_ids(&self) -> BTreeSet<UserId> {
        (1..=self.setup.last_page)
            .flat_map(|page| (0..self.setup.page_size).map(move |index| UserId { page, index }))
            .collect()
    }

    fn owned(&self, who: Who) -> Vec<Partition> {
        (0..PARTITIONS)
            .filter(|&p| self.owner[p as usize] == who)
            .collect()
    }

    pub fn apply(&mut self, e: Event) -> Check {
        self.now += 1;
        match e {
            Event::PStep => self.producer_step(),
            Event::PStart(limit) => self.producer_start(limit.map(u64::from)),
            Event::PAbort => self.producer_abort(),
            Event::PCommitUnknown => self.producer_commit_unknown(),
            Event::PCrash => {
                if let Some(p) = self.producer.take() {
                    self.dangling = p.inflight.map(|i| i.txn);
                }
                Ok(())
            }
            Event::Poison(p) => {
                self.broker.logs[usize::from(p) % PARTITIONS as usize].push(Entry::Poison);
                Ok(())
            }
            Event::Tick(ms) => {
                self.now += u64::from(ms);
                Ok(())
            }
            Event::Poll(who, n) => self.poll(who, usize::from(n)).map(|_| ()),
            Event::Flush(who, force) => self.flush(who, force).map(|_| ()),
            Event::Dispatch(who, force) => self.dispatch(who, force),
            Event::Land(who) => self.land(who).map(|_| ()),
            Event::FailFlush(who, seek) => self.fail_flush(who, seek),
            Event::CommitCrash(who) => {
                let m = &mut self.members[who.i()];
                let Some(core) = m.core.as_mut() else {
                    return Ok(());
                };
                // The batch in flight reaches the sink (or, without one, the open batch is
                // written synchronously); the member dies before it hears of it.
                if let Some(b) = m.in_flight.take().or_else(|| core.take_batch()) {
                    self.sink.commit(&self.broker, &b)?;
                }
                self.crash(who);
                Ok(())
            }
            Event::Crash(who) => {
                self.crash(who);
                Ok(())
            }
            Event::Restart(who) => self.restart(who),
            Event::Rewind(who, p_sel, back) => {
                let m = &mut self.members[who.i()];
                let owned: Vec<Partition> = m.pos.keys().copied().collect();
                if m.core.is_some() && !owned.is_empty() {
                    let p = owned[usize::from(p_sel) % owned.len()];
                    let at = m.pos.get_mut(&p).expect("owned");
                    *at = (*at - i64::from(back)).max(0);
                }
                Ok(())
            }
            Event::Late(who, p_sel, o_sel) => self.late(who, p_sel, o_sel),
            Event::Rebalance { p, eager, fails } => {
                self.rebalance(Partition::from(p) % PARTITIONS, eager, fails)
            }
        }
    }

    // --- producer ------------------------------------------------------------------------------

    fn producer_start(&mut self, limit: Option<u64>) -> Check {
        if self.producer.is_some() {
            return Ok(());
        }
        // init_transactions with the same transactional.id fences the crashed incarnation: its
        // open transaction is aborted (its records stay in the log, visible on tansu/MockCluster).
        if let Some(t) = self.dangling.take() {
            self.broker.end(t, false);
        }
        let stored = self.broker.last_progress();
        let resumed = resume(stored.as_ref(), SOURCE, SEED, 1, self.setup.page_size)
            .map_err(|e| format!("resume failed: {e}"))?;
        let cursor = match &resumed {
            Resume::Fresh(c) | Resume::Replay(c) => c.clone(),
        };
        ensure!(
            self.lin(cursor.page, cursor.index) <= self.frontier,
            "producer resumes at page {} index {} ({resumed:?} from stored {stored:?}) past the committed frontier {}: users in between are skipped",
            cursor.page,
            cursor.index,
            self.frontier
        );
        self.stats.replays += u64::from(matches!(resumed, Resume::Replay(_)));
        let resumed_ref = resumed.clone();
        self.resumes.push(resumed);
        self.producer = Some(Producer {
            plan: Plan::new(self.setup.page_size, limit)
                .until_page(Some(self.setup.last_page))
                .replaying(
                    matches!(resumed_ref, Resume::Replay(_))
                        .then(|| stored.as_ref().map(|p| &p.next))
                        .flatten(),
                ),
            cursor,
            inflight: None,
        });
        Ok(())
    }

    /// Whether a producer run is going on.
    pub fn producer_running(&self) -> bool {
        self.producer.is_some()
    }

    fn producer_step(&mut self) -> Check {
        if self.producer.is_none() {
            return self.producer_start(None);
        }
        let prod = self.producer.as_mut().expect("running");
        let Some(inf) = prod.inflight.as_mut() else {
            // As pipeline::produce: plan the chunk, move the plan past it, then send it.
            match prod.plan.next(&prod.cursor) {
                None => self.producer = None, // the run is over: the process exits
                Some(chunk) => {
                    let next = prod.plan.committed(&prod.cursor, &chunk);
                    let txn = self.broker.begin();
                    prod.inflight = Some(Inflight {
                        chunk,
                        next,
                        txn,
                        sent: 0,
                        progress_sent: false,
                    });
                }
            }
            return Ok(());
        };
        if inf.sent < inf.chunk.len() {
            let id = UserId {
                page: inf.chunk.page,
                index: inf.chunk.from + inf.sent,
            };
            inf.sent += 1;
            self.broker.append_user(inf.txn, id);
        } else if !inf.progress_sent {
            inf.progress_sent = true;
            let progress = Progress::after(SOURCE, self.setup.page_size, &inf.chunk, &inf.next);
            self.broker.progress.push((progress, inf.txn));
        } else {
            let inf = prod.inflight.take().expect("inflight");
            prod.cursor = inf.next.clone();
            self.commit_chunk(&inf)?;
        }
        Ok(())
    }

    fn commit_chunk(&mut self, inf: &Inflight) -> Check {
        self.broker.end(inf.txn, true);
        let progress = Progress::after(SOURCE, self.setup.page_size, &inf.chunk, &inf.next);
        let start = self.lin(inf.chunk.page, inf.chunk.from);
        if let Some(last) = self.committed_progress.last() {
            let last_start = self.lin(last.chunk_page, last.chunk_from);
            ensure!(
                start >= last_start,
                "committed progress went backwards: chunk {:?} after chunk starting at page {} index {}",
                inf.chunk,
                last.chunk_page,
                last.chunk_from
            );
            let (a, b) = (
                self.lin(last.next.page, last.next.index),
                self.lin(inf.next.page, inf.next.index),
            );
            ensure!(
                b >= a,
                "committed progress cursor went backwards: next page {} index {} after page {} index {}",
                inf.next.page,
                inf.next.index,
                last.next.page,
                last.next.index
            );
        }
        ensure!(
            start <= self.frontier,
            "chunk {:?} committed while users from linear index {} on were never committed: a page was skipped",
            inf.chunk,
            self.frontier
        );
        self.frontier = self.frontier.max(self.lin(inf.chunk.page, inf.chunk.to));
        self.committed_progress.push(progress);
        Ok(())
    }

    fn producer_abort(&mut self) -> Check {
        // AbortAndRetryChunk: abort, then the same chunk again in a new transaction.
        if let Some(inf) = self.producer.as_mut().and_then(|p| p.inflight.as_mut()) {
            self.stats.aborts += 1;
            self.broker.end(inf.txn, false);
            inf.txn = self.broker.begin();
            inf.sent = 0;
            inf.progress_sent = false;
        }
        Ok(())
    }

    fn producer_commit_unknown(&mut self) -> Check {
        // The commit went through but its outcome is unknown: ReinitAndRetryChunk produces the
        // same chunk again (a committed duplicate with new offsets).
        let ready = self
            .producer
            .as_ref()
            .and_then(|p| p.inflight.as_ref())
            .is_some_and(|i| i.progress_sent);
        if !ready {
            return Ok(());
        }
        self.stats.duplicate_commits += 1;
        let prod = self.producer.as_mut().expect("running");
        let inf = prod.inflight.as_mut().expect("inflight");
        let done = Inflight {
            chunk: inf.chunk.clone(),
            next: inf.next.clone(),
            txn: inf.txn,
            sent: inf.sent,
            progress_sent: true,
        };
        inf.txn = self.broker.begin();
        inf.sent = 0;
        inf.progress_sent = false;
        self.commit_chunk(&done)
    }

    // --- processors ----------------------------------------------------------------------------

    fn crash(&mut self, who: Who) {
        self.members[who.i()] = Member::default();
    }

    fn restart(&mut self, who: Who) -> Check {
        if self.members[who.i()].core.is_some() {
            return Ok(());
        }
        self.members[who.i()].core = Some(ProcessorCore::new(self.setup.policy));
        let owned = self.owned(who);
        self.assign(who, &owned)
    }

    /// The `assigned` hook: the core decides where to start from the sink's offsets; the consumer
    /// seeks there.
    fn assign(&mut self, who: Who, parts: &[Partition]) -> Check {
        // The hook waits for the batch in flight before it reads the sink's offsets.
        self.land(who)?;
        let m = &mut self.members[who.i()];
        let Some(core) = m.core.as_mut() else {
            return Ok(());
        };
        for (p, at) in core.assign(parts, &self.sink.offsets) {
            let stored = self.sink.offsets.get(&p).copied();
            ensure!(
                at == stored.map_or(StartAt::Beginning, StartAt::Offset),
                "{who:?} assigned p{p}: start {at:?} but the sink stores {stored:?}"
            );
            m.pos.insert(
                p,
                match at {
                    StartAt::Offset(o) => o,
                    StartAt::Beginning => 0,
                },
            );
        }
        Ok(())
    }

    /// Poll up to `n` records round-robin over the member's partitions; returns how many arrived.
    pub fn poll(&mut self, who: Who, n: usize) -> Result<usize, String> {
        let m = &mut self.members[who.i()];
        let Some(core) = m.core.as_mut() else {
            return Ok(0);
        };
        let parts: Vec<Partition> = m.pos.keys().copied().collect();
        let mut got = 0;
        for _ in 0..n {
            let found = (0..parts.len()).find_map(|k| {
                let p = parts[(m.rr + k) % parts.len()];
                self.broker.fetch(p, m.pos[&p]).map(|f| (p, f))
            });
            m.rr = m.rr.wrapping_add(1);
            let Some((p, (offset, rec))) = found else {
                break;
            };
            self.now += 1;
            let offer = match rec {
                Some((id, contents)) => core.offer(
                    p,
                    offset,
                    Row {
                        partition: p,
                        offset,
                        id,
                        contents,
                    },
                    self.now,
                ),
                None => core.offer_without_row(p, offset, self.now),
            };
            match offer {
                Offer::Accepted => self.stats.accepted += 1,
                Offer::Redelivered => self.stats.redelivered += 1,
                Offer::NotAssigned => {}
            }
            if let Some((id, _)) = rec {
                let committed = self.broker.ids_in_log(true).contains(&id);
                if offer == Offer::Accepted && !committed {
                    self.stats.rows_from_uncommitted += 1;
                }
            }
            ensure!(
                offer != Offer::NotAssigned,
                "{who:?}: p{p}@{offset} refused as not assigned, but the member owns p{p}"
            );
            m.pos.insert(p, offset + 1);
            got += 1;
        }
        Ok(got)
    }

    /// The sink thread finishes the batch in flight: sink commit → committed. Returns whether
    /// there was one.
    fn land(&mut self, who: Who) -> Result<bool, String> {
        let m = &mut self.members[who.i()];
        let (Some(core), Some(b)) = (m.core.as_mut(), m.in_flight.take()) else {
            return Ok(false);
        };
        self.sink.commit(&self.broker, &b)?;
        self.stats.batches += 1;
        self.stats.pipelined += 1;
        core.committed(&b.next_offsets)
            .map_err(|e| format!("{who:?}: core refused its own batch in flight: {e}"))?;
        Ok(true)
    }

    /// The poll loop's way when a batch is due: wait for the batch in flight (if any), then hand
    /// the open batch to the sink thread and read on.
    pub fn dispatch(&mut self, who: Who, force: bool) -> Check {
        self.land(who)?;
        let m = &mut self.members[who.i()];
        let Some(core) = m.core.as_mut() else {
            return Ok(());
        };
        if force || core.due(self.now) {
            m.in_flight = core.take_batch();
        }
        Ok(())
    }

    /// `due` (or forced, as at shutdown) → take_batch → sink commit → committed, after the batch
    /// in flight lands. Returns whether a batch was committed.
    pub fn flush(&mut self, who: Who, force: bool) -> Result<bool, String> {
        let landed = self.land(who)?;
        let Some(core) = self.members[who.i()].core.as_mut() else {
            return Ok(landed);
        };
        if !force && !core.due(self.now) {
            return Ok(landed);
        }
        let Some(b) = core.take_batch() else {
            return Ok(landed);
        };
        self.sink.commit(&self.broker, &b)?;
        self.stats.batches += 1;
        core.committed(&b.next_offsets)
            .map_err(|e| format!("{who:?}: core refused its own committed batch: {e}"))?;
        Ok(true)
    }

    /// The sink write fails (atomic: nothing visible); the open batch is discarded. The real
    /// adapter then exits (a crash, `seek = false`); an adapter that goes on instead must seek back
    /// to the core's positions (`seek = true`).
    fn fail_flush(&mut self, who: Who, seek: bool) -> Check {
        let m = &mut self.members[who.i()];
        let Some(core) = m.core.as_mut() else {
            return Ok(());
        };
        // The write that fails is the batch in flight if there is one, else the open batch.
        if m.in_flight.take().is_none() && core.take_batch().is_none() {
            return Ok(());
        }
        core.discard_open_batch();
        if !seek {
            self.crash(who);
            return Ok(());
        }
        let positions = core.positions();
        for p in core.assigned() {
            m.pos.insert(p, positions.get(&p).copied().unwrap_or(0));
        }
        Ok(())
    }

    /// A record of a partition the member does not own reaches it (fetched before revocation).
    fn late(&mut self, who: Who, p_sel: u8, o_sel: u8) -> Check {
        let others: Vec<Partition> = (0..PARTITIONS)
            .filter(|p| !self.members[who.i()].pos.contains_key(p))
            .collect();
        let Some(core) = self.members[who.i()].core.as_mut() else {
            return Ok(());
        };
        if others.is_empty() {
            return Ok(());
        }
        let p = others[usize::from(p_sel) % others.len()];
        let Some((offset, rec)) = self.broker.any_record(p, o_sel) else {
            return Ok(());
        };
        let offer = match rec {
            Some((id, contents)) => core.offer(
                p,
                offset,
                Row {
                    partition: p,
                    offset,
                    id,
                    contents,
                },
                self.now,
            ),
            None => core.offer_without_row(p, offset, self.now),
        };
        self.stats.not_assigned += u64::from(offer == Offer::NotAssigned);
        ensure!(
            offer == Offer::NotAssigned,
            "{who:?}: a late record p{p}@{offset} of a partition it does not own was {offer:?}"
        );
        Ok(())
    }

    /// The `revoking` hook: flush the open batch (all partitions), then forget the revoked ones.
    /// If the flush fails the batch is discarded and the member exits after the callback.
    fn revoke(&mut self, who: Who, parts: &[Partition], fails: bool) -> Check {
        if fails && self.members[who.i()].in_flight.take().is_some() {
            // The batch in flight fails: everything not committed is lost, the member exits.
            if let Some(core) = self.members[who.i()].core.as_mut() {
                core.discard_open_batch();
            }
            self.crash(who);
            return Ok(());
        }
        self.land(who)?;
        let Some(core) = self.members[who.i()].core.as_mut() else {
            return Ok(());
        };
        let mut exit = false;
        if let Some(b) = core.revoke() {
            if fails {
                core.discard_open_batch();
                exit = true;
            } else {
                self.sink.commit(&self.broker, &b)?;
                self.stats.revoke_batches += 1;
                core.committed(&b.next_offsets)
                    .map_err(|e| format!("{who:?}: core refused its revocation batch: {e}"))?;
            }
        }
        core.forget(parts);
        for p in parts {
            self.members[who.i()].pos.remove(p);
        }
        if exit {
            self.crash(who);
        }
        Ok(())
    }

    /// Move partition `p` to the other member. Eager: every live member revokes everything, then
    /// gets its new assignment; cooperative: only `p` is revoked and assigned.
    fn rebalance(&mut self, p: Partition, eager: bool, fails: bool) -> Check {
        let old = self.owner[p as usize];
        let new = old.other();
        if eager {
            for who in [Who::A, Who::B] {
                let owned = self.owned(who);
                self.revoke(who, &owned, fails && who == old)?;
            }
            self.owner[p as usize] = new;
            for who in [Who::A, Who::B] {
                let owned = self.owned(who);
                self.assign(who, &owned)?;
            }
        } else {
            self.revoke(old, &[p], fails)?;
            self.owner[p as usize] = new;
            self.assign(new, &[p])?;
        }
        Ok(())
    }

    // --- invariants ----------------------------------------------------------------------------

    /// Checked after every step.
    pub fn check_step(&self) -> Check {
        for who in [Who::A, Who::B] {
            let m = &self.members[who.i()];
            let Some(core) = &m.core else {
                ensure!(m.pos.is_empty(), "{who:?} is down but has fetch positions");
                continue;
            };
            ensure!(
                core.has_in_flight() == m.in_flight.is_some(),
                "{who:?}: the core says a batch is in flight: {}, the sink thread holds one: {}",
                core.has_in_flight(),
                m.in_flight.is_some()
            );
            let owned = self.owned(who);
            ensure!(
                core.assigned() == owned,
                "{who:?}: core has {:?} assigned but the group gave it {owned:?}",
                core.assigned()
            );
            ensure!(
                m.pos.keys().copied().collect::<Vec<_>>() == owned,
                "{who:?}: consumer positions for {:?}, owns {owned:?}",
                m.pos.keys()
            );
            // The sink is the source of truth: an owner's positions are exactly its stored offsets.
            let positions = core.positions();
            for p in owned {
                ensure!(
                    positions.get(&p) == self.sink.offsets.get(&p),
                    "{who:?}: core position {:?} for p{p} but the sink stores {:?}",
                    positions.get(&p),
                    self.sink.offsets.get(&p)
                );
            }
        }
        // Rows only ever come from records in the log (aborted ones too, where the broker shows
        // them); on a broker that hides aborted records, only from committed ones.
        let from_log = self.broker.ids_in_log(!self.setup.shows_aborted);
        let stray: Vec<&UserId> = self
            .sink
            .rows
            .keys()
            .filter(|id| !from_log.contains(id))
            .collect();
        ensure!(
            stray.is_empty(),
            "sink rows {stray:?} come from no (committed) record"
        );
        Ok(())
    }

    /// Quiescence: the producer runs to its last page, every member is up, polls to the end and
    /// commits. Then the sink must hold exactly every user of pages 1..=last_page.
    pub fn drain(&mut self) -> Check {
        let mut steps = 0;
        while self.frontier < self.total()
            || self.producer.as_ref().is_some_and(|p| p.inflight.is_some())
        {
            steps += 1;
            ensure!(
                steps < DRAIN_STEPS,
                "the producer makes no progress: committed frontier stuck at {}",
                self.frontier
            );
            self.producer_step()?;
            self.check_step()?;
        }
        if let Some(t) = self.dangling.take() {
            // A crashed producer that was not needed again: the coordinator times its txn out.
            self.broker.end(t, false);
        }
        for who in [Who::A, Who::B] {
            self.restart(who)?;
        }
        loop {
            let mut moved = false;
            for who in [Who::A, Who::B] {
                moved |= self.poll(who, usize::MAX)? > 0;
                moved |= self.flush(who, true)?;
                self.check_step()?;
            }
            if !moved {
                break;
            }
        }
        for p in 0..PARTITIONS {
            let stored = self.sink.offsets.get(&p).copied().unwrap_or(0);
            if let Some((offset, rec)) = self.broker.fetch(p, stored) {
                return Err(format!(
                    "p{p}: drained, yet the record at offset {offset} ({}) was never applied: the sink's next offset is still {stored} and no member will read it again",
                    rec.map_or("poison".to_string(), |(id, _)| format!("{id:?}"))
                ));
            }
        }
        let want = self.all_ids();
        let have: BTreeSet<UserId> = self.sink.rows.keys().copied().collect();
        let missing: Vec<&UserId> = want.difference(&have).collect();
        let extra: Vec<&UserId> = have.difference(&want).collect();
        ensure!(
            missing.is_empty() && extra.is_empty(),
            "at quiescence the sink misses {missing:?} and has extra {extra:?}"
        );
        Ok(())
    }
}
