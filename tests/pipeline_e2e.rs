//! End to end on real components: Apache Kafka (transactional delivery), eosflow's registry, and
//! PostgreSQL or SQLite. 10 000 users; the processor is
//! stopped gracefully, then SIGKILLed mid-stream, restarted, and finally re-processes everything
//! after an offset reset. `verify` must be exact after each step and row contents unchanged.

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{bootstrap, eosflow, postgres_url, run_expect, run_ok, stdout, unique, Registry};
use eosflow::model::User;
use eosflow::sink;
use uuid::Uuid;

const USERS: u64 = 10_000;

struct Pipeline {
    registry: Registry,
    topic: String,
    sink_url: String,
    table: String,
    group: String,
}

impl Pipeline {
    fn new(sink_url: String) -> Pipeline {
        Pipeline {
            registry: Registry::start(),
            topic: unique("e2e"),
            sink_url,
            table: unique("users"),
            group: unique("group"),
        }
    }

    fn cmd(&self, sub: &str) -> Command {
        let mut c = eosflow();
        c.arg(sub)
            .args(["--bootstrap", &bootstrap()])
            .args(["--registry", &self.registry.url])
            .args(["--topic", &self.topic]);
        if sub != "produce" {
            c.args(["--sink", &self.sink_url, "--table", &self.table]);
        }
        if sub == "process" {
            c.args([
                "--group",
                &self.group,
                "--batch-max",
                "500",
                "--batch-linger",
                "200ms",
            ]);
            c.args(["--exit-when-idle", "3s"]);
            // One logical processor, restarted: static membership lets the restart take over the
            // SIGKILLed predecessor's partitions at once, not after the session timeout.
            c.args(["--instance-id", &format!("{}-processor", self.group)]);
        }
        c
    }

    fn produce(&self) {
        let out = common::produce(&self.registry, &self.topic, 4, "e2e", 1000, USERS);
        assert!(
            stdout(&out).contains(&format!("produced {USERS} users")),
            "{}",
            stdout(&out)
        );
    }

    fn process(&self, extra: &[&str]) -> String {
        stdout(&run_ok(self.cmd("process").args(extra)))
    }

    /// A processor to SIGKILL mid-stream: its sixth batch stalls, so however fast it runs it is
    /// still short of the end (at most five 500-record batches past its start) when the kill
    /// lands; without the stall the processor, sink on its own thread, finished the topic
    /// between two of the test's row counts.
    fn spawn_process(&self) -> Child {
        self.cmd("process")
            .args([
                "--inject-sink-stall",
                "30s",
                "--inject-sink-stall-at-batch",
                "6",
            ])
            .spawn()
            .expect("spawn process")
    }

    fn verify(&self) -> serde_json::Value {
        let out = run_expect(self.cmd("verify").arg("--json"), 0);
        serde_json::from_str(stdout(&out).trim()).expect("verify prints JSON")
    }

    fn rows(&self) -> usize {
        let mut s = sink::open(&self.sink_url, &self.table).expect("open sink");
        s.ensure_schema().expect("schema");
        s.id_counts().expect("id counts").len()
    }

    fn snapshot(&self, n: usize) -> BTreeMap<Uuid, User> {
        let mut s = sink::open(&self.sink_url, &self.table).expect("open sink");
        let ids: Vec<Uuid> = s
            .id_counts()
            .expect("ids")
            .keys()
            .take(n)
            .copied()
            .collect();
        ids.into_iter()
            .map(|id| (id, s.get(id).expect("get").expect("row")))
            .collect()
    }
}

fn assert_exact(report: &serde_json::Value) {
    let expected = serde_json::json!({
        "expected": USERS, "present": USERS, "missing": 0, "lost": 0, "duplicates": 0, "extra": 0,
        "committed": USERS
    });
    assert_eq!(report, &expected);
}

fn kill_when_rows_at_least(p: &Pipeline, mut child: Child, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while p.rows() < rows {
        assert!(
            Instant::now() < deadline,
            "processor never reached {rows} rows"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("processor exited early: {status}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL"); // Child::kill sends SIGKILL on Unix
    child.wait().expect("reaped");
}

fn stop_kill_restart_reset(sink_url: String) {
    let p = Pipeline::new(sink_url);
    p.produce();

    // 1. A graceful stop part-way: commits what it took, exits 0.
    let first = p.process(&["--max-records", "2500"]);
    assert!(first.contains("processed"), "{first}");
    let after_first = p.rows();
    assert!(
        (2500..USERS as usize).contains(&after_first),
        "rows after a stop at 2500: {after_first}"
    );

    // 2. SIGKILL mid-stream, between or during batches.
    kill_when_rows_at_least(&p, p.spawn_process(), after_first + 2000);
    let after_kill = p.rows();
    assert!(
        after_kill < USERS as usize,
        "killed before the end: {after_kill}"
    );

    // 3. Restart: resumes from the offsets stored with the rows — so it processes exactly the
    //    users not yet in the sink, no more (that would be a re-application) and no fewer.
    let rest = p.process(&[]);
    let remaining = USERS as usize - after_kill;
    assert!(
        rest.contains(&format!("processed {remaining} records")),
        "expected {remaining}: {rest}"
    );
    assert_exact(&p.verify());
    let before = p.snapshot(200);

    // 4. Reset the offsets and re-process everything: idempotent, identical rows.
    let again = p.process(&["--reset-offsets"]);
    assert!(
        again.contains(&format!("processed {USERS} records")),
        "{again}"
    );
    assert_exact(&p.verify());
    assert_eq!(
        p.snapshot(200),
        before,
        "re-processing rewrote identical rows"
    );
}

#[test]
fn postgres_exact_across_stop_kill_restart_and_reset() {
    stop_kill_restart_reset(postgres_url());
}

#[test]
fn sqlite_exact_across_stop_kill_restart_and_reset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("e2e.db").display());
    stop_kill_restart_reset(url);
}
