//! The producer's protocol: a cursor over the deterministic source, cut into transactions.
//!
//! A [`Cursor`] names the next user to produce: `(seed, page, index)`. A run is a sequence of
//! [`Chunk`]s — at most one page each, so one chunk is one Kafka transaction — and after a chunk
//! commits the cursor moves to its end. Because the source is deterministic, re-producing a chunk
//! (after an abort, a crash, or an unknown commit outcome) yields the same users and the same keys.

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
pub struct Chunk {
    pub page: u64,
    pub from: u32,
    pub to: u32,
}

impl Chunk {
    pub fn len(&self) -> u32 {
        self.to - self.from
    }

    pub fn is_empty(&self) -> bool {
        self.to == self.from
    }
}

/// Plans chunks: pages of `page_size` users, stopping after `limit` users when set.
#[derive(Debug, Clone)]
pub struct Plan {
    pub page_size: u32,
    pub limit: Option<u64>,
    produced: u64,
}

impl Plan {
    pub fn new(page_size: u32, limit: Option<u64>) -> Self {
        Plan {
            page_size: page_size.max(1),
            limit,
            produced: 0,
        }
    }

    /// The next chunk from `cursor`, or None when the limit is reached.
    pub fn next(&self, cursor: &Cursor) -> Option<Chunk> {
        let left_in_page = u64::from(self.page_size.saturating_sub(cursor.index));
        let want = match self.limit {
            Some(limit) => left_in_page.min(limit.saturating_sub(self.produced)),
            None => left_in_page,
        };
        if want == 0 {
            return None;
        }
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        Some(Chunk {
            page: cursor.page,
            from: cursor.index,
            to: cursor.index + want,
        })
    }

    /// The chunk committed: count it and return the cursor after it.
    pub fn committed(&mut self, cursor: &Cursor, chunk: &Chunk) -> Cursor {
        self.produced += u64::from(chunk.len());
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

    /// Users produced so far.
    pub fn produced(&self) -> u64 {
        self.produced
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
                Chunk {
                    page: 1,
                    from: 0,
                    to: 10
                },
                Chunk {
                    page: 2,
                    from: 0,
                    to: 10
                },
                Chunk {
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
            Some(Chunk {
                page: 3,
                from: 5,
                to: 10
            })
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
}
