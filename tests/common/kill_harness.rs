//! Building blocks of `tests/kill_exactly_once.rs` (included there with `#[path]`, next to
//! `common/tansu.rs`, which the run loop there drives): settings from `EOSFLOW_KILL_*`, the seeded
//! kill schedule, the broker under test, the processes the test kills ([`Victim`]) and how each
//! life of them is started ([`Ctx`]), progress probes, and the final topic check.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eosflow::kafka::consumer::read_topic;
use eosflow::kafka::{admin, KafkaSettings};
use eosflow::pipeline::progress::SideTopics;
use eosflow::sink::Sink;
use eosflow::source::generator::generate_user;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::common::eosflow;
use crate::common::mock_broker::MockBroker;
use crate::tansu::PrivateTansu;

/// Users per page = per producer chunk.
pub const PAGE_SIZE: u32 = 100;
/// The generator seed of the users.
const SOURCE_SEED: &str = "kill";
pub const TOPIC: &str = "users";
/// Partitions of the users topic on tansu.
pub const PARTITIONS: i32 = 4;
/// Partitions of the users topic on MockCluster, which keeps at most 5 MiB per partition
/// (librdkafka's `rdkafka_mock.c`: older message sets are deleted): 16 hold ~200 000 users.
pub const MOCK_PARTITIONS: i32 = 16;
/// The most users the MockCluster variant runs with (see [`MOCK_PARTITIONS`]).
pub const MOCK_MAX_USERS: u64 = 200_000;
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// Size, kill count and seed, from `EOSFLOW_KILL_*`.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub users: u64,
    pub rounds: usize,
    pub seed: u64,
    /// The producer's `--every` in its odd lives (one page per interval, so it runs alongside the
    /// processors and the broker restart); its even lives run flat out, always inside a page.
    pub every_ms: u64,
}

fn env_number(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    Some(
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
    )
}

impl Settings {
    pub fn from_env() -> Settings {
        let users = env_number("EOSFLOW_KILL_USERS").unwrap_or(20_000);
        let page = u64::from(PAGE_SIZE);
        assert!(
            users.is_multiple_of(page) && users >= 10 * page,
            "EOSFLOW_KILL_USERS={users}: use a multiple of {page}, at least {}",
            10 * page
        );
        let rounds = env_number("EOSFLOW_KILL_ROUNDS").unwrap_or(5) as usize;
        assert!(rounds >= 1, "EOSFLOW_KILL_ROUNDS must be at least 1");
        let seed = env_number("EOSFLOW_KILL_SEED").unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
        let every_ms = env_number("EOSFLOW_KILL_EVERY_MS").unwrap_or(60);
        Settings {
            users,
            rounds,
            seed: seed.max(1),
            every_ms,
        }
    }
}

/// xorshift64*: a tiny seeded generator, so a schedule can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    /// `rounds` (target, delay ms) pairs: one target in each slice of 5 %..85 % of `total`.
    pub fn plan(&mut self, rounds: usize, total: u64, max_delay_ms: u64) -> VecDeque<(i64, u64)> {
        let r = rounds as u64;
        (0..r)
            .map(|k| {
                let lo = total * (5 + 80 * k / r) / 100;
                let hi = total * (5 + 80 * (k + 1) / r) / 100;
                let target = lo + self.below(hi - lo);
                (target as i64, self.below(max_delay_ms + 1))
            })
            .collect()
    }
}

/// The broker under test.
pub enum Broker {
    /// A private tansu (idempotent delivery; restarted once mid-run).
    Tansu(PrivateTansu),
    /// `eosflow mock-broker` (transactional delivery; its data lives in its memory, so it cannot
    /// be restarted).
    Mock(MockBroker),
}

impl Broker {
    pub fn mock() -> Broker {
        let side = |s: &str| format!("{TOPIC}.{s}");
        let (rejects, progress, dlq) = (side("rejects"), side("progress"), side("dlq"));
        let n = MOCK_PARTITIONS as u32;
        Broker::Mock(MockBroker::start(&[
            (TOPIC, n),
            (&rejects, n),
            (&progress, 1),
            (&dlq, n),
        ]))
    }

    /// Partitions of the users topic.
    pub fn partitions(&self) -> i32 {
        match self {
            Broker::Tansu(_) => PARTITIONS,
            Broker::Mock(_) => MOCK_PARTITIONS,
        }
    }

    pub fn bootstrap(&self) -> String {
        match self {
            Broker::Tansu(t) => t.bootstrap(),
            Broker::Mock(m) => m.bootstrap.clone(),
        }
    }

    pub fn transactional(&self) -> bool {
        matches!(self, Broker::Mock(_))
    }

    /// Create the topics as the producer would, before the first life: processors need the data
    /// topic, and the test reads the progress topic's end from the start. (MockCluster has them
    /// from its command line: its CreateTopics times out.)
    pub fn create_topics(&self) {
        if let Broker::Tansu(_) = self {
            let kafka = KafkaSettings::new(self.bootstrap());
            admin::ensure_topic(&kafka, TOPIC, PARTITIONS, 1, &[], TIMEOUT).expect("users topic");
            SideTopics::for_topic(TOPIC)
                .ensure(&kafka, PARTITIONS, TIMEOUT)
                .expect("rejects and progress topics");
        }
    }

    /// The end of the broker's own log (tansu), for failure reports.
    pub fn log_tail(&self, n: usize) -> String {
        match self {
            Broker::Tansu(t) => t.log_tail(n),
            Broker::Mock(_) => "(mock-broker: no log)".into(),
        }
    }
}

/// The sum of a topic's end offsets; `None` while the broker does not answer.
pub struct Ends {
    consumer: BaseConsumer,
    topic: String,
    partitions: i32,
}

impl Ends {
    pub fn new(kafka: &KafkaSettings, topic: &str, partitions: i32) -> Ends {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &kafka.bootstrap)
            .create()
            .expect("watermark client");
        Ends {
            consumer,
            topic: topic.into(),
            partitions,
        }
    }

    pub fn sum(&self) -> Option<i64> {
        (0..self.partitions)
            .map(|p| {
                self.consumer
                    .fetch_watermarks(&self.topic, p, Duration::from_secs(1))
                    .ok()
                    .map(|(_, high)| high)
            })
            .sum()
    }
}

/// A processor's sink, read by the test while the processor writes to it.
pub struct Probe {
    pub name: &'static str,
    pub url: String,
    pub table: String,
    pub group: String,
    pub sink: Box<dyn Sink>,
}

impl Probe {
    pub fn offsets(&mut self) -> BTreeMap<i32, i64> {
        self.sink
            .load_offsets(&self.group, TOPIC)
            .unwrap_or_else(|e| panic!("{}: cannot read the stored offsets: {e}", self.name))
    }
}

pub enum Role {
    Producer,
    Processor(Probe),
}

/// A process the test kills and restarts.
pub struct Victim {
    pub name: String,
    pub role: Role,
    pub child: Option<Child>,
    pub lives: u32,
    pub life_started: Instant,
    /// (progress, progress-topic end) when the current life started.
    pub base: (i64, i64),
    /// Progress last seen, and when it last changed.
    pub seen: (i64, Instant),
    /// The kills still to come: (progress target, delay ms).
    pub plan: VecDeque<(i64, u64)>,
    /// The kill due: (when, its target and delay).
    pub due: Option<(Instant, (i64, u64))>,
    pub kills: usize,
    /// Lives that exited 0 on their own (idle) and were started again.
    pub natural_exits: u32,
    /// Lives that failed because the broker crashed under them, and were started again.
    pub outage_failures: u32,
    pub done: bool,
    pub log: PathBuf,
    /// Where the current life's output starts in the log.
    pub life_log_from: u64,
}

impl Victim {
    pub fn new(name: String, role: Role, plan: VecDeque<(i64, u64)>, dir: &Path) -> Victim {
        Victim {
            log: dir.join(format!("{}.log", name.replace(['[', ']'], "_"))),
            name,
            role,
            child: None,
            lives: 0,
            life_started: Instant::now(),
            base: (0, 0),
            seen: (0, Instant::now()),
            plan,
            due: None,
            kills: 0,
            natural_exits: 0,
            outage_failures: 0,
            life_log_from: 0,
            done: false,
        }
    }

    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
    }

    /// Whether the current life logged its partition assignment (processors log it at info).
    pub fn assigned(&self) -> bool {
        let mut bytes = Vec::new();
        std::fs::File::open(&self.log)
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(self.life_log_from))?;
                f.read_to_end(&mut bytes)
            })
            .is_ok_and(|_| String::from_utf8_lossy(&bytes).contains("partitions assigned"))
    }

    /// Kill the current life (SIGKILL) and reap it; returns how long it lived.
    pub fn kill(&mut self) -> Duration {
        let mut child = self.child.take().expect("a running life");
        child.kill().expect("SIGKILL");
        child.wait().expect("reaped");
        self.kills += 1;
        self.life_started.elapsed()
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last `n` lines of a log, without librdkafka's connection chatter (a broker restart makes
/// hundreds of those).
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.contains("librdkafka") && !l.contains("consumer error"))
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Whether the producer's life number `life` runs at `--every` pace (odd lives) or flat out.
pub fn paced(life: u32) -> bool {
    life % 2 == 1
}

/// What every life's command line needs.
pub struct Ctx {
    pub bootstrap: String,
    pub registry: String,
    pub producer_id: String,
    pub delivery: &'static str,
    pub last_page: u64,
    pub every_ms: u64,
    pub partitions: i32,
    pub started: Instant,
}

impl Ctx {
    /// The command of life number `life` of a process in `role`.
    fn command(&self, role: &Role, life: u32) -> Command {
        let mut c = eosflow();
        let common = [
            "--bootstrap",
            &self.bootstrap,
            "--registry",
            &self.registry,
            "--topic",
            TOPIC,
        ];
        match role {
            Role::Producer => {
                c.arg("produce").args(common);
                c.args(["--delivery", self.delivery])
                    .args(["--transactional-id", &self.producer_id])
                    .args(["--seed", SOURCE_SEED, "--page-size", &PAGE_SIZE.to_string()])
                    .args(["--last-page", &self.last_page.to_string()])
                    .args(["--partitions", &self.partitions.to_string()]);
                if paced(life) {
                    c.args(["--every", &format!("{}ms", self.every_ms)]);
                }
            }
            Role::Processor(p) => {
                c.arg("process").args(common);
                c.args(["--sink", &p.url, "--table", &p.table, "--group", &p.group])
                    // Static membership: a restart takes over its killed predecessor's partitions
                    // at once (tansu 0.6 never expires a killed member).
                    .args(["--instance-id", &format!("{}-0", p.group)])
                    .args(["--batch-max", "500", "--batch-linger-ms", "200"])
                    .args(["--exit-when-idle", "3s"])
                    // Assignments and revocations in the log, for a failure report.
                    .env(
                        "EOSFLOW_LOG",
                        "warn,eosflow::kafka::consumer=info,eosflow::pipeline::process=info",
                    );
                if std::env::var("EOSFLOW_KILL_DEBUG").is_ok() {
                    c.args(["--kafka-property", "debug=cgrp"])
                        .env("EOSFLOW_LOG", "info,librdkafka=debug");
                }
            }
        }
        c.args(["--timeout", "30s"]);
        c
    }

    /// Start a new life of `v`, its output appended to its log.
    pub fn spawn(&self, v: &mut Victim, progress: i64, progress_end: i64) {
        v.lives += 1;
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&v.log)
            .expect("victim log");
        let at = self.started.elapsed().as_secs_f64();
        writeln!(log, "=== {} life {} at +{at:.1}s", v.name, v.lives).expect("log");
        v.life_log_from = log.metadata().map(|m| m.len()).expect("log length");
        let child = self
            .command(&v.role, v.lives)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn eosflow");
        v.child = Some(child);
        v.life_started = Instant::now();
        v.base = (progress, progress_end);
    }
}

/// Read the whole topic: its keys must be exactly the users of pages 1..=N (nothing missing,
/// nothing else). Returns the end offset of each partition's last record and the record count.
pub fn check_topic(kafka: &KafkaSettings, users: u64) -> (BTreeMap<i32, i64>, u64) {
    let mut keys = BTreeSet::new();
    let mut ends = BTreeMap::new();
    let records = read_topic(kafka, TOPIC, TIMEOUT, |r| {
        keys.insert(String::from_utf8(r.key.unwrap_or_default()).expect("utf8 key"));
        let end = ends.entry(r.partition).or_insert(0);
        *end = (r.offset + 1).max(*end);
    })
    .expect("read the topic");
    let pages = users / u64::from(PAGE_SIZE);
    let expected: BTreeSet<String> = (1..=pages)
        .flat_map(|p| {
            (0..PAGE_SIZE).map(move |i| {
                generate_user(SOURCE_SEED, p, i, "generator")
                    .key()
                    .to_string()
            })
        })
        .collect();
    assert_eq!(
        (
            expected.difference(&keys).count(),
            keys.difference(&expected).count()
        ),
        (0, 0),
        "the topic holds exactly the users of pages 1..={pages} (missing, unexpected)"
    );
    (ends, records)
}
