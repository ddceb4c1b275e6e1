//! The events of a run and their proptest strategies. `Debug` is short on purpose: a shrunk
//! counter-example prints as a readable script such as `[P.step, P.step, A.poll(2), A.commit+crash]`.

use std::fmt;

use eosflow::core::processor::BatchPolicy;
use proptest::prelude::*;

use super::sim::Setup;

/// A group member.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Who {
    A,
    B,
}

impl Who {
    pub fn i(self) -> usize {
        match self {
            Who::A => 0,
            Who::B => 1,
        }
    }

    pub fn other(self) -> Who {
        match self {
            Who::A => Who::B,
            Who::B => Who::A,
        }
    }
}

impl fmt::Debug for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Who::A => "A",
            Who::B => "B",
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Producer: one step of the run (start if down; open the next chunk's transaction; append
    /// one record; append the progress record; commit).
    PStep,
    /// Producer: start a run with a per-run `--count` limit (no-op if running).
    PStart(Option<u8>),
    /// Producer: abort the open transaction (its records leak on tansu/MockCluster) and retry the
    /// same chunk.
    PAbort,
    /// Producer: the commit succeeds but its outcome is unknown: produce the same chunk again.
    PCommitUnknown,
    /// Producer: crash at the current step (an open transaction stays open until the next start).
    PCrash,
    /// A non-transactional poison record appended to partition `n % PARTITIONS`.
    Poison(u8),
    /// Clock moves on (linger).
    Tick(u8),
    /// Member polls up to n records.
    Poll(Who, u8),
    /// `due` → take_batch → sink commit → committed (`true`: forced, as at shutdown).
    Flush(Who, bool),
    /// Due (or `true`: whatever the batch policy says) → wait for the batch in flight →
    /// take_batch → hand it to the sink thread; read on.
    Dispatch(Who, bool),
    /// The sink thread's write of the batch in flight commits → committed.
    Land(Who),
    /// The sink write (of the batch in flight, else the open batch) fails → discard everything
    /// not committed; then exit (`false`) or seek back (`true`).
    FailFlush(Who, bool),
    /// take_batch → sink commit → crash before `committed` and the Kafka commit.
    CommitCrash(Who),
    /// Lose all in-memory state (the group keeps its partitions until a rebalance).
    Crash(Who),
    /// A crashed member comes back: new core, assign its partitions with the sink's offsets.
    Restart(Who),
    /// The broker redelivers: the member's position in one of its partitions moves back by n.
    Rewind(Who, u8, u8),
    /// A record of a partition the member does not own arrives late.
    Late(Who, u8, u8),
    /// Partition `p` moves to the other member; eager or cooperative; the old owner's revoke
    /// flush may fail.
    Rebalance { p: u8, eager: bool, fails: bool },
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Event::PStep => write!(f, "P.step"),
            Event::PStart(None) => write!(f, "P.start"),
            Event::PStart(Some(n)) => write!(f, "P.start(count {n})"),
            Event::PAbort => write!(f, "P.abort"),
            Event::PCommitUnknown => write!(f, "P.commit?"),
            Event::PCrash => write!(f, "P.crash"),
            Event::Poison(p) => write!(f, "poison(p{})", i32::from(p) % super::sim::PARTITIONS),
            Event::Tick(ms) => write!(f, "+{ms}ms"),
            Event::Poll(w, n) => write!(f, "{w:?}.poll({n})"),
            Event::Flush(w, false) => write!(f, "{w:?}.flush"),
            Event::Flush(w, true) => write!(f, "{w:?}.flush!"),
            Event::Dispatch(w, false) => write!(f, "{w:?}.dispatch"),
            Event::Dispatch(w, true) => write!(f, "{w:?}.dispatch!"),
            Event::Land(w) => write!(f, "{w:?}.land"),
            Event::FailFlush(w, false) => write!(f, "{w:?}.fail+exit"),
            Event::FailFlush(w, true) => write!(f, "{w:?}.fail+seek"),
            Event::CommitCrash(w) => write!(f, "{w:?}.commit+crash"),
            Event::Crash(w) => write!(f, "{w:?}.crash"),
            Event::Restart(w) => write!(f, "{w:?}.restart"),
            Event::Rewind(w, p, n) => write!(f, "{w:?}.rewind(#{p},-{n})"),
            Event::Late(w, p, o) => write!(f, "{w:?}.late(#{p},#{o})"),
            Event::Rebalance { p, eager, fails } => write!(
                f,
                "move(p{}{}{})",
                i32::from(p) % super::sim::PARTITIONS,
                if eager { ",eager" } else { "" },
                if fails { ",revoke-fails" } else { "" }
            ),
        }
    }
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![Just(Who::A), Just(Who::B)]
}

pub fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        30 => Just(Event::PStep),
        2 => proptest::option::of(1u8..=4).prop_map(Event::PStart),
        3 => Just(Event::PAbort),
        2 => Just(Event::PCommitUnknown),
        3 => Just(Event::PCrash),
        1 => any::<u8>().prop_map(Event::Poison),
        3 => (0u8..=30).prop_map(Event::Tick),
        20 => (who(), 1u8..=4).prop_map(|(w, n)| Event::Poll(w, n)),
        6 => (who(), any::<bool>()).prop_map(|(w, f)| Event::Flush(w, f)),
        6 => (who(), any::<bool>()).prop_map(|(w, f)| Event::Dispatch(w, f)),
        6 => who().prop_map(Event::Land),
        2 => (who(), any::<bool>()).prop_map(|(w, s)| Event::FailFlush(w, s)),
        3 => who().prop_map(Event::CommitCrash),
        3 => who().prop_map(Event::Crash),
        4 => who().prop_map(Event::Restart),
        3 => (who(), any::<u8>(), 1u8..=6).prop_map(|(w, p, n)| Event::Rewind(w, p, n)),
        1 => (who(), any::<u8>(), any::<u8>()).prop_map(|(w, p, o)| Event::Late(w, p, o)),
        4 => (any::<u8>(), any::<bool>(), proptest::bool::weighted(0.2))
            .prop_map(|(p, eager, fails)| Event::Rebalance { p, eager, fails }),
    ]
}

pub fn setup() -> impl Strategy<Value = Setup> {
    (any::<bool>(), 1u32..=3, 1u64..=3, 1usize..=4, 0u64..=20).prop_map(
        |(shows_aborted, page_size, last_page, max_records, linger_ms)| Setup {
            shows_aborted,
            page_size,
            last_page,
            policy: BatchPolicy {
                max_records,
                linger_ms,
            },
        },
    )
}
