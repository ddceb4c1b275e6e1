//! The producer is SIGKILLed at random moments of a 20-page run and restarted until it finishes;
//! then every page is in the topic exactly once after dedup by key (no gap, nothing beyond the
//! last page), and the progress cursor never went backwards or skipped. Against Apache Kafka
//! (transactional delivery, and idempotent delivery for brokers without transactions) and
//! MockCluster, kept here because it shows aborted records to read_committed readers: a leaked
//! aborted cursor is the hardest case for the resume, and no real Kafka produces it. The random
//! seed is printed; set EOSFLOW_TEST_SEED to replay one.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{eosflow, run_ok, unique, Registry};
use eosflow::core::producer::{Cursor, Progress};
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::KafkaSettings;
use eosflow::source::generator::generate_user;

const PAGES: u64 = 20;
const PAGE_SIZE: u32 = 50;
const KILLS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(20);

/// xorshift64*: a tiny seeded generator, so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn from_env() -> Rng {
        let seed = std::env::var("EOSFLOW_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("producer_kill seed: EOSFLOW_TEST_SEED={seed}");
        Rng(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

fn producer(bootstrap: &str, registry: &str, topic: &str, delivery: &str, id: &str) -> Command {
    let mut c = eosflow();
    c.args([
        "produce",
        "--bootstrap",
        bootstrap,
        "--registry",
        registry,
        "--topic",
        topic,
    ])
    .args([
        "--delivery",
        delivery,
        "--transactional-id",
        id,
        "--seed",
        "kill",
    ])
    .args([
        "--page-size",
        &PAGE_SIZE.to_string(),
        "--last-page",
        &PAGES.to_string(),
    ])
    .args(["--every", "250ms", "--timeout", "20s"]);
    c
}

fn kill_restart_finish(bootstrap: &str, topic: &str, delivery: &str) {
    // The producer creates its progress topic compacted, and a broker may compact away the history
    // this test checks: give it a plain one first (MockCluster's exists, plain, already).
    eosflow::kafka::admin::ensure_topic(
        &KafkaSettings::new(bootstrap),
        &format!("{topic}.progress"),
        1,
        &[],
        TIMEOUT,
    )
    .expect("progress topic");
    let registry = Registry::start();
    let id = unique("producer");
    let mut rng = Rng::from_env();
    let mut kills = 0;
    for _ in 0..KILLS {
        let mut child = producer(bootstrap, &registry.url, topic, delivery, &id)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn producer");
        let at = Duration::from_millis(150 + rng.below(1100));
        let started = Instant::now();
        while started.elapsed() < at {
            if child.try_wait().expect("try_wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        match child.try_wait().expect("try_wait") {
            None => {
                child.kill().expect("SIGKILL");
                kills += 1;
                child.wait().expect("reaped");
            }
            // It finished before the kill: it must have finished well.
            Some(status) => assert!(status.success(), "producer failed on its own: {status}"),
        }
    }
    eprintln!("{delivery}: {kills} producers killed mid-run");
    assert!(kills >= 3, "most kills should land mid-run (got {kills})");
    let out = run_ok(&mut producer(
        bootstrap,
        &registry.url,
        topic,
        delivery,
        &id,
    ));
    eprintln!("final run: {}", String::from_utf8_lossy(&out.stdout));
    check_topic(bootstrap, topic);
    check_cursor(bootstrap, &format!("{topic}.progress"), &id);
}

/// Exactly the keys of pages 1..=20, each page complete, nothing beyond.
fn check_topic(bootstrap: &str, topic: &str) {
    let mut keys = BTreeSet::new();
    read_topic(&KafkaSettings::new(bootstrap), topic, TIMEOUT, |r| {
        keys.insert(String::from_utf8(r.key.unwrap_or_default()).expect("utf8 key"));
    })
    .expect("read topic");
    let expected: BTreeSet<String> = (1..=PAGES)
        .flat_map(|p| {
            (0..PAGE_SIZE).map(move |i| generate_user("kill", p, i, "generator").key().to_string())
        })
        .collect();
    let missing = expected.difference(&keys).count();
    let extra = keys.difference(&expected).count();
    assert_eq!(
        (missing, extra),
        (0, 0),
        "pages 1..={PAGES} exactly once after dedup"
    );
}

/// Each progress record continues from the previous one's cursor or replays its chunk; cursors
/// never go backwards; the first starts at page 1 and the last ends after page 20.
fn check_cursor(bootstrap: &str, topic: &str, id: &str) {
    let mut records: Vec<Progress> = Vec::new();
    read_topic(&KafkaSettings::new(bootstrap), topic, TIMEOUT, |r| {
        if r.key.as_deref() == Some(id.as_bytes()) {
            records
                .push(serde_json::from_slice(&r.value.unwrap_or_default()).expect("progress JSON"));
        }
    })
    .expect("read progress");
    assert!(!records.is_empty());
    let start = |p: &Progress| Cursor {
        seed: p.seed.clone(),
        page: p.chunk_page,
        index: p.chunk_from,
    };
    assert_eq!(start(&records[0]), Cursor::start("kill", 1));
    for pair in records.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            start(b) == a.next || start(b) == start(a),
            "cursor skipped or jumped: {a:?} then {b:?}"
        );
        assert!(b.next >= a.next, "cursor went backwards: {a:?} then {b:?}");
    }
    let last = records.last().expect("last");
    assert_eq!(last.next, Cursor::start("kill", PAGES + 1));
}

#[test]
fn producer_killed_at_random_on_mockcluster_transactional() {
    let topic = "users";
    let broker = common::mock_broker::MockBroker::for_topic(topic);
    kill_restart_finish(&broker.bootstrap, topic, "transactional");
}

#[test]
fn producer_killed_at_random_on_kafka_transactional() {
    kill_restart_finish(&common::bootstrap(), &unique("kill"), "transactional");
}

#[test]
fn producer_killed_at_random_on_kafka_idempotent() {
    kill_restart_finish(&common::bootstrap(), &unique("kill"), "idempotent");
}
