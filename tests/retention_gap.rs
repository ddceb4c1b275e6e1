//! Records deleted before the processor read them (the classic silent loss of Kafka sinks:
//! retention runs while a processor is stopped or behind). On Apache Kafka, with a topic whose
//! `retention.bytes` keeps about one segment, and on the demo broker (MockCluster, which drops
//! the oldest data past 5 MiB per partition):
//!
//! 1. `process` stops with an error naming the topic, the partition, the stored offset, the log
//!    start and how many offsets are gone, and commits nothing past them; a restart stops again;
//! 2. `verify` reports the users as `lost` and is NOT EXACT (exit 1), because it reconciles
//!    against what the producer committed, not only against what is left in the topic;
//! 3. `process --skip-lost-records` goes on, the skipped range on record in the sink, and
//!    `verify` and `doctor` both show it.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::mock_broker::MockBroker;
use common::{eosflow, run_expect, run_ok, stdout, unique, Registry};
use eosflow::kafka::{admin, KafkaSettings};
use rdkafka::consumer::{BaseConsumer, Consumer};

const PAGE: u64 = 500;

struct Gap {
    bootstrap: String,
    registry: Registry,
    topic: String,
    sink: String,
    group: String,
    _dir: tempfile::TempDir,
}

impl Gap {
    fn new(bootstrap: &str, topic: String) -> Gap {
        let dir = tempfile::tempdir().expect("tempdir");
        Gap {
            bootstrap: bootstrap.to_string(),
            registry: Registry::start(),
            sink: format!("sqlite://{}", dir.path().join("gap.db").display()),
            group: unique("gap"),
            topic,
            _dir: dir,
        }
    }

    fn cmd(&self, sub: &str) -> Command {
        let mut c = eosflow();
        c.arg(sub)
            .args([
                "--bootstrap",
                &self.bootstrap,
                "--registry",
                &self.registry.url,
            ])
            .args(["--topic", &self.topic]);
        if sub != "produce" {
            c.args(["--sink", &self.sink]);
        }
        c
    }

    fn produce_until(&self, last_page: u64) {
        run_ok(
            self.cmd("produce")
                .args(["--seed", "gap", "--page-size", &PAGE.to_string()])
                .args(["--last-page", &last_page.to_string(), "--partitions", "1"]),
        );
    }

    fn process(&self, extra: &[&str], code: i32) -> String {
        let out = run_expect(
            self.cmd("process")
                .args(["--group", &self.group, "--exit-when-idle", "3s"])
                .args(extra),
            code,
        );
        format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr))
    }

    fn verify(&self, code: i32) -> serde_json::Value {
        let out = run_expect(self.cmd("verify").arg("--json"), code);
        serde_json::from_str(stdout(&out).trim()).expect("verify --json prints JSON")
    }

    fn stored_offset(&self) -> i64 {
        let mut sink = eosflow::sink::open(&self.sink, "users").expect("sink");
        sink.load_offsets(&self.group, &self.topic)
            .expect("offsets")
            .get(&0)
            .copied()
            .unwrap_or(0)
    }

    /// Wait until the log start of partition 0 is past `offset` (retention ran) and has stopped
    /// moving for 3 s (retention deletes one segment after another).
    fn wait_deleted_past(&self, offset: i64) -> i64 {
        let consumer: BaseConsumer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &self.bootstrap)
            .create()
            .expect("watermark client");
        let deadline = Instant::now() + Duration::from_secs(90);
        let mut last = (-1, Instant::now());
        loop {
            let (low, _) = consumer
                .fetch_watermarks(&self.topic, 0, Duration::from_secs(5))
                .expect("watermarks");
            if low != last.0 {
                last = (low, Instant::now());
            }
            if low > offset && last.1.elapsed() >= Duration::from_secs(3) {
                return low;
            }
            assert!(
                Instant::now() < deadline,
                "the broker never deleted past offset {offset} for good (log start {low})"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Steps 1 to 3 of the file header, once the first pages are processed and later pages made
    /// the broker delete past the stored offset.
    fn check_stop_verify_skip(&self, total_users: u64) {
        let stored = self.stored_offset();
        let log_start = self.wait_deleted_past(stored);
        // 1. stop, naming where and how much.
        let err = self.process(&[], 2);
        for needle in [
            format!("records of topic {} were deleted before group", self.topic),
            format!("partition 0: stored offset {stored}, log start {log_start}"),
            format!("({} offsets gone)", log_start - stored),
            "--skip-lost-records".to_string(),
        ] {
            assert!(err.contains(&needle), "expected {needle:?} in:\n{err}");
        }
        assert_eq!(
            self.stored_offset(),
            stored,
            "nothing committed past the gap"
        );
        assert!(
            self.process(&[], 2).contains("were deleted before group"),
            "stops again"
        );
        // 2. verify knows what the producer committed.
        let report = self.verify(1);
        assert_eq!(report["committed"], total_users, "{report}");
        assert!(report["lost"].as_u64() > Some(0), "{report}");
        // 3. skip on record.
        let out = self.process(&["--skip-lost-records"], 0);
        assert!(out.contains("processed"), "{out}");
        let report = self.verify(1);
        let lost = report["lost"].as_u64().expect("lost");
        assert!(lost > 0, "{report}");
        assert_eq!(
            report["missing"], 0,
            "everything left was processed: {report}"
        );
        assert_eq!(
            report["present"].as_u64().map(|p| p + lost),
            report["expected"].as_u64(),
            "{report}"
        );
        assert_eq!(
            report["skipped"],
            serde_json::json!([{"group": self.group, "partition": 0, "from": stored, "to": log_start}]),
            "{report}"
        );
        let doctor = stdout(&run_expect(self.cmd("doctor").args(["--timeout", "5s"]), 0));
        assert!(
            doctor.contains("⚠ skipped")
                && doctor.contains(&format!("offsets {stored}..{log_start}")),
            "{doctor}"
        );
    }
}

#[test]
fn kafka_retention_deletes_unread_records_and_process_stops_naming_them() {
    let topic = unique("gap");
    let gap = Gap::new(&common::bootstrap(), topic.clone());
    // One partition that keeps about one 1 MiB segment (Kafka 4's smallest) besides the active
    // one; the test broker checks retention every second (scripts/kafka-cluster).
    admin::ensure_topic(
        &KafkaSettings::new(common::bootstrap()),
        &topic,
        1,
        &[("retention.bytes", "1048576"), ("segment.bytes", "1048576")],
        Duration::from_secs(20),
    )
    .expect("topic");
    gap.produce_until(4);
    assert!(gap.process(&[], 0).contains("processed 2000 records"));
    // The processor is stopped; 20 000 more users (~10 MiB) roll segments that retention deletes.
    gap.produce_until(44);
    gap.check_stop_verify_skip(44 * PAGE);
}

#[test]
fn the_demo_broker_dropping_unread_records_is_caught_too() {
    let topic = "users";
    let broker = MockBroker::start(&[
        (topic, 1),
        ("users.rejects", 1),
        ("users.progress", 1),
        ("users.dlq", 1),
    ]);
    let gap = Gap::new(&broker.bootstrap, topic.to_string());
    gap.produce_until(2);
    assert!(gap.process(&[], 0).contains("processed 1000 records"));
    // Past 5 MiB in the partition MockCluster drops the oldest message sets.
    gap.produce_until(60);
    gap.check_stop_verify_skip(60 * PAGE);
}
