//! Consumer groups on Apache Kafka 4.4, with both group protocols (classic and KIP-848's
//! `consumer`): every test counts how often each row is written (a PostgreSQL audit trigger), so
//! a record applied twice shows even though the upsert leaves one row.
//!
//! - handover: 3 processors on 6 partitions; one is SIGKILLed mid-stream with an open batch;
//!   after the session timeout its partitions go to the survivors, who resume from the sink's
//!   offsets: every user once in the sink, every row written exactly once;
//! - a member that stalls past max.poll.interval.ms (a slow sink) leaves the group and comes
//!   back (librdkafka 2.12 may instead fail the KIP-848 consumer for good: see the next test);
//! - a fatal consumer error (injected with librdkafka's own test hook) makes `process` drop its
//!   uncommitted batch and rebuild itself (librdkafka cannot destroy a fatally failed consumer),
//!   and the new member resumes from the sink's offsets;
//! - a dead letter repeated by a crash between its delivery and the sink commit has the same
//!   key (its source position), and `verify` counts the position once.

mod common;
#[path = "common/topic.rs"]
mod topic;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{bootstrap, eosflow, postgres_url, run_expect, run_ok, stdout, unique, Registry};

const USERS: u64 = 30_000;

struct Group {
    registry: Registry,
    topic: String,
    table: String,
    group: String,
    protocol: &'static str,
    logs: tempfile::TempDir,
}

impl Group {
    /// A topic of `partitions` partitions holding `users` users, and an audited PostgreSQL table.
    fn new(protocol: &'static str, partitions: u32, users: u64) -> Group {
        let g = Group {
            registry: Registry::start(),
            topic: unique("grp848"),
            table: unique("grp_users"),
            group: unique("grp"),
            protocol,
            logs: tempfile::tempdir().expect("tempdir"),
        };
        common::produce(&g.registry, &g.topic, partitions, "groups", 1000, users);
        let mut sink = eosflow::sink::open(&postgres_url(), &g.table).expect("sink");
        sink.ensure_schema().expect("schema");
        topic::install_audit(&mut g.pg(), &g.table);
        g
    }

    fn pg(&self) -> postgres::Client {
        postgres::Client::connect(&postgres_url(), postgres::NoTls).expect("postgres")
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
            .args(["--topic", &self.topic])
            .args(["--sink", &postgres_url(), "--table", &self.table]);
        c
    }

    /// A processor of the group (its log in `name.log`).
    fn processor(&self, name: &str, extra: &[&str]) -> Child {
        let log = std::fs::File::create(self.logs.path().join(format!("{name}.log"))).expect("log");
        let mut c = self.cmd("process");
        c.args(["--group", &self.group, "--group-protocol", self.protocol]);
        if !extra.contains(&"--batch-max") {
            c.args(["--batch-max", "200", "--batch-linger", "100ms"]);
        }
        c.args(extra)
            .env("EOSFLOW_LOG", "info,eosflow::pipeline=warn,librdkafka=warn")
            .env("NO_COLOR", "1")
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        if self.protocol == "classic" {
            c.args(["--session-timeout", "6s"]);
        }
        c.spawn().expect("spawn processor")
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    fn rows(&self) -> i64 {
        self.pg()
            .query_one(&format!("SELECT count(*) FROM {}", self.table), &[])
            .expect("count")
            .get(0)
    }

    fn wait_rows(&self, at_least: i64) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.rows() < at_least {
            assert!(Instant::now() < deadline, "never reached {at_least} rows");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Every user in the sink once (verify exact) and every row written exactly once.
    fn assert_each_once(&self, users: u64) {
        let out = run_ok(self.cmd("verify").arg("--json"));
        let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
        assert_eq!(
            report,
            serde_json::json!({"expected": users, "present": users, "missing": 0, "lost": 0,
                "duplicates": 0, "extra": 0, "committed": users}),
        );
        let (audited, rewritten, most) = topic::audit(&mut self.pg(), &self.table);
        assert_eq!(
            (audited, rewritten, most),
            (users as i64, 0, 1),
            "every row written exactly once (no record applied twice)"
        );
    }
}

fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "a processor did not finish");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn handover(protocol: &'static str) {
    let g = Group::new(protocol, 6, USERS);
    let idle = ["--exit-when-idle", "20s"];
    let mut members: Vec<Child> = (0..3)
        .map(|i| g.processor(&format!("m{i}"), &idle))
        .collect();
    // All three hold partitions (6 rows of 200-row batches each) before the kill.
    g.wait_rows(3000);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(0..3).all(|i| g.log(&format!("m{i}")).contains("partitions assigned")) {
        assert!(Instant::now() < deadline, "not every member was assigned");
        std::thread::sleep(Duration::from_millis(100));
    }
    let rows_at_kill = g.rows();
    assert!(rows_at_kill < USERS as i64, "killed mid-stream");
    members[0].kill().expect("SIGKILL member 0");
    members[0].wait().expect("reaped");
    for (i, m) in members.iter_mut().enumerate().skip(1) {
        let status = wait_exit(m, Duration::from_secs(300));
        assert!(
            status.success(),
            "member {i} failed:\n{}",
            g.log(&format!("m{i}"))
        );
    }
    let survivor_assignments: usize = (1..3)
        .map(|i| {
            g.log(&format!("m{i}"))
                .matches("partitions assigned")
                .count()
        })
        .sum();
    assert!(
        survivor_assignments >= 3,
        "the survivors were given the dead member's partitions ({survivor_assignments} assignments)"
    );
    g.assert_each_once(USERS);
}

#[test]
fn a_killed_members_partitions_move_without_loss_or_duplicate_classic() {
    handover("classic");
}

#[test]
fn a_killed_members_partitions_move_without_loss_or_duplicate_consumer_protocol() {
    handover("consumer");
}

fn stalled_past_max_poll(protocol: &'static str) {
    let g = Group::new(protocol, 3, 5000);
    // The classic protocol wants max.poll.interval.ms >= its session timeout (6 s here).
    let (interval, stall) = if protocol == "classic" {
        ("6s", "13s")
    } else {
        ("4s", "9s")
    };
    let mut args = vec!["--exit-when-idle", "8s", "--max-poll-interval", interval];
    args.extend([
        "--inject-sink-stall",
        stall,
        "--inject-sink-stall-at-batch",
        "3",
    ]);
    let mut p = g.processor("slow", &args);
    let status = wait_exit(&mut p, Duration::from_secs(180));
    let log = g.log("slow");
    assert!(status.success(), "{log}");
    assert!(
        log.contains("max.poll.interval.ms"),
        "the member left its group: {log}"
    );
    g.assert_each_once(5000);
}

#[test]
fn a_member_stalled_past_max_poll_interval_comes_back_classic() {
    stalled_past_max_poll("classic");
}

#[test]
fn a_member_stalled_past_max_poll_interval_comes_back_consumer_protocol() {
    stalled_past_max_poll("consumer");
}

fn fatal_consumer_error(protocol: &'static str) {
    let g = Group::new(protocol, 3, 20_000);
    let mut p = g.processor(
        "fatal",
        &[
            "--exit-when-idle",
            "5s",
            "--inject-consumer-fatal-after",
            "2000",
        ],
    );
    let status = wait_exit(&mut p, Duration::from_secs(180));
    let log = g.log("fatal");
    assert!(status.success(), "{log}");
    assert!(
        log.contains("rebuilt 1 time(s) after a fatal consumer error"),
        "the consumer was rebuilt: {log}"
    );
    g.assert_each_once(20_000);
}

#[test]
fn a_fatal_consumer_error_builds_a_new_consumer_classic() {
    fatal_consumer_error("classic");
}

#[test]
fn a_fatal_consumer_error_builds_a_new_consumer_consumer_protocol() {
    fatal_consumer_error("consumer");
}

#[test]
fn a_dead_letter_repeated_by_a_crash_keeps_its_key_and_counts_once() {
    let g = Group::new("classic", 1, 100);
    // A poison record after the 100 users.
    let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let poison_offset = common::end_offset(&g.topic, 0);
    producer
        .send(
            rdkafka::producer::BaseRecord::<str, [u8]>::to(&g.topic)
                .key("poison")
                .payload(b"not avro"),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10)).expect("flush");
    // The first life stalls its first batch (holding the dead letter, already delivered) and is
    // killed in the stall: the sink never moved past the poison record.
    let mut first = g.processor(
        "first",
        &[
            "--batch-max",
            "1000",
            "--batch-linger",
            "5000ms",
            "--inject-sink-stall",
            "60s",
            "--inject-sink-stall-at-batch",
            "1",
        ],
    );
    let dlq = format!("{}.dlq", g.topic);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !g.log("first").contains("injected fault: the sink stalls") {
        assert!(Instant::now() < deadline, "{}", g.log("first"));
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill().expect("SIGKILL");
    first.wait().expect("reaped");
    assert_eq!(g.rows(), 0, "nothing committed to the sink");
    let mut second = g.processor("second", &["--exit-when-idle", "4s"]);
    assert!(wait_exit(&mut second, Duration::from_secs(120)).success());
    let letters = topic::read_all(&bootstrap(), &dlq, true);
    let key = format!("{}/0@{poison_offset}", g.topic);
    assert_eq!(
        letters.len(),
        2,
        "the crash repeated the letter: {letters:?}"
    );
    assert!(
        letters.iter().all(|l| l.key == key),
        "same key: {letters:?}"
    );
    let out = run_expect(g.cmd("verify").arg("--json"), 0);
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(report["dead_letters"], 1, "{report}");
    assert_eq!(report["present"], 100, "{report}");
}
