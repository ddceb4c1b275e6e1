//! The transactional guarantees, on Apache Kafka 4.4 (the shared test broker), each shown with
//! what it guards against in view:
//!
//! - aborted read: `eosflow produce --inject-abort-ratio` aborts about a third of its
//!   transactions (canary copies of the users, under other keys); a `read_uncommitted` reader
//!   sees the canaries, `read_committed` and `eosflow process` never do, and a processor told
//!   to read uncommitted writes them as `extra` rows that `verify` catches;
//! - zombie fencing: a second producer with the same transactional.id fences the first, whose
//!   open transaction is aborted and whose later commit fails; `eosflow produce` exits naming the
//!   transactional.id;
//! - transaction timeout: a producer stalled inside a transaction past transaction.timeout.ms
//!   has it aborted by the broker, its records never visible; a restart resumes exactly.

mod common;
#[path = "common/topic.rs"]
mod topic;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bootstrap, eosflow, run_expect, run_ok, stdout, unique, Registry};
use eosflow::kafka::producer::{Delivery, DeliveryMode, OutRecord, PageProducer};
use eosflow::kafka::{admin, KafkaSettings};
use topic::read_all;

const TIMEOUT: Duration = Duration::from_secs(30);

struct Topic {
    registry: Registry,
    name: String,
    dir: tempfile::TempDir,
}

impl Topic {
    fn new(prefix: &str) -> Topic {
        Topic {
            registry: Registry::start(),
            name: unique(prefix),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn cmd(&self, sub: &str) -> Command {
        let mut c = eosflow();
        c.arg(sub)
            .args([
                "--bootstrap",
                &bootstrap(),
                "--registry",
                &self.registry.url,
            ])
            .args(["--topic", &self.name]);
        c
    }

    fn sink(&self, name: &str) -> String {
        format!("sqlite://{}", self.dir.path().join(name).display())
    }

    fn process(&self, sink: &str, extra: &[&str]) -> String {
        stdout(&run_ok(
            self.cmd("process")
                .args([
                    "--sink",
                    sink,
                    "--group",
                    &unique("g"),
                    "--exit-when-idle",
                    "3s",
                ])
                .args(extra),
        ))
    }

    fn verify(&self, sink: &str, code: i32) -> serde_json::Value {
        let out = run_expect(self.cmd("verify").args(["--sink", sink, "--json"]), code);
        serde_json::from_str(stdout(&out).trim()).expect("verify --json")
    }
}

/// The number before `word` in a summary line, e.g. `n_before(s, " aborted")`.
fn n_before(text: &str, word: &str) -> u64 {
    text.split(word)
        .next()
        .and_then(|head| head.rsplit([' ', '(']).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number before {word:?} in {text:?}"))
}

fn canary_keys(seen: &[topic::Seen], real: &BTreeSet<String>) -> usize {
    seen.iter().filter(|r| !real.contains(&r.key)).count()
}

#[test]
fn aborted_transactions_are_never_read() {
    let t = Topic::new("aborted");
    let out = run_ok(
        t.cmd("produce")
            .args(["--count", "3000", "--page-size", "100", "--partitions", "3"])
            .args(["--inject-abort-ratio", "0.34", "--inject-seed", "42"]),
    );
    let summary = stdout(&out);
    let aborted = n_before(&summary, " aborted");
    assert!(
        (5..=20).contains(&aborted),
        "about a third of 30 transactions aborted: {summary}"
    );
    let committed = read_all(&bootstrap(), &t.name, true);
    let real: BTreeSet<String> = committed.iter().map(|r| r.key.clone()).collect();
    assert_eq!(
        (committed.len(), real.len()),
        (3000, 3000),
        "read_committed: every user once"
    );
    let uncommitted = read_all(&bootstrap(), &t.name, false);
    assert_eq!(
        canary_keys(&uncommitted, &real) as u64,
        aborted * 100,
        "read_uncommitted sees every aborted canary: the test sees what it guards against"
    );
    assert_eq!(canary_keys(&committed, &real), 0, "no aborted read");

    let sink = t.sink("committed.db");
    assert!(t.process(&sink, &[]).contains("processed 3000 records"));
    let report = t.verify(&sink, 0);
    assert_eq!(
        (&report["present"], &report["extra"], &report["lost"]),
        (&3000.into(), &0.into(), &0.into()),
        "{report}"
    );

    // The same processor reading uncommitted: the canaries land as rows nothing explains.
    let leaky = t.sink("uncommitted.db");
    t.process(
        &leaky,
        &["--kafka-property", "isolation.level=read_uncommitted"],
    );
    let report = t.verify(&leaky, 1);
    assert_eq!(report["extra"], aborted * 100, "{report}");
}

/// A record of the test's own, for the zombie.
fn record(topic: &str, key: &str) -> OutRecord {
    OutRecord::new(topic, key, b"zombie".to_vec())
}

#[test]
fn a_zombie_producer_is_fenced_and_nothing_it_writes_after_is_visible() {
    let topic = unique("zombie");
    let kafka = KafkaSettings::new(bootstrap());
    admin::ensure_topic(&kafka, &topic, 1, &[], TIMEOUT).expect("topic");
    let id = unique("zombie-id");
    let mode = DeliveryMode::transactional(id.clone());
    let mut zombie = PageProducer::new(&kafka, mode.clone(), TIMEOUT).expect("zombie");
    // The zombie's transaction: records in, then it hangs before committing (a GC pause).
    zombie.stall_next_commit(Duration::from_secs(6));
    let delivery = Delivery {
        records: (0..10).map(|i| record(&topic, &format!("z{i}"))).collect(),
        progress: None,
    };
    let zombie_run =
        std::thread::spawn(move || zombie.deliver(&delivery, (1, 0, 10)).map_err(Box::new));
    std::thread::sleep(Duration::from_secs(2));
    // The new instance: init_transactions bumps the epoch and aborts the zombie's transaction.
    let mut fresh = PageProducer::new(&kafka, mode, TIMEOUT).expect("new instance");
    let outcome = zombie_run.join().expect("zombie thread");
    match outcome.map_err(|e| *e) {
        Err(eosflow::kafka::KafkaAdapterError::Fenced { transactional_id }) => {
            assert_eq!(transactional_id, id)
        }
        other => panic!("the zombie must be fenced, got {other:?}"),
    }
    let fresh_delivery = Delivery {
        records: vec![record(&topic, "fresh")],
        progress: None,
    };
    fresh
        .deliver(&fresh_delivery, (2, 0, 1))
        .expect("the new instance writes");
    let committed: Vec<String> = read_all(&bootstrap(), &topic, true)
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert_eq!(committed, ["fresh"], "nothing of the zombie is visible");
    let written = read_all(&bootstrap(), &topic, false);
    assert!(
        written.iter().any(|r| r.key == "z0"),
        "the zombie's records were written (and aborted): {written:?}"
    );

    // The binary: a producer paced at one page a second is fenced by a second one with its id.
    let t = Topic::new("zombie-cli");
    let id = unique("zombie-cli-id");
    let produce = |extra: &[&str]| {
        let mut c = t.cmd("produce");
        c.args([
            "--transactional-id",
            &id,
            "--page-size",
            "10",
            "--partitions",
            "1",
        ])
        .args(extra);
        c
    };
    let first = produce(&["--every", "1s", "--count", "100000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("first producer");
    let deadline = Instant::now() + Duration::from_secs(60);
    while read_all(&bootstrap(), &t.name, true).len() < 20 {
        assert!(Instant::now() < deadline, "the first producer never wrote");
        std::thread::sleep(Duration::from_millis(300));
    }
    run_ok(&mut produce(&["--count", "50"]));
    let out = first.wait_with_output().expect("first exits");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("producer fenced") && err.contains(&id),
        "the message names the transactional.id: {err}"
    );
}

#[test]
fn a_transaction_past_its_timeout_is_aborted_and_a_restart_resumes() {
    let t = Topic::new("txn-timeout");
    let id = unique("txn-timeout-id");
    let produce = |extra: &[&str]| {
        let mut c = t.cmd("produce");
        // --last-page: an absolute end, the same for the run and its restart.
        c.args([
            "--transactional-id",
            &id,
            "--page-size",
            "100",
            "--partitions",
            "2",
        ])
        .args(["--last-page", "10"])
        .args(extra);
        c
    };
    // Chunk 3 stalls 8 s inside its transaction; the broker aborts it after 3 s.
    let out = run_expect(
        &mut produce(&[
            "--transaction-timeout",
            "3s",
            "--inject-stall",
            "8s",
            "--inject-stall-at-chunk",
            "3",
        ]),
        2,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("past transaction.timeout.ms = 3000") && err.contains(&id),
        "{err}"
    );
    let committed = read_all(&bootstrap(), &t.name, true);
    assert_eq!(
        committed.len(),
        200,
        "only the two chunks before the stalled one"
    );
    let written = read_all(&bootstrap(), &t.name, false);
    assert_eq!(
        written.len(),
        300,
        "the stalled chunk was written, then aborted"
    );
    // A restart without the fault resumes from the committed cursor (replaying the last
    // committed chunk, page 2, whole, by design): every user once in the sink.
    let out = run_ok(&mut produce(&[]));
    assert!(
        stdout(&out).contains("resumed at page 2 index 0 (100 users replayed)"),
        "{}",
        stdout(&out)
    );
    let sink = t.sink("timeout.db");
    // 1000 users, and the 100 of the replayed chunk again (onto the same rows).
    let processed = t.process(&sink, &[]);
    assert!(processed.contains("processed 1100 records"), "{processed}");
    let report = t.verify(&sink, 0);
    assert_eq!(
        (&report["present"], &report["committed"], &report["extra"]),
        (&1000.into(), &1000.into(), &0.into()),
        "{report}"
    );
}
