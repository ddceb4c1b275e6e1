//! Processors in a consumer group on Apache Kafka + PostgreSQL: a second processor joins mid-stream
//! (the group splits the partitions), then the first leaves (the survivor takes its partitions and
//! resumes from the offsets stored with the rows): verify exact. And SIGTERM: the open batch is
//! committed and the processor exits 0 in bounded time.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{bootstrap, eosflow, postgres_url, run_ok, stdout, unique, Registry};

struct Setup {
    registry: Registry,
    bootstrap: String,
    topic: String,
    table: String,
    group: String,
}

impl Setup {
    fn new(users: u64) -> Setup {
        let s = Setup {
            registry: Registry::start(),
            bootstrap: bootstrap(),
            topic: unique("grp"),
            table: unique("grp_users"),
            group: unique("grp"),
        };
        common::produce(&s.registry, &s.topic, 4, "group", 1000, users);
        s
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
            .args([
                "--topic",
                &self.topic,
                "--sink",
                &postgres_url(),
                "--table",
                &self.table,
            ]);
        c
    }

    fn processor(&self, extra: &[&str]) -> Child {
        self.cmd("process")
            .args(["--group", &self.group])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(if std::env::var("EOSFLOW_TEST_DEBUG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .env("EOSFLOW_LOG", "info,eosflow::pipeline=warn")
            .spawn()
            .expect("spawn processor")
    }

    /// A processor whose log lines are collected as they arrive.
    fn processor_logged(&self, extra: &[&str]) -> (Child, Arc<Mutex<Vec<String>>>) {
        let mut child = self
            .cmd("process")
            .args(["--group", &self.group])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .env("EOSFLOW_LOG", "info,eosflow::pipeline=warn")
            .env("NO_COLOR", "1")
            .spawn()
            .expect("spawn processor");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().expect("log lines").push(line);
            }
        });
        (child, lines)
    }

    fn rows(&self) -> usize {
        let mut s = eosflow::sink::open(&postgres_url(), &self.table).expect("sink");
        s.ensure_schema().expect("schema");
        s.id_counts().expect("ids").len()
    }

    fn wait_rows(&self, at_least: usize) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while self.rows() < at_least {
            assert!(Instant::now() < deadline, "never reached {at_least} rows");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn verify_exact(&self, users: u64) {
        let out = run_ok(self.cmd("verify").arg("--json"));
        let expected = serde_json::json!({"expected": users, "present": users, "missing": 0, "lost": 0, "duplicates": 0, "extra": 0, "committed": users});
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(stdout(&out).trim()).expect("json"),
            expected
        );
    }
}

/// A second processor joins mid-stream (the group splits the partitions; both write), then the
/// first leaves with SIGTERM (it commits its batch and leaves the group); the survivor takes its
/// partitions from the offsets stored with the rows and finishes: exact.
/// (A killed member's handover: `a_killed_processors_partitions_move_to_the_survivor` below.)
#[test]
fn a_second_processor_shares_the_partitions_then_takes_over_from_one_that_leaves() {
    const USERS: u64 = 20_000;
    let s = Setup::new(USERS);
    // Small batches so the stream takes a while and the group changes land mid-stream.
    let slow = ["--batch-max", "100", "--batch-linger", "50ms"];
    let first = s.processor(&[&slow[..], &["--exit-when-idle", "60s"]].concat());
    s.wait_rows(1000);
    let second = s.processor(&[&slow[..], &["--exit-when-idle", "10s"]].concat());
    s.wait_rows(6000);
    let term = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status()
        .expect("kill");
    assert!(term.success());
    let first = first.wait_with_output().expect("first exits");
    assert!(first.status.success(), "the first left cleanly");
    let out = second.wait_with_output().expect("second finishes");
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{summary}");
    let (a, b) = (
        processed(&String::from_utf8_lossy(&first.stdout)),
        processed(&summary),
    );
    assert!(
        a > 0 && b > 0,
        "both processors did part of the work: {a} + {b}"
    );
    assert_eq!(
        a + b,
        USERS,
        "each record applied once between them: {a} + {b}"
    );
    s.verify_exact(USERS);
}

/// The count in a processor's summary line (`processed N records ...`).
fn processed(text: &str) -> u64 {
    text.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The users a resumed producer replayed: `resumed at page P index I (N users replayed)`.
fn replayed(summary: &str) -> u64 {
    summary
        .split_once("users replayed")
        .and_then(|(before, _)| before.rsplit('(').next())
        .map(|n| {
            n.trim()
                .parse()
                .unwrap_or_else(|_| panic!("replay count in {summary:?}"))
        })
        .unwrap_or(0)
}

/// Two processors split the partitions; one is killed with SIGKILL while it holds an open,
/// uncommitted batch. Once the broker expires its session (after session.timeout.ms), the survivor is given the dead member's partitions,
/// seeks to the offsets stored with the rows (none for the dead member's partitions: it never
/// committed) and re-does exactly the lost work: it applies every record of the topic once (its own
/// half plus the dead member's), and the table holds every user once.
#[test]
fn a_killed_processors_partitions_move_to_the_survivor() {
    const FIRST: u64 = 2000;
    const TOTAL: u64 = 10_000;
    let s = Setup {
        registry: Registry::start(),
        bootstrap: bootstrap(),
        topic: unique("grpkill"),
        table: unique("grpkill_users"),
        group: unique("grpkill"),
    };
    let produce_until = |last_page: u64| {
        run_ok(
            eosflow()
                .args(["produce", "--bootstrap", &s.bootstrap])
                .args([
                    "--registry",
                    &s.registry.url,
                    "--topic",
                    &s.topic,
                    "--partitions",
                    "4",
                    "--seed",
                    "grpkill",
                    "--page-size",
                    "500",
                    "--last-page",
                    &last_page.to_string(),
                ]),
        )
    };
    // Both members join an empty topic, so the group has split the partitions between them before
    // any record exists (a join after the first member read records would make it commit them on
    // revocation). The first one's batch never fills or lingers out: everything it reads stays
    // uncommitted.
    eosflow::kafka::admin::ensure_topic(
        &eosflow::kafka::KafkaSettings::new(&s.bootstrap),
        &s.topic,
        4,
        &[],
        Duration::from_secs(20),
    )
    .expect("create the topic");
    let session = ["--kafka-property", "session.timeout.ms=6000"];
    let open_batch = ["--batch-max", "1000000", "--batch-linger", "600000ms"];
    let mut first = s.processor(&[&session[..], &open_batch[..]].concat());
    let (second, log) = s.processor_logged(&[&session[..], &["--exit-when-idle", "30s"]].concat());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !log.lock().expect("log lines").iter().any(|l| {
        l.contains("partitions assigned")
            && l.matches("Offset").count() + l.matches("Beginning").count() == 2
    }) {
        assert!(
            Instant::now() < deadline,
            "the group never split the partitions"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    produce_until(FIRST / 500);
    s.wait_rows(FIRST as usize / 4); // the survivor is writing its share
                                     // A resumed producer replays its last recorded page (whole, on purpose): those records are
                                     // in the topic twice and the survivor applies them again onto the same rows.
    let replayed = replayed(&stdout(&produce_until(TOTAL / 500)));
    std::thread::sleep(Duration::from_secs(2)); // the first reads its share of the new pages
    first.kill().expect("SIGKILL the first processor");
    first.wait().expect("reaped");
    let out = second.wait_with_output().expect("second finishes");
    let summary = stdout(&out);
    let log = log.lock().expect("log lines").join("\n");
    eprintln!("survivor's log:\n{log}");
    let assignments: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("partitions assigned"))
        .collect();
    let all_four = |l: &&str| (0..4).all(|p| l.contains(&format!("({p}, ")));
    assert!(out.status.success(), "{summary}\n{log}");
    let share = assignments.iter().position(|l| !all_four(l));
    assert!(
        share.is_some_and(|i| assignments[i + 1..].iter().any(all_four)),
        "the survivor first got its share, then every partition: {assignments:?}"
    );
    assert_eq!(
        processed(&summary),
        TOTAL + replayed,
        "the survivor applied every record once, its own and the dead member's \
         ({replayed} replayed by the producer); its log:\n{log}"
    );
    s.verify_exact(TOTAL);
}

#[test]
fn sigterm_commits_the_open_batch_and_exits_cleanly() {
    const USERS: u64 = 3000;
    let s = Setup::new(USERS);
    // A batch that would stay open for a minute: only the shutdown path can commit it.
    let child = s.processor(&["--batch-max", "1000000", "--batch-linger", "60000ms"]);
    std::thread::sleep(Duration::from_secs(6));
    assert_eq!(s.rows(), 0, "nothing committed before the signal");
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(kill.success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("exits");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded shutdown"
    );
    assert!(out.status.success(), "exit 0 after SIGTERM");
    assert_eq!(s.rows(), USERS as usize, "the open batch was committed");
    s.verify_exact(USERS);
}
