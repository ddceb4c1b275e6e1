//! `eosflow produce` against a local randomuser-compatible server, as the classic DAG runs it:
//! a timed schedule (`--for`/`--every`), a large bounded run (`--count 50000`) processed and
//! verified exact, invalid users in the rejects topic with their reason and without secrets, and
//! SIGTERM finishing the current transaction.

mod common;
#[path = "common/randomuser_server.rs"]
mod randomuser_server;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{bootstrap, eosflow, run_ok, stdout, unique, Registry};
use eosflow::core::producer::Progress;
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::KafkaSettings;
use randomuser_server::{is_broken, RandomUserServer};

const TIMEOUT: Duration = Duration::from_secs(20);

fn produce(server: &RandomUserServer, registry: &Registry, topic: &str) -> std::process::Command {
    let mut c = eosflow();
    c.args(["produce", "--source", &server.url, "--rate", "1000"])
        .args([
            "--bootstrap",
            &bootstrap(),
            "--registry",
            &registry.url,
            "--topic",
            topic,
        ])
        .args(["--seed", "http", "--partitions", "2"])
        .args(["--transactional-id", &format!("{topic}-producer")]);
    c
}

fn records(topic: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    read_topic(&KafkaSettings::new(bootstrap()), topic, TIMEOUT, |r| {
        out.push((
            String::from_utf8(r.key.unwrap_or_default()).expect("key"),
            r.value.unwrap_or_default(),
        ));
    })
    .expect("read topic");
    out
}

fn rejected_in(pages: u64, page_size: u32) -> usize {
    pages as usize * (0..page_size).filter(|&i| is_broken(i)).count()
}

#[test]
fn a_timed_schedule_produces_a_page_per_tick_and_rejects_invalid_users() {
    let (server, registry, topic) = (
        RandomUserServer::start(),
        Registry::start(),
        unique("sched"),
    );
    let out = run_ok(produce(&server, &registry, &topic).args([
        "--page-size",
        "100",
        "--for",
        "5s",
        "--every",
        "1s",
    ]));
    let summary = stdout(&out);
    let users = records(&topic);
    let valid_per_page = 100 - rejected_in(1, 100);
    assert_eq!(
        users.len() % valid_per_page,
        0,
        "whole pages only: {summary}"
    );
    let pages = (users.len() / valid_per_page) as u64;
    assert!(
        (3..=7).contains(&pages),
        "about 5 pages in 5 s at one per second: {summary}"
    );
    assert!(summary.contains(&format!("in {pages} chunks")), "{summary}");
    assert!(
        summary.contains(&format!("{} rejected", rejected_in(pages, 100))),
        "{summary}"
    );
    let rejects = records(&format!("{topic}.rejects"));
    assert_eq!(rejects.len(), rejected_in(pages, 100));
    for (_, value) in &rejects {
        let v: serde_json::Value = serde_json::from_slice(value).expect("reject JSON");
        assert!(
            v["reason"].as_str().is_some_and(|r| r.contains("email")),
            "{v}"
        );
        let raw = v["raw"].as_str().expect("raw");
        assert!(
            !raw.contains("hunter2") && !raw.contains("sha256hash"),
            "secrets stripped: {raw}"
        );
    }
}

#[test]
fn fifty_thousand_users_are_produced_processed_and_verified_exact() {
    let (server, registry, topic) = (RandomUserServer::start(), Registry::start(), unique("big"));
    let out = run_ok(produce(&server, &registry, &topic).args([
        "--page-size",
        "5000",
        "--count",
        "50000",
    ]));
    assert!(
        stdout(&out).contains("produced 50000 users in 10 chunks"),
        "{}",
        stdout(&out)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("big.db").display());
    let common_args = [
        "--bootstrap",
        &bootstrap(),
        "--registry",
        &registry.url,
        "--topic",
        &topic,
        "--sink",
        &sink,
    ];
    let processed = run_ok(eosflow().arg("process").args(common_args).args([
        "--exit-when-idle",
        "3s",
        "--group",
        &unique("group"),
    ]));
    let valid = 50_000 - rejected_in(10, 5000);
    assert!(
        stdout(&processed).contains(&format!("processed {valid} records")),
        "{}\n{}",
        stdout(&processed),
        String::from_utf8_lossy(&processed.stderr)
    );
    let out = run_ok(eosflow().arg("verify").args(common_args).arg("--json"));
    // The producer committed all 50 000 identities; the rejected ones never reach the topic.
    let expected = serde_json::json!({"expected": valid, "present": valid, "missing": 0, "lost": 0, "duplicates": 0, "extra": 0, "committed": 50_000, "rejected": 50_000 - valid});
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(stdout(&out).trim()).expect("json"),
        expected
    );
}

#[test]
fn sigterm_finishes_the_current_transaction_and_exits_cleanly() {
    let (server, registry, topic) = (RandomUserServer::start(), Registry::start(), unique("term"));
    let child = produce(&server, &registry, &topic)
        .args(["--page-size", "100", "--every", "400ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    std::thread::sleep(Duration::from_millis(2500));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(status.success());
    let started = Instant::now();
    let out = child.wait_with_output().expect("wait");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped within a bounded time"
    );
    assert!(
        out.status.success(),
        "exit 0 after SIGTERM: {:?}",
        out.status
    );
    let summary = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(summary.contains("produced"), "{summary}");
    // The last progress record names exactly the cursor the summary reports: nothing half-done.
    let progress = records(&format!("{topic}.progress"));
    let last: Progress =
        serde_json::from_slice(&progress.last().expect("progress").1).expect("progress JSON");
    assert!(
        summary.contains(&format!(
            "next cursor seed=\"http\" page={} index={}",
            last.next.page, last.next.index
        )),
        "{summary} vs {last:?}"
    );
    assert_eq!(records(&topic).len() as u64, (last.next.page - 1) * 98);
}
