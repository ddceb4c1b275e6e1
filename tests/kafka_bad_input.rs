//! Bad input on the Kafka path, on Apache Kafka: a broker that is not there (refused, unknown
//! host) is said at once with the address and what to check; a broker lost mid-run makes
//! `process` and `produce` stop with their committed position, and restarts continue exactly.
//! (Insufficient replicas needs several brokers: `tests/crash_cluster.rs`.)

mod common;
#[path = "common/kafka.rs"]
mod kafka;

use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{eosflow, run_expect, run_ok, stdout, unique, Registry};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

#[test]
fn a_broker_that_is_not_there_is_named_with_its_cause() {
    let refused = format!("127.0.0.1:{}", closed_port());
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("x.db").display());
    for (bootstrap, needles) in [
        (
            refused.as_str(),
            vec![
                "connection refused",
                "is the broker running",
                refused.as_str(),
            ],
        ),
        (
            "no-such-host.invalid:9092",
            vec![
                "does not resolve",
                "no-such-host.invalid:9092",
                "host part of --bootstrap",
            ],
        ),
    ] {
        for job in ["produce", "process", "verify"] {
            let mut c = eosflow();
            c.args([job, "--bootstrap", bootstrap, "--timeout", "30s"])
                .args(["--registry", "http://127.0.0.1:1", "--topic", "users"]);
            if job != "produce" {
                c.args(["--sink", &sink]);
            }
            let out = run_expect(&mut c, 2);
            let err = stderr(&out);
            for n in &needles {
                assert!(
                    err.contains(n),
                    "{job} --bootstrap {bootstrap}: expected {n:?} in {err}"
                );
            }
        }
    }
}

struct Lost {
    kafka: kafka::PrivateKafka,
    registry: Registry,
    topic: String,
    dir: tempfile::TempDir,
}

impl Lost {
    fn new() -> Lost {
        Lost {
            kafka: kafka::PrivateKafka::start(1),
            registry: Registry::start(),
            topic: unique("lost"),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn sink(&self) -> String {
        format!("sqlite://{}", self.dir.path().join("lost.db").display())
    }

    fn cmd(&self, sub: &str) -> Command {
        let mut c = eosflow();
        c.arg(sub)
            .args([
                "--bootstrap",
                &self.kafka.bootstrap(),
                "--registry",
                &self.registry.url,
            ])
            .args(["--topic", &self.topic, "--timeout", "8s"]);
        if sub != "produce" {
            c.args(["--sink", &self.sink()]);
        }
        c
    }

    fn producer(&self, extra: &[&str]) -> Command {
        let mut c = self.cmd("produce");
        c.args(["--transactional-id", "lost-producer", "--partitions", "2"])
            .args(["--page-size", "100"])
            .args(extra);
        c
    }

    fn rows(&self) -> usize {
        eosflow::sink::open(&self.sink(), "users")
            .and_then(|mut s| {
                s.ensure_schema()?;
                s.id_counts()
            })
            .map(|ids| ids.len())
            .unwrap_or(0)
    }
}

/// The job's exit and stderr (written to `log`), killing it past `limit`.
fn wait_logged(mut child: Child, log: &std::path::Path, limit: Duration) -> (Option<i32>, String) {
    let started = Instant::now();
    let read = || std::fs::read_to_string(log).unwrap_or_default();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return (status.code(), read());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("a job did not stop within {limit:?}; its log:\n{}", read());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn log_file(t: &Lost, name: &str) -> (std::path::PathBuf, Stdio) {
    let path = t.dir.path().join(name);
    let file = std::fs::File::create(&path).expect("log");
    (path, Stdio::from(file))
}

#[test]
fn a_broker_lost_mid_run_stops_the_jobs_at_their_committed_position_and_restarts_continue() {
    let mut t = Lost::new();
    run_ok(&mut t.producer(&["--last-page", "100"]));
    let (process_log, stderr) = log_file(&t, "process.log");
    let processor = t
        .cmd("process")
        .args([
            "--group",
            "lost",
            "--batch-max",
            "200",
            "--batch-linger",
            "50ms",
        ])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("processor");
    let deadline = Instant::now() + Duration::from_secs(60);
    while t.rows() < 2000 {
        assert!(Instant::now() < deadline, "the processor never got going");
        std::thread::sleep(Duration::from_millis(50));
    }
    t.kafka.signal(1, kafka::Signal::Kill);
    let (code, err) = wait_logged(processor, &process_log, Duration::from_secs(120));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("lost every Kafka broker")
            && err.contains("The sink holds everything up to partition 0 offset")
            && err.contains("a restart continues exactly"),
        "{err}"
    );
    // The producer, paced, loses the broker too: it names the cursor it resumes at.
    t.kafka.restart(1);
    let (produce_log, stderr) = log_file(&t, "produce.log");
    let producer = t
        .producer(&["--last-page", "200", "--every", "200ms"])
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("producer");
    std::thread::sleep(Duration::from_secs(3));
    t.kafka.signal(1, kafka::Signal::Kill);
    let (code, err) = wait_logged(producer, &produce_log, Duration::from_secs(300));
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("The last committed cursor is seed")
            && err.contains("a restart resumes there"),
        "{err}"
    );
    // Both restart and finish exactly.
    t.kafka.restart(1);
    run_ok(&mut t.producer(&["--last-page", "200"]));
    run_ok(
        t.cmd("process")
            .args(["--group", "lost", "--exit-when-idle", "5s"]),
    );
    let report = stdout(&run_ok(t.cmd("verify").arg("--json")));
    let report: serde_json::Value = serde_json::from_str(report.trim()).expect("json");
    assert_eq!(
        (
            &report["present"],
            &report["committed"],
            &report["missing"],
            &report["extra"]
        ),
        (&20000.into(), &20000.into(), &0.into(), &0.into()),
        "{report}"
    );
}
