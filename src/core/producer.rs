//! The producer's protocol: a cursor over the deterministic source, cut into transactions.
//!
//! A [`Cursor`] names the next user to produce: `(seed, page, index)`. A run is a sequence of
//! [`PageRange`]s — at most one page each, so one chunk is one Kafka transaction — and after a chunk
//! commits the cursor moves to its end. Because the source is deterministic, re-producing a chunk
//! (after an abort, a crash, or an unknown commit outcome) yields the same users and the same keys.

use crate::model::SourceIdentity;

/// The next user to produce.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub seed: String,
    /// 1-based page.
    pub page: u64,
    /// 0-based index within the page.
    pub index: u32,
}

impl Cursor {
    pub fn start(seed: impl Into<String>, page: u64) -> Self {
        Cursor {
            seed: seed.into(),
            page: page.max(1),
            index: 0,
        }
    }
}

/// One transaction's worth of users: `[from, to)` within `page`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRange {
    pub page: u64,
    pub from: u32,
    pub to: u32,
}

impl PageRange {
    pub fn len(&self) -> u32 {
        self.to - self.from
    }

    pub fn is_empty(&self) -> bool {
        self.to == self.from
    }

    /// Whether the user at `index` of the page is in this range (an index that does not fit a
    /// page index is not).
    pub fn holds(&self, index: impl TryInto<u32>) -> bool {
        index
            .try_into()
            .is_ok_and(|i| (self.from..self.to).contains(&i))
    }
}

/// Plans chunks: pages of `page_size` users, stopping after `limit` users when set.
#[derive(Debug, Clone)]
pub struct Plan {
    pub page_size: u32,
    pub limit: Option<u64>,
    /// The last page to produce (inclusive), whatever the run's start.
    pub last_page: Option<u64>,
    /// A resumed run first replays the recorded chunk up to this cursor, whole and uncounted.
    pub replay_until: Option<Cursor>,
    produced: u64,
    replayed: u64,
}

impl Plan {
    pub fn new(page_size: u32, limit: Option<u64>) -> Self {
        Plan {
            page_size: page_size.max(1),
            limit,
            last_page: None,
            replay_until: None,
            produced: 0,
            replayed: 0,
        }
    }

    /// Replay up to `until` (the recorded cursor) first: those chunks are re-sent whole and do not
    /// count against the limit, so a resumed run never commits a cursor behind the recorded one.
    pub fn replaying(mut self, until: Option<&Cursor>) -> Self {
        self.replay_until = until.cloned();
        self
    }

    fn in_replay(&self, cursor: &Cursor) -> bool {
        self.replay_until
            .as_ref()
            .is_some_and(|u| (cursor.page, cursor.index) < (u.page, u.index))
    }

    /// Stop after page `last` (an absolute end, so restarted runs aim at the same target).
    pub fn until_page(mut self, last: Option<u64>) -> Self {
        self.last_page = last;
        self
    }

    /// The next chunk from `cursor`, or None when the limit is reached.
    pub fn next(&self, cursor: &Cursor) -> Option<PageRange> {
        if self.last_page.is_some_and(|last| cursor.page > last) {
            return None;
        }
        if let Some(until) = self
            .replay_until
            .as_ref()
            .filter(|_| self.in_replay(cursor))
        {
            let to = if until.page == cursor.page {
                until.index
            } else {
                self.page_size
            };
            return Some(PageRange {
                page: cursor.page,
                from: cursor.index,
                to,
            });
        }
        let left_in_page = u64::from(self.page_size.saturating_sub(cursor.index));
        let want = match self.limit {
            Some(limit) => left_in_page.min(limit.saturating_sub(self.produced)),
            None => left_in_page,
        };
        if want == 0 {
            return None;
        }
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        Some(PageRange {
            page: cursor.page,
            from: cursor.index,
            to: cursor.index + want,
        })
    }

    /// The chunk committed: count it and return the cursor after it.
    pub fn committed(&mut self, cursor: &Cursor, chunk: &PageRange) -> Cursor {
        if self.in_replay(cursor) {
            self.replayed += u64::from(chunk.len());
        } else {
            self.produced += u64::from(chunk.len());
        }
        if chunk.to >= self.page_size {
            Cursor {
                seed: cursor.seed.clone(),
                page: chunk.page + 1,
                index: 0,
            }
        } else {
            Cursor {
                seed: cursor.seed.clone(),
                page: chunk.page,
                index: chunk.to,
            }
        }
    }

    /// New users produced so far (replayed ones not included).
    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// Users re-sent by the replay of the recorded chunk.
    pub fn replayed(&self) -> u64 {
        self.replayed
    }
}

/// What the producer stores in its progress topic, in the SAME transaction as the chunk's records
/// (keyed by transactional.id): the chunk just written, the cursor after it, and where this
/// producer began, so that `[first, next)` is exactly what it committed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub source: String,
    pub page_size: u32,
    pub seed: String,
    pub chunk_page: u64,
    pub chunk_from: u32,
    pub chunk_to: u32,
    pub next: Cursor,
    /// The cursor this producer started at (kept across restarts); absent in progress written
    /// before eosflow recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Cursor>,
}

impl Progress {
    pub fn after(source: &str, page_size: u32, chunk: &PageRange, next: &Cursor) -> Self {
        Progress {
            source: source.to_string(),
            page_size,
            seed: next.seed.clone(),
            chunk_page: chunk.page,
            chunk_from: chunk.from,
            chunk_to: chunk.to,
            next: next.clone(),
            first: None,
        }
    }

    /// The same progress, saying the producer began at `first`.
    pub fn since(mut self, first: Option<Cursor>) -> Self {
        self.first = first;
        self
    }

    /// Every identity this producer committed, `[first, next)` in page order; None when the
    /// start is not recorded. Rejected users are among them (they keep their identity).
    pub fn committed(&self) -> Option<impl Iterator<Item = SourceIdentity> + '_> {
        let first = self.first.as_ref()?;
        let page_size = self.page_size.max(1);
        let (start, end) = (
            (first.page, first.index.min(page_size)),
            (self.next.page, self.next.index.min(page_size)),
        );
        Some(
            (start.0..=end.0.max(start.0))
                .flat_map(move |page| {
                    let from = if page == start.0 { start.1 } else { 0 };
                    let to = if page == end.0 { end.1 } else { page_size };
                    (from..to.max(from)).map(move |index| (page, index))
                })
                .filter(move |&(page, index)| (page, index) >= start && (page, index) < end)
                .map(move |(page, index)| SourceIdentity {
                    source: self.source.clone(),
                    seed: self.seed.clone(),
                    page,
                    index,
                }),
        )
    }
}

/// Where a (re)started producer begins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resume {
    /// No usable progress: start at the configured page.
    Fresh(Cursor),
    /// Replay the last recorded chunk, then go on. On a broker that hides aborted transactions the
    /// replay only repeats committed records (same keys, so the sink is unchanged); on one that
    /// shows them (tansu, MockCluster) the recorded chunk may be an aborted one, and replaying it
    /// is what closes the gap. A leaked cursor is at most one chunk ahead of the last committed
    /// one, because chunk n+1 never begins before chunk n commits.
    Replay(Cursor),
}

/// Why stored progress cannot be resumed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeError {
    #[error("the progress of seed {seed:?} was made with page size {stored}, not {configured}: a user's identity is its (page, index), so changing the page size would give old identities to new users. Keep --page-size {stored}, or use a new --seed")]
    PageSizeChanged {
        seed: String,
        stored: u32,
        configured: u32,
    },
}

/// Decide where to begin from the last stored progress (pure).
pub fn resume(
    stored: Option<&Progress>,
    source: &str,
    seed: &str,
    start_page: u64,
    page_size: u32,
) -> Result<Resume, ResumeError> {
    match stored {
        Some(p) if p.seed == seed && p.source == source => {
            if p.page_size != page_size {
                return Err(ResumeError::PageSizeChanged {
                    seed: seed.to_string(),
                    stored: p.page_size,
                    configured: page_size,
                });
            }
            Ok(Resume::Replay(Cursor {
                seed: seed.to_string(),
                page: p.chunk_page,
                index: p.chunk_from,
            }))
        }
        _ => Ok(Resume::Fresh(Cursor::start(seed, start_page))),
    }
}

/// How a transaction step failed, as the Kafka adapter classifies librdkafka's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnFailure {
    /// The error says it can be retried as is (e.g. a transient coordinator error).
    Retriable,
    /// The transaction must be aborted; then the same chunk can be produced again.
    Abortable,
    /// Another producer with the same transactional.id took over (producer fenced).
    Fenced,
    /// Fatal for this producer instance (e.g. an unrecoverable idempotence error).
    Fatal,
    /// The commit's outcome is unknown (timed out): it may or may not have committed.
    Unknown,
}

/// What to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnAction {
    /// Retry the same step.
    RetryStep,
    /// Abort the transaction, then produce the same chunk again.
    AbortAndRetryChunk,
    /// Recreate and re-initialise the producer (fencing the old session), then produce the same
    /// chunk again: a duplicate of a chunk that did commit lands on the same keys.
    ReinitAndRetryChunk,
    /// Stop with an error.
    Exit,
}

/// The decision table for transaction failures (Kafka's transactional producer guidance):
/// give up after `max_attempts` tries of one chunk.
pub fn on_failure(failure: TxnFailure, attempt: u32, max_attempts: u32) -> TxnAction {
    if attempt >= max_attempts {
        return TxnAction::Exit;
    }
    match failure {
        TxnFailure::Retriable => TxnAction::RetryStep,
        TxnFailure::Abortable => TxnAction::AbortAndRetryChunk,
        TxnFailure::Unknown | TxnFailure::Fatal => TxnAction::ReinitAndRetryChunk,
        TxnFailure::Fenced => TxnAction::Exit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_are_cut_into_chunks_and_the_limit_is_exact() {
        let mut plan = Plan::new(10, Some(25));
        let mut cursor = Cursor::start("s", 1);
        let mut chunks = Vec::new();
        while let Some(chunk) = plan.next(&cursor) {
            cursor = plan.committed(&cursor, &chunk);
            chunks.push(chunk);
        }
        assert_eq!(
            chunks,
            vec![
                PageRange {
                    page: 1,
                    from: 0,
                    to: 10
                },
                PageRange {
                    page: 2,
                    from: 0,
                    to: 10
                },
                PageRange {
                    page: 3,
                    from: 0,
                    to: 5
                },
            ]
        );
        assert_eq!(plan.produced(), 25);
        assert_eq!(
            cursor,
            Cursor {
                seed: "s".into(),
                page: 3,
                index: 5
            }
        );
        // A later run resumes mid-page without a gap or an overlap.
        let plan2 = Plan::new(10, Some(100));
        assert_eq!(
            plan2.next(&cursor),
            Some(PageRange {
                page: 3,
                from: 5,
                to: 10
            })
        );
    }

    #[test]
    fn a_replay_is_whole_and_uncounted_so_the_cursor_never_goes_back() {
        // Recorded: chunk page 1 [0, 2), next cursor page 2 index 0. A resumed run with --count 1.
        let recorded = Cursor {
            seed: "s".into(),
            page: 2,
            index: 0,
        };
        let mut plan = Plan::new(2, Some(1)).replaying(Some(&recorded));
        let start = Cursor {
            seed: "s".into(),
            page: 1,
            index: 0,
        };
        let replay = plan.next(&start).expect("replay");
        assert_eq!(
            replay,
            PageRange {
                page: 1,
                from: 0,
                to: 2
            }
        );
        let after = plan.committed(&start, &replay);
        assert_eq!(
            after, recorded,
            "back at the recorded cursor, not behind it"
        );
        assert_eq!((plan.produced(), plan.replayed()), (0, 2));
        assert_eq!(
            plan.next(&after),
            Some(PageRange {
                page: 2,
                from: 0,
                to: 1
            }),
            "then one new user"
        );
    }

    #[test]
    fn committed_identities_run_from_first_to_next() {
        let cursor = |page, index| Cursor {
            seed: "s".into(),
            page,
            index,
        };
        let chunk = PageRange {
            page: 3,
            from: 0,
            to: 4,
        };
        let p = Progress::after("generator", 10, &chunk, &cursor(3, 4));
        assert!(p.committed().is_none(), "no recorded start: unknown");
        let ids = |p: &Progress| -> Vec<(u64, u32)> {
            p.committed()
                .expect("a recorded start")
                .map(|i| (i.page, i.index))
                .collect()
        };
        let want: Vec<(u64, u32)> = (7..10)
            .map(|i| (1, i))
            .chain((0..10).map(|i| (2, i)))
            .chain((0..4).map(|i| (3, i)))
            .collect();
        assert_eq!(ids(&p.clone().since(Some(cursor(1, 7)))), want);
        assert_eq!(
            ids(&p.clone().since(Some(cursor(3, 4)))),
            vec![],
            "nothing yet"
        );
        assert_eq!(
            ids(&p.clone().since(Some(cursor(3, 1)))),
            vec![(3, 1), (3, 2), (3, 3)]
        );
        let full_page = Progress::after("generator", 10, &chunk, &cursor(4, 0));
        assert_eq!(
            ids(&full_page.since(Some(cursor(3, 8)))),
            vec![(3, 8), (3, 9)]
        );
        let one = p
            .since(Some(cursor(3, 3)))
            .committed()
            .expect("start")
            .next()
            .expect("one");
        assert_eq!(
            (one.source.as_str(), one.seed.as_str(), one.page, one.index),
            ("generator", "s", 3, 3)
        );
    }

    #[test]
    fn the_last_page_is_an_absolute_end() {
        let plan = Plan::new(10, None).until_page(Some(3));
        assert_eq!(
            plan.next(&Cursor {
                seed: "s".into(),
                page: 3,
                index: 4
            }),
            Some(PageRange {
                page: 3,
                from: 4,
                to: 10
            })
        );
        assert_eq!(
            plan.next(&Cursor {
                seed: "s".into(),
                page: 4,
                index: 0
            }),
            None
        );
    }

    #[test]
    fn failure_table() {
        assert_eq!(
            on_failure(TxnFailure::Abortable, 1, 5),
            TxnAction::AbortAndRetryChunk
        );
        assert_eq!(
            on_failure(TxnFailure::Unknown, 1, 5),
            TxnAction::ReinitAndRetryChunk
        );
        assert_eq!(on_failure(TxnFailure::Fenced, 1, 5), TxnAction::Exit);
        assert_eq!(on_failure(TxnFailure::Retriable, 5, 5), TxnAction::Exit);
    }

    #[test]
    fn resume_replays_the_recorded_chunk_and_guards_the_page_size() {
        let chunk = PageRange {
            page: 4,
            from: 0,
            to: 10,
        };
        let next = Cursor {
            seed: "s".into(),
            page: 5,
            index: 0,
        };
        let p = Progress::after("generator", 10, &chunk, &next);
        assert_eq!(
            resume(Some(&p), "generator", "s", 1, 10),
            Ok(Resume::Replay(Cursor {
                seed: "s".into(),
                page: 4,
                index: 0
            }))
        );
        assert_eq!(
            resume(Some(&p), "generator", "other", 1, 10),
            Ok(Resume::Fresh(Cursor::start("other", 1)))
        );
        assert_eq!(
            resume(None, "generator", "s", 3, 10),
            Ok(Resume::Fresh(Cursor::start("s", 3)))
        );
        assert!(matches!(
            resume(Some(&p), "generator", "s", 1, 20),
            Err(ResumeError::PageSizeChanged {
                stored: 10,
                configured: 20,
                ..
            })
        ));
    }
}
