//! Fault injection for `produce`, the drills that show the guarantees hold on a real broker:
//! aborted transactions (`--inject-abort-ratio`) and a producer stuck inside a transaction past
//! its timeout (`--inject-stall`). Off unless asked for.
//!
//! An injected abort writes a *canary* copy of the chunk first, in its own transaction, then
//! aborts it: the same users with their source renamed [`CANARY_SOURCE_PREFIX`]`<source>`, so
//! their keys differ from every real user's. A `read_committed` reader that ever shows a canary
//! (in Kafka, or as an `extra` row in the sink) has read an aborted transaction. The canary
//! transaction also carries the chunk's progress record, so a reader that took an aborted cursor
//! for a committed one would skip the chunk and `verify` would report the users lost.

use std::time::Duration;

use crate::avro::{CodecError, UserEncoder};
use crate::core::producer::PageRange;
use crate::kafka::producer::{Delivery, OutRecord};
use crate::model::User;

/// The source name of canary users is this prefix plus the real source's.
pub const CANARY_SOURCE_PREFIX: &str = "eosflow-aborted:";

/// What to inject.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Faults {
    /// The share of chunks (0 to 1) preceded by an aborted canary transaction.
    pub abort_ratio: f64,
    /// Seeds which chunks abort: the same seed aborts the same chunks, across restarts.
    pub seed: u64,
    /// Stall this long inside the transaction of the `n`-th chunk of this run (1-based).
    pub stall: Option<(u64, Duration)>,
}

impl Faults {
    pub fn none() -> Self {
        Faults::default()
    }

    pub fn any(&self) -> bool {
        self.abort_ratio > 0.0 || self.stall.is_some()
    }

    /// Whether the chunk `range` gets an aborted canary transaction first.
    pub fn aborts(&self, range: &PageRange) -> bool {
        if self.abort_ratio <= 0.0 {
            return false;
        }
        let mut x = self.seed ^ range.page.rotate_left(20) ^ u64::from(range.from);
        // splitmix64: a well-mixed hash of the chunk, so the choice looks random but replays.
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        (x as f64 / u64::MAX as f64) < self.abort_ratio
    }

    /// The stall to inject into chunk number `n` of this run.
    pub fn stall_at(&self, n: u64) -> Option<Duration> {
        self.stall.filter(|(at, _)| *at == n).map(|(_, d)| d)
    }
}

/// Whether `user` is a canary of an injected abort.
pub fn is_canary(user: &User) -> bool {
    user.source_name.starts_with(CANARY_SOURCE_PREFIX)
}

/// The canary transaction of a chunk: `users` renamed (see the module docs) and `progress`.
pub fn canary(
    topic: &str,
    encoder: &UserEncoder<'_>,
    users: &[&User],
    progress: Option<OutRecord>,
) -> Result<Delivery, CodecError> {
    let mut records = Vec::with_capacity(users.len());
    for user in users {
        let mut copy = (*user).clone();
        copy.source_name = format!("{CANARY_SOURCE_PREFIX}{}", user.source_name);
        records.push(OutRecord::new(
            topic,
            copy.key().to_string(),
            encoder.framed(&copy)?,
        ));
    }
    Ok(Delivery { records, progress })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_the_ratio_of_chunks_abort_and_the_same_ones_on_a_replay() {
        let faults = Faults {
            abort_ratio: 1.0 / 3.0,
            seed: 7,
            stall: None,
        };
        let ranges: Vec<PageRange> = (1..=3000)
            .map(|page| PageRange {
                page,
                from: 0,
                to: 100,
            })
            .collect();
        let aborted = ranges.iter().filter(|r| faults.aborts(r)).count();
        assert!((900..1100).contains(&aborted), "{aborted} of 3000");
        let again = ranges.iter().filter(|r| faults.aborts(r)).count();
        assert_eq!(aborted, again, "deterministic");
        assert!(!Faults::none().aborts(&ranges[0]));
        let stall = Faults {
            stall: Some((3, Duration::from_secs(9))),
            ..Faults::none()
        };
        assert_eq!(stall.stall_at(3), Some(Duration::from_secs(9)));
        assert_eq!(stall.stall_at(2), None);
    }

    #[test]
    fn canaries_have_their_own_keys() {
        let schema = crate::avro::newest_user_schema().parsed();
        let user = crate::model::sample::user(1);
        let doomed = canary("t", &UserEncoder::new(schema, 1), &[&user], None).expect("encodes");
        assert_eq!(doomed.records.len(), 1);
        assert_ne!(
            doomed.records[0].key.as_deref(),
            Some(user.key().to_string().as_bytes())
        );
        let mut copy = user.clone();
        copy.source_name = format!("{CANARY_SOURCE_PREFIX}{}", user.source_name);
        assert!(is_canary(&copy) && !is_canary(&user));
    }
}
