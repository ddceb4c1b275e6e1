//! The live status of a running job, sans-I/O: what the status page (`GET /` and
//! `GET /status.json` on the metrics port, [`super::serve`]) shows. The jobs feed it where they
//! already update their metrics; a request takes a [`Snapshot`] (serde) of it.
//!
//! - partitions: committed offset (the sink's), position, end and lag, from the same librdkafka
//!   statistics as the lag gauges;
//! - throughput: a fixed ring of per-second samples over the last [`WINDOW_SECS`] seconds;
//! - dead letters: a count per error class and its last [`LATEST_LETTERS`] reasons;
//! - the producer's transaction state and cursor; the consumer group as the broker describes it;
//! - build, version and the job's configuration, secrets redacted on the way in.
//!
//! Time is passed in (Unix milliseconds) so that tests drive the clock; [`now_ms`] is the
//! wall clock the jobs use.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use super::locked;
use crate::secret::{redact_url, scrub, shown};

/// Seconds of throughput history kept (the chart's width).
pub const WINDOW_SECS: u64 = 60;
/// Reasons kept per dead-letter class.
pub const LATEST_LETTERS: usize = 10;

/// The wall clock in Unix milliseconds.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where one assigned partition stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PartitionRow {
    pub partition: i32,
    /// The next offset the sink holds for this group (its committed offset).
    pub committed: Option<i64>,
    /// The consumer's position (the last record handed to the job, plus one).
    pub position: Option<i64>,
    /// The last stable offset (read_committed), else the high watermark.
    pub end: Option<i64>,
    pub lag: Option<i64>,
}

/// Records and batches (rows and sink transactions; users and chunks) in one second.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sample {
    /// Unix seconds.
    pub t: u64,
    pub records: u64,
    pub batches: u64,
}

/// One dead letter's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Letter {
    pub at_ms: u64,
    pub partition: i32,
    pub offset: i64,
    pub reason: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LetterClass {
    pub class: String,
    pub count: u64,
    /// Newest first.
    pub latest: VecDeque<Letter>,
}

/// Where the producer's transactions stand.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transaction {
    /// Between chunks.
    #[default]
    Idle,
    /// A chunk is being sent: the transaction begun (transactional), its records on their way.
    Open,
    /// The records are acknowledged and `commit_transaction` is running.
    Committing,
}

/// The producer's cursor: the next user it writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CursorRow {
    pub seed: String,
    pub page: u64,
    pub index: u32,
}

impl From<&crate::core::producer::Cursor> for CursorRow {
    fn from(c: &crate::core::producer::Cursor) -> Self {
        CursorRow {
            seed: c.seed.clone(),
            page: c.page,
            index: c.index,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProducerRow {
    /// `transactional` or `idempotent`.
    pub delivery: String,
    pub transaction: Transaction,
    pub committed: u64,
    pub aborted: u64,
    pub chunks: u64,
    pub cursor: Option<CursorRow>,
    pub last_commit_ms: Option<u64>,
}

/// One line of the job's configuration, its value already redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigEntry {
    pub key: String,
    pub value: String,
}

impl ConfigEntry {
    /// A plain setting: hidden when its key names a secret ([`shown`]).
    pub fn value(key: &str, value: impl AsRef<str>) -> Self {
        ConfigEntry {
            key: key.into(),
            value: shown(key, value.as_ref()).into(),
        }
    }

    /// A property `name` under `prefix` (`kafka-property sasl.password`): hidden when `name`
    /// names a secret.
    pub fn property(prefix: &str, name: &str, value: &str) -> Self {
        ConfigEntry {
            key: format!("{prefix} {name}"),
            value: shown(name, value).into(),
        }
    }

    /// A URL: its password and secret options hidden ([`redact_url`]).
    pub fn url(key: &str, url: &str) -> Self {
        ConfigEntry {
            key: key.into(),
            value: redact_url(url),
        }
    }
}

/// The fixed ring of per-second samples.
#[derive(Debug, Clone)]
struct Ring([Sample; WINDOW_SECS as usize]);

impl Default for Ring {
    fn default() -> Self {
        Ring([Sample::default(); WINDOW_SECS as usize])
    }
}

impl Ring {
    fn add(&mut self, t: u64, records: u64, batches: u64) {
        let slot = &mut self.0[(t % WINDOW_SECS) as usize];
        if slot.t != t {
            *slot = Sample {
                t,
                ..Sample::default()
            };
        }
        slot.records += records;
        slot.batches += batches;
    }

    /// The last [`WINDOW_SECS`] seconds up to `now` (inclusive), oldest first, zeros filled in.
    fn window(&self, now: u64) -> Vec<Sample> {
        (now.saturating_sub(WINDOW_SECS - 1)..=now)
            .map(|t| {
                let slot = self.0[(t % WINDOW_SECS) as usize];
                if slot.t == t {
                    slot
                } else {
                    Sample {
                        t,
                        ..Sample::default()
                    }
                }
            })
            .collect()
    }
}

#[derive(Debug, Default)]
struct Model {
    command: String,
    started_ms: u64,
    config: Vec<ConfigEntry>,
    topic: String,
    group: Option<String>,
    units: (String, String),
    partitions: BTreeMap<i32, PartitionRow>,
    ring: Ring,
    records: u64,
    batches: u64,
    letters: BTreeMap<String, LetterClass>,
    producer: Option<ProducerRow>,
    members: Option<serde_json::Value>,
}

/// The live status, shared by the job (which feeds it) and the HTTP adapter (which reads it).
/// Clones are cheap and see the same state.
#[derive(Debug, Clone, Default)]
pub struct Status(Arc<Mutex<Model>>);

/// Throughput over the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rates {
    /// What a record and a batch are (`rows`/`batches`, `users`/`chunks`).
    pub records_unit: String,
    pub batches_unit: String,
    pub samples: Vec<Sample>,
    /// Over the complete seconds of the window since the job started.
    pub records_per_s: f64,
    pub batches_per_s: f64,
    pub records_total: u64,
    pub batches_total: u64,
}

/// What `/status.json` answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub command: String,
    pub version: &'static str,
    pub started_ms: u64,
    pub now_ms: u64,
    pub ready: bool,
    pub topic: String,
    pub group: Option<String>,
    pub config: Vec<ConfigEntry>,
    pub partitions: Vec<PartitionRow>,
    /// The sum of the known lags (None before any statistics arrived).
    pub total_lag: Option<i64>,
    pub rates: Rates,
    pub dead_letters: Vec<LetterClass>,
    pub producer: Option<ProducerRow>,
    /// The consumer group as the broker describes it (`process` only).
    pub group_members: Option<serde_json::Value>,
}

impl Status {
    /// Name the job, what it reads or writes, and its (redacted) configuration.
    pub fn describe(&self, command: &str, topic: &str, config: Vec<ConfigEntry>, now: u64) {
        let mut m = locked(&self.0);
        m.command = command.into();
        m.topic = topic.into();
        m.config = config;
        m.started_ms = now;
        m.units = match command {
            "produce" => ("users".into(), "chunks".into()),
            _ => ("rows".into(), "batches".into()),
        };
    }

    pub fn set_group(&self, group: &str) {
        locked(&self.0).group = Some(group.into());
    }

    /// Partitions assigned, with the sink's committed offsets where it holds them.
    pub fn assigned(&self, partitions: &[i32], committed: &BTreeMap<i32, i64>) {
        let mut m = locked(&self.0);
        for &p in partitions {
            let row = m.partitions.entry(p).or_default();
            row.partition = p;
            row.committed = committed.get(&p).copied();
        }
    }

    pub fn revoked(&self, partitions: &[i32]) {
        let mut m = locked(&self.0);
        for p in partitions {
            m.partitions.remove(p);
        }
    }

    /// A partition's statistics (only partitions still assigned are kept).
    pub fn partition(&self, row: PartitionRow) {
        let mut m = locked(&self.0);
        if let Some(known) = m.partitions.get_mut(&row.partition) {
            *known = row;
        }
    }

    /// A batch (sink transaction, producer chunk) of `records` committed at `now`.
    pub fn batch(&self, records: u64, now: u64) {
        let mut m = locked(&self.0);
        m.ring.add(now / 1000, records, 1);
        m.records += records;
        m.batches += 1;
    }

    /// A record sent to the dead-letter topic; the reason is scrubbed of known secrets.
    pub fn dead_letter(&self, class: &str, partition: i32, offset: i64, reason: &str, now: u64) {
        let mut m = locked(&self.0);
        let entry = m.letters.entry(class.to_string()).or_default();
        entry.class = class.into();
        entry.count += 1;
        entry.latest.push_front(Letter {
            at_ms: now,
            partition,
            offset,
            reason: scrub(reason),
        });
        entry.latest.truncate(LATEST_LETTERS);
    }

    /// Change the producer's state (created as `delivery` on first use).
    pub fn producer(&self, delivery: &str, change: impl FnOnce(&mut ProducerRow)) {
        let mut m = locked(&self.0);
        let row = m.producer.get_or_insert_with(|| ProducerRow {
            delivery: delivery.into(),
            ..ProducerRow::default()
        });
        change(row);
    }

    /// The consumer group as last described (or why it could not be).
    pub fn group_members(&self, members: serde_json::Value) {
        locked(&self.0).members = Some(members);
    }

    pub fn snapshot(&self, now: u64, ready: bool) -> Snapshot {
        let m = locked(&self.0);
        let samples = m.ring.window(now / 1000);
        // Complete seconds only, and only those since the job started.
        let ran = (now.saturating_sub(m.started_ms) / 1000).clamp(1, WINDOW_SECS - 1);
        let complete = &samples[samples.len() - 1 - ran as usize..samples.len() - 1];
        let per_s = |f: fn(&Sample) -> u64| complete.iter().map(f).sum::<u64>() as f64 / ran as f64;
        let partitions: Vec<PartitionRow> = m.partitions.values().copied().collect();
        let lags: Vec<i64> = partitions.iter().filter_map(|p| p.lag).collect();
        Snapshot {
            command: m.command.clone(),
            version: env!("CARGO_PKG_VERSION"),
            started_ms: m.started_ms,
            now_ms: now,
            ready,
            topic: m.topic.clone(),
            group: m.group.clone(),
            config: m.config.clone(),
            total_lag: (!lags.is_empty()).then(|| lags.iter().sum()),
            partitions,
            rates: Rates {
                records_unit: m.units.0.clone(),
                batches_unit: m.units.1.clone(),
                records_per_s: per_s(|s| s.records),
                batches_per_s: per_s(|s| s.batches),
                samples,
                records_total: m.records,
                batches_total: m.batches,
            },
            dead_letters: m.letters.values().cloned().collect(),
            producer: m.producer.clone(),
            group_members: m.members.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    #[test]
    fn the_ring_keeps_one_minute_of_seconds_and_rates_count_complete_seconds() {
        let s = Status::default();
        s.describe("process", "users", Vec::new(), T0);
        s.batch(10, T0 + 100);
        s.batch(5, T0 + 900);
        s.batch(7, T0 + 1_500);
        s.batch(100, T0 + 2_000); // the current second: not in the rate yet
        let snap = s.snapshot(T0 + 2_500, true);
        let r = &snap.rates;
        assert_eq!(r.samples.len(), WINDOW_SECS as usize);
        assert_eq!(
            r.samples.last().map(|x| (x.t, x.records)),
            Some((T0 / 1000 + 2, 100))
        );
        assert_eq!(r.samples[r.samples.len() - 3].records, 15);
        assert_eq!(r.samples[r.samples.len() - 3].batches, 2);
        assert_eq!((r.records_per_s, r.batches_per_s), (11.0, 1.5));
        assert_eq!(
            (r.records_total, r.batches_total, r.records_unit.as_str()),
            (122, 4, "rows")
        );
        // Seventy seconds on, every slot is older than the window: all zeros.
        let later = s.snapshot(T0 + 72_000, true);
        assert!(later
            .rates
            .samples
            .iter()
            .all(|x| x.records == 0 && x.batches == 0));
        assert_eq!(later.rates.samples[0].t, T0 / 1000 + 72 - (WINDOW_SECS - 1));
        assert_eq!(later.rates.records_per_s, 0.0);
        // A slot reused after a minute starts from zero.
        s.batch(1, T0 + 60_100);
        let reused = s.snapshot(T0 + 60_500, true);
        assert_eq!(reused.rates.samples.last().map(|x| x.records), Some(1));
    }

    #[test]
    fn partitions_follow_assignment_and_statistics() {
        let s = Status::default();
        s.assigned(&[0, 1], &BTreeMap::from([(1, 40)]));
        assert_eq!(s.snapshot(T0, true).total_lag, None);
        let row = |partition, lag| PartitionRow {
            partition,
            committed: Some(40),
            position: Some(42),
            end: Some(42 + lag),
            lag: Some(lag),
        };
        s.partition(row(0, 3));
        s.partition(row(1, 4));
        s.partition(row(7, 9)); // not assigned: ignored
        let snap = s.snapshot(T0, true);
        assert_eq!(snap.partitions, vec![row(0, 3), row(1, 4)]);
        assert_eq!(snap.total_lag, Some(7));
        s.revoked(&[0]);
        assert_eq!(s.snapshot(T0, true).partitions, vec![row(1, 4)]);
    }

    #[test]
    fn dead_letters_count_per_class_and_keep_the_latest_reasons_newest_first() {
        let s = Status::default();
        for i in 0..15 {
            s.dead_letter("bad-magic", 0, i, &format!("magic byte {i}"), T0 + i as u64);
        }
        s.dead_letter("empty-value", 1, 3, "no value", T0);
        let snap = s.snapshot(T0, true);
        let classes: Vec<(&str, u64, usize)> = snap
            .dead_letters
            .iter()
            .map(|c| (c.class.as_str(), c.count, c.latest.len()))
            .collect();
        assert_eq!(
            classes,
            vec![("bad-magic", 15, LATEST_LETTERS), ("empty-value", 1, 1)]
        );
        let newest = &snap.dead_letters[0].latest[0];
        assert_eq!(
            (newest.offset, newest.reason.as_str()),
            (14, "magic byte 14")
        );
    }

    #[test]
    fn config_is_redacted_on_the_way_in_and_never_in_the_json() {
        let s = Status::default();
        s.describe(
            "process",
            "users",
            vec![
                ConfigEntry::url(
                    "sink",
                    "postgres://me:hunter2-pw@db:5432/x?password=hunter2-pw",
                ),
                ConfigEntry::value("sasl.password", "hunter2-pw"),
                ConfigEntry::value("group", "g"),
                ConfigEntry::property("kafka-property", "ssl.key.pem", "hunter2-pw"),
            ],
            T0,
        );
        let json = serde_json::to_string(&s.snapshot(T0, true)).expect("json");
        assert!(!json.contains("hunter2"), "{json}");
        assert!(json.contains(r#"{"key":"group","value":"g"}"#), "{json}");
        assert!(
            json.contains(r#"{"key":"sasl.password","value":"***"}"#),
            "{json}"
        );
        assert!(
            json.contains(r#"{"key":"kafka-property ssl.key.pem","value":"***"}"#),
            "{json}"
        );
    }

    #[test]
    fn the_producer_row_is_made_on_first_use() {
        let s = Status::default();
        assert_eq!(s.snapshot(T0, true).producer, None);
        s.producer("transactional", |p| p.transaction = Transaction::Open);
        s.producer("ignored once made", |p| {
            p.transaction = Transaction::Idle;
            p.committed += 1;
            p.cursor = Some(CursorRow {
                seed: "s".into(),
                page: 2,
                index: 0,
            });
        });
        let p = s.snapshot(T0, true).producer.expect("producer");
        assert_eq!(
            (p.delivery.as_str(), p.transaction, p.committed),
            ("transactional", Transaction::Idle, 1)
        );
        let json = serde_json::to_value(&p).expect("json");
        assert_eq!(json["transaction"], "idle");
        let committing = serde_json::to_value(Transaction::Committing).expect("json");
        assert_eq!(committing, "committing");
        assert_eq!(json["cursor"]["page"], 2);
    }
}
