//! `eosflow verify`: reconcile a topic with a sink, by UUIDv5 key.
//!
//! expected = distinct keys of the users in the topic (read_committed; a replayed or leaked record
//! has the same key as its original, so it counts once); present = expected keys found in the
//! sink; missing = expected − sink; duplicates = rows beyond the first for any key; extra = sink
//! keys that no record in the topic explains.

use std::collections::BTreeSet;
use std::time::Duration;

use apache_avro::Schema;
use serde::Serialize;
use tokio::runtime::Handle;
use uuid::Uuid;

use super::dlq::invalid_user;
use super::PipelineError;
use crate::avro::{decode_user, unframe, WriterChecks};
use crate::kafka::consumer::read_topic;
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::sink::Sink;

/// The reconciliation result (printed as JSON by `verify --json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub expected: u64,
    pub present: u64,
    pub missing: u64,
    pub duplicates: u64,
    pub extra: u64,
    /// Poison records in the topic (shown when any): each must be in the dead-letter topic, else
    /// it counts as missing.
    #[serde(skip_serializing_if = "is_zero")]
    pub dead_letters: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl VerifyReport {
    /// Exactly once: nothing missing, duplicated or extra.
    pub fn exact(&self) -> bool {
        self.missing == 0 && self.duplicates == 0 && self.extra == 0
    }

    /// Compare the topic's keys with the sink's id counts.
    pub fn reconcile(expected: &BTreeSet<Uuid>, sink: &crate::sink::IdCounts) -> Self {
        let present = expected.iter().filter(|k| sink.contains_key(k)).count() as u64;
        VerifyReport {
            expected: expected.len() as u64,
            present,
            missing: expected.len() as u64 - present,
            duplicates: sink.values().map(|&n| n.saturating_sub(1)).sum(),
            extra: sink.keys().filter(|k| !expected.contains(k)).count() as u64,
            dead_letters: 0,
        }
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: expected {} present {} missing {} duplicates {} extra {}",
            if self.exact() { "EXACT" } else { "NOT EXACT" },
            self.expected,
            self.present,
            self.missing,
            self.duplicates,
            self.extra
        )
    }
}

/// Read the whole topic, its dead-letter topic and the sink, and reconcile them.
#[allow(clippy::too_many_arguments)]
pub fn run(
    kafka: &KafkaSettings,
    topic: &str,
    dlq_topic: &str,
    sink: &mut dyn Sink,
    registry: &RegistryClient,
    reader: &Schema,
    handle: &Handle,
    timeout: Duration,
) -> Result<VerifyReport, PipelineError> {
    let mut expected = BTreeSet::new();
    let mut poison: BTreeSet<(i32, i64)> = BTreeSet::new();
    let mut unavailable: Option<PipelineError> = None;
    let mut checks = WriterChecks::new();
    read_topic(kafka, topic, timeout, |r| {
        if unavailable.is_some() {
            return;
        }
        let value = r.value.as_deref().unwrap_or_default();
        let decoded = match unframe(value) {
            Err(_) => None,
            Ok((id, body)) => match handle.block_on(registry.schema(id)) {
                Ok(writer) => checks
                    .check(id, reader, &writer)
                    .and_then(|()| decode_user(&writer, reader, body))
                    .ok()
                    .filter(|u| invalid_user(u).is_none()),
                // A registry that is down or refuses eosflow stops verify; only an error about
                // the record itself (unknown id, invalid schema) makes it poison.
                Err(e) if !e.is_about_the_record() => {
                    unavailable = Some(e.into());
                    return;
                }
                Err(_) => None,
            },
        };
        match decoded {
            Some(user) => {
                expected.insert(user.key());
            }
            None => {
                poison.insert((r.partition, r.offset));
            }
        }
    })?;
    if let Some(e) = unavailable {
        return Err(e);
    }
    let mut lettered = BTreeSet::new();
    if !poison.is_empty() {
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
    }
    let counts = sink.id_counts()?;
    let mut report = VerifyReport::reconcile(&expected, &counts);
    report.dead_letters = poison.len() as u64;
    report.missing += poison.difference(&lettered).count() as u64;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn reconcile_counts_each_class() {
        let k = |n: u128| Uuid::from_u128(n);
        let expected = BTreeSet::from([k(1), k(2), k(3)]);
        let sink = BTreeMap::from([(k(1), 1), (k(2), 3), (k(9), 1)]);
        let r = VerifyReport::reconcile(&expected, &sink);
        assert_eq!(
            r,
            VerifyReport {
                expected: 3,
                present: 2,
                missing: 1,
                duplicates: 2,
                extra: 1,
                dead_letters: 0
            }
        );
        assert!(!r.exact());
        let exact = VerifyReport::reconcile(
            &expected,
            &BTreeMap::from([(k(1), 1), (k(2), 1), (k(3), 1)]),
        );
        assert!(exact.exact());
    }
}
