//! The driver-independent parts of a commit: bounded-concurrency writes with bounded retries,
//! last-wins de-duplication, and which offsets to advance. Generic over the write itself, so
//! tests drive them with fakes.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use futures::stream::{self, StreamExt};

/// How often and how patiently one statement is retried after a transient failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    /// Retries after the first attempt (attempts = retries + 1).
    pub retries: u32,
    /// Sleep before the first retry; doubled before each next one, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
}

impl Retry {
    pub fn new(retries: u32) -> Self {
        Retry {
            retries,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
        }
    }

    /// The sleep before retry number `retry` (1-based) of item `index`: exponential, plus up to
    /// ~30% spread by item index so that a burst of timeouts is not retried in lockstep.
    pub fn delay(&self, retry: u32, index: usize) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16))
            .min(self.max_backoff);
        let spread = exp.mul_f64((index % 7) as f64 * 0.05);
        exp + spread
    }
}

/// One failed attempt of a statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    /// Worth retrying: a timeout, an unavailable or overloaded node, a broken connection. Only
    /// sound because every statement of this sink is idempotent.
    pub transient: bool,
    pub detail: String,
}

/// A statement that failed for good (a permanent error, or the retries ran out).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail} (after {attempts} attempt{s})", s = if *.attempts == 1 { "" } else { "s" })]
pub struct Failed {
    pub attempts: u32,
    pub detail: String,
}

/// Run `attempt` until it succeeds, fails permanently, or `retry.retries` retries are spent.
/// Returns its value and how many retries it took. `index` only spreads the backoff.
pub async fn with_retries<T, F, Fut>(
    retry: &Retry,
    index: usize,
    mut attempt: F,
) -> Result<(T, u32), Failed>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, AttemptError>>,
{
    let mut retries = 0;
    loop {
        match attempt().await {
            Ok(value) => return Ok((value, retries)),
            Err(e) if e.transient && retries < retry.retries => {
                retries += 1;
                tracing::debug!(retry = retries, error = %e.detail, "cassandra: retrying");
                tokio::time::sleep(retry.delay(retries, index)).await;
            }
            Err(e) => {
                return Err(Failed {
                    attempts: retries + 1,
                    detail: e.detail,
                })
            }
        }
    }
}

/// What [`write_all`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub written: usize,
    pub retries: u32,
}

/// A write of [`write_all`] failed: which item, and how many had been written by then.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{written} of {total} rows written when item {index} failed: {failed}")]
pub struct WriteFailure {
    pub index: usize,
    pub written: usize,
    pub total: usize,
    pub failed: Failed,
}

/// Write every item with at most `concurrency` writes in flight (`buffer_unordered`), each
/// retried per `retry`. Stops at the first write that fails for good: the writes still in flight
/// are dropped (they may or may not land — harmless, since the caller then does not advance
/// offsets, and a replay rewrites the same rows).
pub async fn write_all<'a, T, F, Fut>(
    items: &'a [T],
    concurrency: usize,
    retry: &Retry,
    write: F,
) -> Result<WriteStats, WriteFailure>
where
    F: Fn(&'a T) -> Fut,
    Fut: Future<Output = Result<(), AttemptError>>,
{
    let write = &write;
    let mut results =
        stream::iter(items.iter().enumerate())
            .map(|(index, item)| async move {
                (index, with_retries(retry, index, || write(item)).await)
            })
            .buffer_unordered(concurrency.max(1));
    let mut stats = WriteStats::default();
    while let Some((index, result)) = results.next().await {
        match result {
            Ok(((), retries)) => {
                stats.written += 1;
                stats.retries += retries;
            }
            Err(failed) => {
                return Err(WriteFailure {
                    index,
                    written: stats.written,
                    total: items.len(),
                    failed,
                })
            }
        }
    }
    Ok(stats)
}

/// The offsets of `next` that move a partition forward from `stored` (new partitions included):
/// what to write so that every stored offset becomes `max(stored, next)`.
pub fn offsets_to_advance(
    stored: &BTreeMap<i32, i64>,
    next: &BTreeMap<i32, i64>,
) -> BTreeMap<i32, i64> {
    next.iter()
        .filter(|(partition, offset)| stored.get(partition).is_none_or(|old| *offset > old))
        .map(|(p, o)| (*p, *o))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    use std::sync::Mutex;

    use super::*;

    fn fast(retries: u32) -> Retry {
        Retry {
            retries,
            backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
        }
    }

    fn transient() -> AttemptError {
        AttemptError {
            transient: true,
            detail: "write timeout".into(),
        }
    }

    /// Counts writes in flight and remembers the largest count seen.
    #[derive(Default)]
    struct InFlight {
        now: AtomicUsize,
        max: AtomicUsize,
    }

    impl InFlight {
        async fn during(&self, work: Duration) {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(work).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn writes_run_concurrently_up_to_the_bound() {
        for (items, concurrency, expected_max) in [(200, 64, 64), (10, 64, 10), (50, 1, 1)] {
            let flight = InFlight::default();
            let written = Mutex::new(Vec::new());
            let data: Vec<usize> = (0..items).collect();
            let stats = write_all(&data, concurrency, &fast(0), |i| {
                let (flight, written) = (&flight, &written);
                async move {
                    flight.during(Duration::from_millis(2)).await;
                    written.lock().expect("lock").push(*i);
                    Ok(())
                }
            })
            .await
            .expect("all written");
            assert_eq!(
                stats,
                WriteStats {
                    written: items,
                    retries: 0
                }
            );
            assert_eq!(flight.max.load(Ordering::SeqCst), expected_max);
            let mut written = written.into_inner().expect("lock");
            written.sort_unstable();
            assert_eq!(written, data, "each item exactly once");
        }
    }

    #[tokio::test]
    async fn transient_failures_are_retried_a_bounded_number_of_times() {
        let attempts: Vec<AtomicU32> = (0..20).map(|_| AtomicU32::new(0)).collect();
        let data: Vec<usize> = (0..20).collect();
        // Every third item times out twice, then succeeds.
        let stats = write_all(&data, 8, &fast(2), |i| {
            let n = attempts[*i].fetch_add(1, Ordering::SeqCst);
            async move {
                if i % 3 == 0 && n < 2 {
                    Err(transient())
                } else {
                    Ok(())
                }
            }
        })
        .await
        .expect("retries suffice");
        assert_eq!(stats.written, 20);
        assert_eq!(stats.retries, 7 * 2);

        // With one retry fewer, the first such item fails for good after 2 attempts.
        let attempts: Vec<AtomicU32> = (0..20).map(|_| AtomicU32::new(0)).collect();
        let err = write_all(&data, 1, &fast(1), |i| {
            let n = attempts[*i].fetch_add(1, Ordering::SeqCst);
            async move {
                if i % 3 == 0 && n < 2 {
                    Err(transient())
                } else {
                    Ok(())
                }
            }
        })
        .await
        .expect_err("retries run out");
        assert_eq!(err.index, 0);
        assert_eq!(err.failed.attempts, 2);
        assert_eq!(err.written, 0);
        assert!(
            err.to_string().contains(
                "0 of 20 rows written when item 0 failed: write timeout (after 2 attempts)"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn permanent_failures_are_not_retried_and_stop_the_writes() {
        let calls = AtomicUsize::new(0);
        let data: Vec<usize> = (0..1000).collect();
        let err = write_all(&data, 4, &fast(5), |i| {
            calls.fetch_add(1, Ordering::SeqCst);
            let i = *i;
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                if i == 10 {
                    Err(AttemptError {
                        transient: false,
                        detail: "Invalid: mutation too large".into(),
                    })
                } else {
                    Ok(())
                }
            }
        })
        .await
        .expect_err("a permanent error");
        assert_eq!(err.index, 10);
        assert_eq!(err.failed.attempts, 1, "not retried");
        assert!(err.written <= 10 + 3, "{err}");
        assert!(
            calls.load(Ordering::SeqCst) < 20,
            "no new writes are started after the failure"
        );
    }

    #[tokio::test]
    async fn with_retries_counts() {
        let n = AtomicU32::new(0);
        let r = with_retries(&fast(3), 0, || {
            let k = n.fetch_add(1, Ordering::SeqCst);
            async move {
                if k < 3 {
                    Err(transient())
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert_eq!(r, Ok(((), 3)));
        let r: Result<((), u32), Failed> =
            with_retries(&fast(0), 0, || async { Err(transient()) }).await;
        assert_eq!(
            r,
            Err(Failed {
                attempts: 1,
                detail: "write timeout".into()
            })
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let r = Retry::new(10);
        assert_eq!(r.delay(1, 0), Duration::from_millis(100));
        assert_eq!(r.delay(2, 0), Duration::from_millis(200));
        assert_eq!(r.delay(3, 0), Duration::from_millis(400));
        assert_eq!(r.delay(10, 0), Duration::from_secs(2));
        assert_eq!(r.delay(40, 0), Duration::from_secs(2));
        assert!(r.delay(1, 6) > r.delay(1, 0));
        assert!(r.delay(1, 6) <= Duration::from_millis(130));
    }

    #[test]
    fn offsets_only_move_forward() {
        let m = |pairs: &[(i32, i64)]| pairs.iter().copied().collect::<BTreeMap<_, _>>();
        let stored = m(&[(0, 100), (1, 7), (2, 5)]);
        assert_eq!(
            offsets_to_advance(&stored, &m(&[(0, 50), (1, 8), (2, 5), (3, 1)])),
            m(&[(1, 8), (3, 1)])
        );
        assert_eq!(offsets_to_advance(&m(&[]), &m(&[(0, 0)])), m(&[(0, 0)]));
        assert!(offsets_to_advance(&stored, &m(&[])).is_empty());
        assert!(offsets_to_advance(&stored, &stored).is_empty());
    }
}
