//! The status page (`GET /` on the metrics port) end to end, in headless Chromium: a real
//! `eosflow process` drains a topic into PostgreSQL while the browser watches its lag fall to 0;
//! then a poison record is sent and the page must show its reason. A screenshot of the page is
//! kept as the test's artefact (`$CARGO_TARGET_DIR/artifacts/status-page.png`).
//!
//! The consumer is slowed down on purpose, with librdkafka properties only: every fetch waits
//! for more bytes than a partition may return (`fetch.min.bytes` above `max.partition.fetch.bytes`),
//! so the broker answers once per `fetch.wait.max.ms` with a few record batches. The drain then
//! takes seconds, with the job polling (and its statistics arriving) all along.
//!
//! Needs Node.js, Debian's Chromium and playwright-core (`scripts/test-env start` installs them
//! and exports EOSFLOW_TEST_CHROMIUM and EOSFLOW_TEST_PLAYWRIGHT): without them the test fails.

mod common;
#[path = "common/served.rs"]
mod served;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{bootstrap, eosflow, postgres_url, required_env, unique, Registry};
use eosflow::secret::url_secrets;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use served::Running;

/// The whole browser run: drain, poison, screenshot.
const BROWSER_LIMIT: Duration = Duration::from_secs(240);

/// Where the screenshot goes: `$CARGO_TARGET_DIR/artifacts`, else beside this test's binary.
fn artifacts() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let bin = Path::new(env!("CARGO_BIN_EXE_eosflow"));
            bin.ancestors()
                .nth(2)
                .unwrap_or(Path::new("."))
                .to_path_buf()
        });
    let dir = target.join("artifacts");
    std::fs::create_dir_all(&dir).expect("artefacts directory");
    dir
}

/// The browser's tools, or a loud failure saying how to get them.
fn browser_tools() -> (String, String) {
    let chromium = required_env("EOSFLOW_TEST_CHROMIUM");
    let playwright = required_env("EOSFLOW_TEST_PLAYWRIGHT");
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node is missing: scripts/test-env start installs it"
    );
    for path in [&chromium, &playwright] {
        assert!(
            Path::new(path).exists(),
            "{path} is missing: run scripts/test-env start (it installs Chromium and playwright-core)"
        );
    }
    (chromium, playwright)
}

/// A record that is not Confluent wire format, on partition 0.
fn send_poison(topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let record = BaseRecord::<str, [u8]>::to(topic)
        .partition(0)
        .key("k-magic")
        .payload(&b"{\"not\": \"avro\"}"[..]);
    producer.send(record).map_err(|(e, _)| e).expect("send");
    producer.flush(Duration::from_secs(20)).expect("flush");
}

#[test]
fn the_status_page_shows_lag_draining_and_a_poison_records_reason_in_chromium() {
    let (chromium, playwright) = browser_tools();
    let registry = Registry::start();
    let topic = unique("status_page");
    // 600 users in transactions of 10: record batches of a few KiB.
    common::produce(&registry, &topic, 2, "status-page", 10, 600);
    let sink = postgres_url();
    let password = url_secrets(&sink).into_iter().next().expect("a password");
    let job = Running::start(
        eosflow()
            .arg("process")
            .args(["--bootstrap", &bootstrap(), "--registry", &registry.url])
            .args(["--topic", &topic, "--sink", &sink])
            .args(["--table", &unique("status_users")])
            .args(["--group", &unique("status-group")])
            .args(["--batch-max", "20", "--batch-linger", "100ms"])
            .args(["--exit-when-idle", "600s"])
            .args(["--kafka-property", "fetch.wait.max.ms=500"])
            .args(["--kafka-property", "fetch.min.bytes=100000000"])
            .args(["--kafka-property", "max.partition.fetch.bytes=6144"]),
    );
    let page_url = job.url.trim_end_matches("metrics").to_string();
    let secret_free = |what: &str, text: &str| {
        assert!(
            !text.contains(&password),
            "the sink's password in {what}:\n{text}"
        );
    };
    let (code, html) = job.probe("/");
    assert_eq!(code, 200, "{html}");
    assert!(html.starts_with("<!doctype html>"), "{html}");
    secret_free("the page", &html);

    let started = Instant::now();
    let mut browser = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/status_page.mjs"))
        .env("STATUS_URL", &page_url)
        .env("STATUS_SCREENSHOT", artifacts().join("status-page.png"))
        .env("EOSFLOW_TEST_CHROMIUM", &chromium)
        .env("EOSFLOW_TEST_PLAYWRIGHT", &playwright)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node starts");
    let mut to_browser = browser.stdin.take().expect("stdin");
    let stdout = browser.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut result = None;
    let mut drained_at = None;
    while result.is_none() {
        let left = BROWSER_LIMIT.saturating_sub(started.elapsed());
        match lines.recv_timeout(left) {
            Ok(line) if line == "drained" => {
                drained_at = Some(started.elapsed());
                // The lag is 0 here: everything produced is in the sink.
                let (_, json) = job.probe("/status.json");
                let status: serde_json::Value = serde_json::from_str(&json).expect("json");
                assert_eq!(status["total_lag"], 0, "{json}");
                assert_eq!(status["rates"]["records_total"], 600, "{json}");
                send_poison(&topic);
                writeln!(to_browser, "poison-sent").expect("tell the browser");
            }
            Ok(line) => result = line.strip_prefix("result ").map(str::to_string),
            Err(_) => break,
        }
    }
    drop(to_browser);
    let exit = browser.wait().expect("node exits");
    let elapsed = started.elapsed();
    let Some(result) = result else {
        let _ = browser.kill();
        panic!(
            "the browser run failed ({exit}, after {elapsed:?}; see its stderr above and {})\n--- eosflow log\n{}",
            artifacts().join("status-page.png").display(),
            job.log()
        );
    };
    assert!(exit.success(), "{exit}");
    let seen: serde_json::Value = serde_json::from_str(&result).expect("result json");
    secret_free(
        "the rendered page",
        seen["page_text"].as_str().unwrap_or_default(),
    );
    eprintln!(
        "browser: launched {} ms, loaded {} ms, lag {} seen at {} ms, 0 at {} ms, poison reason shown {} ms after sending, screenshot at {} ms; node exited after {elapsed:?} (drained at {drained_at:?})\nlag samples [ms, lag]: {}",
        seen["launched_ms"],
        seen["loaded_ms"],
        seen["first_positive_lag"],
        seen["lag_seen_ms"],
        seen["drained_ms"],
        seen["reason_shown_ms"].as_i64().unwrap_or(0) - seen["poison_sent_ms"].as_i64().unwrap_or(0),
        seen["total_ms"],
        seen["lag_samples"]
    );

    let (_, json) = job.probe("/status.json");
    secret_free("/status.json", &json);
    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
    assert_eq!(status["dead_letters"][0]["class"], "bad-magic", "{json}");
    let shot = artifacts().join("status-page.png");
    let size = std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0);
    assert!(size > 10_000, "{} is {size} bytes", shot.display());
    let summary = job.terminate();
    assert!(
        summary.contains("processed 600 records") && summary.contains("1 dead-lettered"),
        "{summary}"
    );
}
