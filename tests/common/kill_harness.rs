//! Building blocks of `tests/kill_exactly_once.rs` (included there with `#[path]`, next to
//! `common/kafka.rs`, whose broker the run loop there kills and restarts): settings from `EOSFLOW_KILL_*`, the seeded
//! kill schedule, the broker under test, the processes the test kills ([`Victim`]) and how each
//! life of them is started ([`Ctx`]), progress probes, and the final topic check.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use eosflow::kafka::progress::SideTopics;
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::{admin, KafkaSettings};
use eosflow::sink::Sink;
use eosflow::source::generator::generate_user;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::common::eosflow;
use crate::kafka::PrivateKafka;

/// Users per page = per producer chunk.
pub const PAGE_SIZE: u32 = 100;
/// The generator seed of the users.
const SOURCE_SEED: &str = "kill";
pub const TOPIC: &str = "users";
/// Partitions of the users topic.
pub const PARTITIONS: i32 = 4;
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
    /// `users` and `rounds` unless `EOSFLOW_KILL_USERS` / `EOSFLOW_KILL_ROUNDS` say otherwise.
    pub fn from_env_or(users: u64, rounds: usize) -> Settings {
        let users = env_number("EOSFLOW_KILL_USERS").unwrap_or(users);
        let page = u64::from(PAGE_SIZE);
        assert!(
            users.is_multiple_of(page) && users >= 10 * page,
            "EOSFLOW_KILL_USERS={users}: use a multiple of {page}, at least {}",
            10 * page
        );
        let rounds = env_number("EOSFLOW_KILL_ROUNDS").map_or(rounds, |n| n as usize);
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

    /// `rounds` (target, delay ms) pairs: one target in each slice of `from` %..85 % of `total`.
    pub fn plan(
        &mut self,
        rounds: usize,
        total: u64,
        max_delay_ms: u64,
        from: u64,
    ) -> VecDeque<(i64, u64)> {
        let (r, span) = (rounds as u64, 85 - from.min(80));
        (0..r)
            .map(|k| {
                let lo = total * (from + span * k / r) / 100;
                let hi = total * (from + span * (k + 1) / r) / 100;
                let target = lo + self.below(hi - lo);
                (target as i64, self.below(max_delay_ms + 1))
            })
            .collect()
    }
}

/// The brokers under test: a private Apache Kafka cluster (1 or 3 nodes), whose nodes are
/// SIGKILLed and restarted mid-run.
pub struct Broker(pub PrivateKafka);

impl Broker {
    pub fn start(nodes: u32) -> Broker {
        Broker(PrivateKafka::start(nodes))
    }

    /// The node that leads the most partitions of the users topic now (node ids are 1..=N),
    /// or node 1 when the cluster does not answer.
    pub fn busiest_leader(&self) -> u32 {
        let consumer: Result<BaseConsumer, _> = ClientConfig::new()
            .set("bootstrap.servers", self.bootstrap())
            .create();
        let Ok(metadata) = consumer.map_err(|e| e.to_string()).and_then(|c| {
            c.fetch_metadata(Some(TOPIC), Duration::from_secs(5))
                .map_err(|e| e.to_string())
        }) else {
            return 1;
        };
        let mut led: BTreeMap<i32, usize> = BTreeMap::new();
        for p in metadata.topics().iter().flat_map(|t| t.partitions()) {
            *led.entry(p.leader()).or_default() += 1;
        }
        led.into_iter()
            .filter(|(node, _)| *node >= 1)
            .max_by_key(|(_, n)| *n)
            .map_or(1, |(node, _)| node as u32)
    }

    /// Partitions of the users topic.
    pub fn partitions(&self) -> i32 {
        PARTITIONS
    }

    pub fn bootstrap(&self) -> String {
        self.0.bootstrap()
    }

    /// Create the topics as the producer would, before the first life: processors need the data
    /// topic, and the test reads the progress topic's end from the start.
    pub fn create_topics(&self) {
        let kafka = KafkaSettings::new(self.bootstrap());
        admin::ensure_topic(&kafka, TOPIC, PARTITIONS, &[], TIMEOUT).expect("users topic");
        SideTopics::for_topic(TOPIC)
            .ensure(&kafka, PARTITIONS, TIMEOUT)
            .expect("rejects and progress topics");
    }

    /// The end of the broker's own log, for failure reports.
    pub fn log_tail(&self, n: usize) -> String {
        self.0.log_tail(n)
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
    /// The sink's stored offsets; asked again for up to a minute while the database restarts
    /// under the test (its crash is part of the run).
    pub fn offsets(&mut self) -> BTreeMap<i32, i64> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match self.sink.load_offsets(&self.group, TOPIC) {
                Ok(offsets) => return offsets,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("[kill] {}: stored offsets not readable yet: {e}", self.name);
                    std::thread::sleep(Duration::from_millis(500));
                    // A session that lived through the crash may stay broken for a while (the
                    // Cassandra driver's pool backs off): a new one connects as soon as the
                    // database answers, as the restarted processor does.
                    if let Ok(sink) = eosflow::sink::open(&self.url, &self.table) {
                        self.sink = sink;
                    }
                }
                Err(e) => panic!("{}: cannot read the stored offsets: {e}", self.name),
            }
        }
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
    /// Failed under an outage that still goes on: restarted when it ends (a supervisor's
    /// backoff), not into the outage.
    pub waiting: bool,
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
            waiting: false,
            life_log_from: 0,
            done: false,
        }
    }

    pub fn log_tail(&self, n: usize) -> String {
        tail(&self.log, n)
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
    /// `--inject-abort-ratio` and `--inject-seed` of the producer: aborted canary transactions.
    pub aborts: Option<(f64, u64)>,
    pub registry: String,
    pub producer_id: String,
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
                c.args(["--transactional-id", &self.producer_id])
                    .args(["--seed", SOURCE_SEED, "--page-size", &PAGE_SIZE.to_string()])
                    .args(["--last-page", &self.last_page.to_string()])
                    .args(["--partitions", &self.partitions.to_string()]);
                if paced(life) {
                    c.args(["--every", &format!("{}ms", self.every_ms)]);
                }
                if let Some((ratio, seed)) = self.aborts {
                    c.args(["--inject-abort-ratio", &ratio.to_string()])
                        .args(["--inject-seed", &seed.to_string()]);
                }
            }
            Role::Processor(p) => {
                c.arg("process").args(common);
                c.args(["--sink", &p.url, "--table", &p.table, "--group", &p.group])
                    // Static membership: a restart takes over its killed predecessor's partitions
                    // at once instead of waiting for the session timeout.
                    .args(["--instance-id", &format!("{}-0", p.group)])
                    .args(["--batch-max", "500", "--batch-linger", "200ms"])
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

/// The keys of the users of pages 1..=N: the committed source set of a finished run.
pub fn expected_keys(users: u64) -> BTreeSet<String> {
    let pages = users / u64::from(PAGE_SIZE);
    (1..=pages)
        .flat_map(|p| {
            (0..PAGE_SIZE).map(move |i| {
                generate_user(SOURCE_SEED, p, i, "generator")
                    .key()
                    .to_string()
            })
        })
        .collect()
}

/// How many of the committed users' rows in `p`'s sink differ from the user, column for column
/// (a missing row counts too): a row must be a pure function of its user, however often it was
/// written.
pub fn unequal_rows(p: &mut Probe, users: u64) -> u64 {
    let pages = users / u64::from(PAGE_SIZE);
    let mut unequal = 0;
    for page in 1..=pages {
        for i in 0..PAGE_SIZE {
            let user = generate_user(SOURCE_SEED, page, i, "generator");
            let stored = p
                .sink
                .get(user.key())
                .unwrap_or_else(|e| panic!("{}: cannot read row {}: {e}", p.name, user.key()));
            if stored.as_ref() != Some(&user) {
                if unequal < 3 {
                    eprintln!(
                        "[kill] {}: row {} is {stored:?}, the user is {user:?}",
                        p.name,
                        user.key()
                    );
                }
                unequal += 1;
            }
        }
    }
    unequal
}

/// A final `read_committed` scan of the whole topic.
pub struct TopicScan {
    /// Per partition, the offset after its last record.
    pub ends: BTreeMap<i32, i64>,
    pub records: u64,
    /// Committed users absent from the topic (lost writes).
    pub missing: usize,
    /// Keys that are no committed user: canaries of aborted transactions (aborted reads).
    pub unexpected: usize,
    pub keys: BTreeSet<String>,
}

/// Read the whole topic as `eosflow verify` does (read_committed) and compare its keys with the
/// users of pages 1..=N.
pub fn check_topic(kafka: &KafkaSettings, users: u64) -> TopicScan {
    let mut keys = BTreeSet::new();
    let mut ends = BTreeMap::new();
    let records = read_topic(kafka, TOPIC, TIMEOUT, |r| {
        keys.insert(String::from_utf8(r.key.unwrap_or_default()).expect("utf8 key"));
        let end = ends.entry(r.partition).or_insert(0);
        *end = (r.offset + 1).max(*end);
    })
    .expect("read the topic");
    let expected = expected_keys(users);
    TopicScan {
        ends,
        records,
        missing: expected.difference(&keys).count(),
        unexpected: keys.difference(&expected).count(),
        keys,
    }
}
