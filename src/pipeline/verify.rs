//! `eosflow verify`: reconcile the source, the topic and the sink, by UUIDv5 key.
//!
//! The source of truth is what the producers committed: every producer's progress record says
//! where it began and where it is (`[first, next)`), and the source is deterministic, so those
//! users' keys are known without fetching them; users the producer rejected (in the rejects topic)
//! are taken out. Records of the topic that no progress explains (another producer, progress
//! written before eosflow recorded its start) are expected too.
//!
//! - `expected`: distinct keys committed at the source or found in the topic (read_committed; a
//!   replayed or leaked record has the same key as its original, so it counts once);
//! - `present`: expected keys in the sink;
//! - `missing`: in the topic, not in the sink (the processor has not applied them, or lost them);
//! - `lost`: committed at the source, in neither the topic nor the sink: gone from Kafka before
//!   they were processed (retention, a broker, a misconfigured topic);
//! - `duplicates`: rows beyond the first for any key; `extra`: sink keys nothing explains;
//! - `dead_letters`: poison records in the topic; each must be in the dead-letter topic (counted
//!   by source position), else it counts as missing.

use std::collections::BTreeSet;
use std::time::Duration;

use apache_avro::Schema;
use serde::Serialize;
use tokio::runtime::Handle;
use uuid::Uuid;

use super::decode::{RecordDecoder, RegistryLookup};
use super::PipelineError;
use crate::kafka::progress::{self, SideTopics};
use crate::kafka::reader::read_topic;
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::sink::{Sink, SkippedRange};

/// The reconciliation result (printed as JSON by `verify --json`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct VerifyReport {
    pub expected: u64,
    pub present: u64,
    pub missing: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub extra: u64,
    /// Poison records in the topic (shown when any).
    #[serde(skip_serializing_if = "is_zero")]
    pub dead_letters: u64,
    /// Users the producers committed (their cursors say so), rejects included; shown when any
    /// producer recorded its start.
    #[serde(skip_serializing_if = "is_zero")]
    pub committed: u64,
    /// Of those, the users validation rejected (in the rejects topic, never in the data topic).
    #[serde(skip_serializing_if = "is_zero")]
    pub rejected: u64,
    /// The ranges a processor skipped on purpose (`--skip-lost-records`), as the sink keeps them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<SkippedRange>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The keys each place holds.
#[derive(Debug, Clone, Default)]
pub struct Keys {
    /// Committed at the source, rejects removed.
    pub source: BTreeSet<Uuid>,
    /// Decoded from the topic's records.
    pub topic: BTreeSet<Uuid>,
}

impl VerifyReport {
    /// Nothing missing, lost, duplicated or extra.
    pub fn exact(&self) -> bool {
        self.missing == 0 && self.lost == 0 && self.duplicates == 0 && self.extra == 0
    }

    /// Compare the source's and the topic's keys with the sink's id counts.
    pub fn reconcile(keys: &Keys, sink: &crate::sink::IdCounts) -> Self {
        let in_sink = |k: &Uuid| sink.contains_key(k);
        let expected: BTreeSet<&Uuid> = keys.source.iter().chain(&keys.topic).collect();
        let present = expected.iter().filter(|k| in_sink(k)).count() as u64;
        let lost = keys
            .source
            .iter()
            .filter(|k| !keys.topic.contains(k) && !in_sink(k))
            .count() as u64;
        VerifyReport {
            expected: expected.len() as u64,
            present,
            missing: expected.len() as u64 - present - lost,
            lost,
            duplicates: sink.values().map(|&n| n.saturating_sub(1)).sum(),
            extra: sink.keys().filter(|k| !expected.contains(k)).count() as u64,
            ..VerifyReport::default()
        }
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {} present {} missing {} lost {} duplicates {} extra {}",
            if self.exact() { "EXACT" } else { "NOT EXACT" },
            self.expected,
            self.present,
            self.missing,
            self.lost,
            self.duplicates,
            self.extra
        )?;
        for s in &self.skipped {
            write!(
                f,
                "; group {:?} skipped partition {} offsets {}..{} (deleted before it read them)",
                s.group, s.range.partition, s.range.from, s.range.to
            )?;
        }
        if self.lost > 0 {
            write!(f, " ({} users the producers committed are gone from the topic and never reached the sink: retention, or a broker lost them)", self.lost)?;
        }
        Ok(())
    }
}

/// What `verify` reads besides the sink.
pub struct VerifyJob<'a> {
    pub kafka: &'a KafkaSettings,
    pub topic: &'a str,
    pub dlq_topic: &'a str,
    /// The producers' progress and rejects topics.
    pub side: &'a SideTopics,
    pub timeout: Duration,
}

/// Read the producers' progress, the rejects, the whole topic, its dead-letter topic and the
/// sink, and reconcile them.
pub fn run(
    job: &VerifyJob<'_>,
    sink: &mut dyn Sink,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
) -> Result<VerifyReport, PipelineError> {
    let (kafka, topic, timeout) = (job.kafka, job.topic, job.timeout);
    kafka.preflight(timeout)?;
    let mut keys = Keys::default();
    let mut committed = 0u64;
    for progress in progress::load_all(kafka, &job.side.progress, timeout)?.values() {
        if let Some(ids) = progress.committed() {
            for id in ids {
                committed += 1;
                keys.source.insert(id.key());
            }
        }
    }
    let rejected = if committed > 0 {
        let rejected = progress::rejected(kafka, &job.side.rejects, timeout)?;
        let before = keys.source.len();
        keys.source.retain(|k| !rejected.contains(k));
        (before - keys.source.len()) as u64
    } else {
        0
    };
    let mut poison: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut unavailable: Option<PipelineError> = None;
    let mut decoder = RecordDecoder::new(reader);
    // A registry that is down or refuses eosflow stops verify (no retry); only an error about
    // the record itself (unknown id, invalid schema) makes it poison.
    let mut lookup = RegistryLookup {
        registry,
        handle,
        attempts: 1,
    };
    read_topic(kafka, topic, timeout, |r| {
        if unavailable.is_some() {
            return;
        }
        match decoder.decode(r.value.as_deref(), &mut lookup) {
            Ok(Ok(user)) => {
                keys.topic.insert(user.key());
            }
            Ok(Err(_)) => {
                poison.insert((r.partition, r.offset));
            }
            Err(e) => unavailable = Some(e.into()),
        }
    })?;
    if let Some(e) = unavailable {
        return Err(e);
    }
    let lettered = if poison.is_empty() {
        BTreeSet::new()
    } else {
        lettered(kafka, job.dlq_topic, topic, timeout)?
    };
    let counts = sink.id_counts()?;
    let mut report = VerifyReport::reconcile(&keys, &counts);
    report.dead_letters = poison.len() as u64;
    report.missing += poison.difference(&lettered).count() as u64;
    report.committed = committed;
    report.rejected = rejected;
    report.skipped = sink.skipped(topic)?;
    Ok(report)
}

/// The source positions of `topic` that have a letter in the dead-letter topic.
fn lettered(
    kafka: &KafkaSettings,
    dlq_topic: &str,
    topic: &str,
    timeout: Duration,
) -> Result<BTreeSet<(i32, i64)>, PipelineError> {
    let mut lettered = BTreeSet::new();
    read_topic(kafka, dlq_topic, timeout, |r| {
        if r.header("eosflow.source.topic").as_deref() == Some(topic) {
            let p = r
                .header("eosflow.source.partition")
                .and_then(|p| p.parse().ok());
            let o = r
                .header("eosflow.source.offset")
                .and_then(|o| o.parse().ok());
            if let (Some(p), Some(o)) = (p, o) {
                lettered.insert((p, o));
            }
        }
    })?;
    Ok(lettered)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn reconcile_counts_each_class() {
        let k = |n: u128| Uuid::from_u128(n);
        let keys = Keys {
            source: BTreeSet::new(),
            topic: BTreeSet::from([k(1), k(2), k(3)]),
        };
        let sink = BTreeMap::from([(k(1), 1), (k(2), 3), (k(9), 1)]);
        let r = VerifyReport::reconcile(&keys, &sink);
        assert_eq!(
            r,
            VerifyReport {
                expected: 3,
                present: 2,
                missing: 1,
                duplicates: 2,
                extra: 1,
                ..VerifyReport::default()
            }
        );
        assert!(!r.exact());
        let exact = BTreeMap::from([(k(1), 1), (k(2), 1), (k(3), 1)]);
        assert!(VerifyReport::reconcile(&keys, &exact).exact());
    }

    #[test]
    fn committed_users_gone_from_the_topic_are_lost_unless_the_sink_has_them() {
        let k = |n: u128| Uuid::from_u128(n);
        // 1..=4 committed; 3 and 4 deleted from the topic by retention; 3 was processed first.
        let keys = Keys {
            source: BTreeSet::from([k(1), k(2), k(3), k(4)]),
            topic: BTreeSet::from([k(1), k(2)]),
        };
        let sink = BTreeMap::from([(k(1), 1), (k(2), 1), (k(3), 1)]);
        let r = VerifyReport::reconcile(&keys, &sink);
        assert_eq!((r.expected, r.present, r.missing, r.lost), (4, 3, 0, 1));
        assert!(!r.exact(), "a loss is never exact");
        assert!(r.to_string().starts_with("NOT EXACT") && r.to_string().contains("lost 1"));
        // The same without the source's view: the loss would be invisible.
        let topic_only = Keys {
            source: BTreeSet::new(),
            ..keys.clone()
        };
        assert_eq!(VerifyReport::reconcile(&topic_only, &sink).extra, 1);
    }
}
