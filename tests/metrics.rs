//! `--metrics-listen`: the binary serves Prometheus text format at `/metrics` while `process` and
//! `produce` run, and the numbers are exactly what the run did. `process` runs against Apache Kafka over
//! users and poison records; `produce` runs transactionally on a MockCluster. Every scrape is
//! checked line by line against the exposition format.

mod common;
#[path = "common/randomuser_server.rs"]
mod randomuser_server;
#[path = "common/served.rs"]
mod served;

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::mock_broker::MockBroker;
use common::{bootstrap, eosflow, run_expect, unique, Registry};
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::KafkaSettings;
use randomuser_server::RandomUserServer;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use served::Running;

const TIMEOUT: Duration = Duration::from_secs(20);
/// How long a condition on the scraped metrics may take to hold.
const PATIENCE: Duration = Duration::from_secs(120);

impl Running {
    fn scrape(&self) -> Scrape {
        let response = reqwest::blocking::get(&self.url)
            .unwrap_or_else(|e| panic!("scrape {}: {e}\n{}", self.url, self.log()));
        assert!(response.status().is_success(), "{}", response.status());
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        let text = response.text().expect("body");
        if let Err(e) = check_exposition(&text) {
            panic!("not valid exposition format: {e}\n{text}");
        }
        Scrape::parse(&text)
    }

    /// Scrape until `done` holds (then once more, to assert on), or fail with the last scrape.
    fn scrape_until(&self, what: &str, done: impl Fn(&Scrape) -> bool) -> Scrape {
        let started = Instant::now();
        loop {
            let scrape = self.scrape();
            if done(&scrape) {
                return self.scrape();
            }
            if started.elapsed() > PATIENCE {
                panic!(
                    "{what}: not reached within {PATIENCE:?}\n--- last scrape\n{}\n--- log\n{}",
                    scrape.text,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// One scrape: its text and each series' value by `name{labels}` exactly as exposed.
struct Scrape {
    text: String,
    values: BTreeMap<String, f64>,
}

impl Scrape {
    fn parse(text: &str) -> Scrape {
        let values = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(series, v)| (series.to_string(), parse_value(v).unwrap_or(f64::NAN)))
            .collect();
        Scrape {
            text: text.to_string(),
            values,
        }
    }

    /// The value of a series; an absent series fails the test.
    fn get(&self, series: &str) -> f64 {
        match self.values.get(series) {
            Some(v) => *v,
            None => panic!("no series {series} in\n{}", self.text),
        }
    }

    fn maybe(&self, series: &str) -> Option<f64> {
        self.values.get(series).copied()
    }
}

fn parse_value(v: &str) -> Option<f64> {
    match v {
        "+Inf" => Some(f64::INFINITY),
        "-Inf" => Some(f64::NEG_INFINITY),
        "NaN" => Some(f64::NAN),
        _ => v.parse().ok(),
    }
}

fn is_name(name: &str, colon: bool) -> bool {
    let ok = |c: char, first: bool| {
        c == '_' || (colon && c == ':') || c.is_ascii_alphabetic() || (!first && c.is_ascii_digit())
    };
    let mut chars = name.chars();
    chars.next().is_some_and(|c| ok(c, true)) && chars.all(|c| ok(c, false))
}

type Labels = Vec<(String, String)>;

/// `name{label="value",...}` → (name, labels); the value's escapes must be `\\`, `\"`, `\n`.
fn parse_series(series: &str) -> Result<(String, Labels), String> {
    let Some((name, rest)) = series.split_once('{') else {
        return Ok((series.to_string(), Vec::new()));
    };
    let mut labels = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        let label: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if !is_name(&label, false) || label.starts_with("__") {
            return Err(format!("bad label name {label:?}"));
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("label {label}: expected =\"..."));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => return Err(format!("bad escape \\{other:?}")),
                },
                Some('"') => break,
                Some('\n') | None => return Err(format!("unterminated value of {label}")),
                Some(c) => value.push(c),
            }
        }
        labels.push((label, value));
        match chars.next() {
            Some(',') => continue,
            Some('}') if chars.peek().is_none() => return Ok((name.to_string(), labels)),
            other => return Err(format!("after a label: {other:?}")),
        }
    }
}

/// Every line is `# HELP name text`, `# TYPE name kind`, or `series value`; TYPE comes once, before
/// its family's samples; sample names belong to their family (histograms: `_bucket` with `le`,
/// `_sum`, `_count`); histogram buckets are cumulative and `+Inf` equals `_count`.
fn check_exposition(text: &str) -> Result<(), String> {
    if !text.ends_with('\n') {
        return Err("does not end with a newline".into());
    }
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    // Per histogram series (labels without `le`): the last bucket value and the `+Inf` one.
    let mut buckets: BTreeMap<Labels, (f64, Option<f64>)> = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let fail = |why: String| Err(format!("line {}: {why}: {line:?}", n + 1));
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or_default();
            if !is_name(name, true) {
                return fail("bad HELP name".into());
            }
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let Some((name, kind)) = rest.split_once(' ') else {
                return fail("TYPE without a kind".into());
            };
            if !is_name(name, true)
                || !["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind)
            {
                return fail("bad TYPE".into());
            }
            if kinds.insert(name.into(), kind.into()).is_some() {
                return fail("second TYPE for the family".into());
            }
            current = Some((name.into(), kind.into()));
            buckets.clear();
        } else if line.starts_with('#') {
            continue; // a comment
        } else {
            let Some((series, value)) = line.rsplit_once(' ') else {
                return fail("no value".into());
            };
            let Some(value) = parse_value(value) else {
                return fail("bad value".into());
            };
            let (name, mut labels) =
                parse_series(series).map_err(|e| format!("line {}: {e}: {line:?}", n + 1))?;
            if !is_name(&name, true) {
                return fail("bad metric name".into());
            }
            let Some((family, kind)) = &current else {
                return fail("sample before any TYPE".into());
            };
            let suffix = name.strip_prefix(family.as_str());
            match (kind.as_str(), suffix) {
                ("histogram", Some("_bucket")) => {
                    let at = labels.iter().position(|(l, _)| l == "le");
                    let Some(le) = at.map(|i| labels.remove(i).1) else {
                        return fail("bucket without le".into());
                    };
                    let entry = buckets.entry(labels).or_insert((0.0, None));
                    if value < entry.0 {
                        return fail("buckets not cumulative".into());
                    }
                    entry.0 = value;
                    if le == "+Inf" {
                        entry.1 = Some(value);
                    }
                }
                ("histogram", Some("_count")) => {
                    if buckets.get(&labels).and_then(|b| b.1) != Some(value) {
                        return fail("_count differs from the +Inf bucket".into());
                    }
                }
                ("histogram", Some("_sum")) => {}
                (_, Some("")) if kind != "histogram" => {}
                _ => return fail(format!("sample outside its family {family}")),
            }
        }
    }
    Ok(())
}

#[test]
fn the_exposition_checker_can_fail() {
    let good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"q\\\"\"} 1\n";
    assert_eq!(check_exposition(good), Ok(()));
    for bad in [
        "a_total 1\n",
        "# TYPE a counter\na{x=\"unterminated} 1\n",
        "# TYPE a counter\na{x=\"bad \\t escape\"} 1\n",
        "# TYPE a counter\nb 1\n",
        "# TYPE a counter\na one\n",
        "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n",
        "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 3\n",
        "# TYPE a gauge\n# TYPE a gauge\n",
        "# TYPE a counter\na 1",
    ] {
        assert!(check_exposition(bad).is_err(), "accepted {bad:?}");
    }
}

fn now_secs() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn build_info(command: &str) -> String {
    format!(
        "eosflow_build_info{{command=\"{command}\",version=\"{}\"}}",
        env!("CARGO_PKG_VERSION")
    )
}

#[test]
fn process_metrics_count_records_rows_dead_letters_batches_and_lag() {
    let started = now_secs();
    let registry = Registry::start();
    let topic = unique("metrics");
    common::produce(&registry, &topic, 2, "metrics-a", 10, 20);
    // One poison record per partition, between good ones.
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let magic = BaseRecord::<str, [u8]>::to(&topic)
        .partition(0)
        .key("k-magic")
        .payload(&b"{\"not\": \"avro\"}"[..]);
    producer.send(magic).map_err(|(e, _)| e).expect("send");
    let empty = BaseRecord::<str, [u8]>::to(&topic)
        .partition(1)
        .key("k-empty");
    producer.send(empty).map_err(|(e, _)| e).expect("send");
    producer.flush(TIMEOUT).expect("flush");
    common::produce(&registry, &topic, 2, "metrics-b", 10, 20);
    // The scrape below waits for the rows; the batch holding a poison record is then committed
    // only if a good record follows it in its partition.
    let mut last_key = BTreeMap::new();
    read_topic(&KafkaSettings::new(bootstrap()), &topic, TIMEOUT, |r| {
        last_key.insert(r.partition, r.key.unwrap_or_default());
    })
    .expect("read topic");
    assert_eq!(last_key.len(), 2, "both partitions hold records");
    assert!(
        last_key.values().all(|k| !k.starts_with(b"k-")),
        "a user ends each partition"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("metrics.db").display());
    let job = Running::start(
        eosflow()
            .arg("process")
            .args(["--bootstrap", &bootstrap(), "--registry", &registry.url])
            .args(["--topic", &topic, "--sink", &sink])
            .args(["--group", &unique("metrics-group")])
            .args(["--batch-max", "7", "--batch-linger", "100ms"])
            .args(["--exit-when-idle", "300s"]),
    );
    let lag =
        |p: u32| format!("eosflow_process_consumer_lag{{topic=\"{topic}\",partition=\"{p}\"}}");
    let m = job.scrape_until("40 rows written and no lag", |s| {
        s.maybe("eosflow_process_rows_written_total") == Some(40.0)
            && s.maybe(&lag(0)) == Some(0.0)
            && s.maybe(&lag(1)) == Some(0.0)
    });

    assert_eq!(m.get("eosflow_process_records_consumed_total"), 42.0);
    assert_eq!(m.get("eosflow_process_records_redelivered_total"), 0.0);
    assert_eq!(m.get("eosflow_process_rows_written_total"), 40.0);
    let letters = "eosflow_process_dead_letters_total";
    assert_eq!(m.get(&format!("{letters}{{class=\"bad-magic\"}}")), 1.0);
    assert_eq!(m.get(&format!("{letters}{{class=\"empty-value\"}}")), 1.0);
    let dead: f64 = m
        .values
        .iter()
        .filter(|(k, _)| k.starts_with(letters))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(dead, 2.0, "no other class");
    let batches = m.get("eosflow_process_batches_committed_total");
    assert!(batches >= 6.0, "40 rows in batches of at most 7: {batches}");
    let latency = "eosflow_process_batch_commit_seconds";
    assert_eq!(m.get(&format!("{latency}_count")), batches);
    assert_eq!(m.get(&format!("{latency}_bucket{{le=\"+Inf\"}}")), batches);
    assert!(m.get(&format!("{latency}_sum")) > 0.0);
    assert_eq!(m.get("eosflow_process_assigned_partitions"), 2.0);
    assert!(m.get("eosflow_process_rebalances_total{kind=\"assign\"}") >= 1.0);
    assert_eq!(m.get(&build_info("process")), 1.0);
    // The Kubernetes probes (deploy/kubernetes): live and ready while the job runs.
    assert_eq!(job.probe("/healthz"), (200, "ok\n".to_string()));
    assert_eq!(job.probe("/readyz"), (200, "ready\n".to_string()));
    let start = m.get("eosflow_start_time_seconds");
    assert!(
        start >= started.floor() && start <= now_secs(),
        "start time {start} within the test ({started}..)"
    );

    let summary = job.terminate();
    assert!(
        summary.contains(&format!("processed 40 records in {batches} batches"))
            && summary.contains("2 dead-lettered"),
        "the summary agrees with the last scrape ({batches} batches): {summary}"
    );
}

#[test]
fn produce_metrics_count_transactions_on_a_mock_cluster() {
    let topic = "users";
    let broker = MockBroker::for_topic(topic);
    let registry = Registry::start();
    let source = RandomUserServer::start();
    // One page of 50 (the 50th user is invalid), then an hour's wait for the next page: the
    // scrape sees the finished transaction, SIGTERM ends the wait.
    let job = Running::start(
        eosflow()
            .args(["produce", "--bootstrap", &broker.bootstrap])
            .args(["--registry", &registry.url, "--topic", topic])
            .args(["--source", &source.url, "--seed", "metrics"])
            .args(["--transactional-id", &unique("metrics-txn")])
            .args(["--page-size", "50", "--count", "100", "--every", "1h"]),
    );
    let m = job.scrape_until("one transaction committed", |s| {
        s.maybe("eosflow_produce_transactions_committed_total") == Some(1.0)
    });
    for (series, want) in [
        ("eosflow_produce_transactions_committed_total", 1.0),
        ("eosflow_produce_transaction_commit_seconds_count", 1.0),
        (
            "eosflow_produce_transaction_commit_seconds_bucket{le=\"+Inf\"}",
            1.0,
        ),
        ("eosflow_produce_transaction_aborts_total", 0.0),
        ("eosflow_produce_chunk_retries_total", 0.0),
        ("eosflow_produce_chunks_total", 1.0),
        ("eosflow_produce_pages_total", 1.0),
        ("eosflow_produce_users_total", 50.0),
        ("eosflow_produce_users_replayed_total", 0.0),
        ("eosflow_produce_rejects_total", 1.0),
    ] {
        assert_eq!(m.get(series), want, "{series}\n{}", m.text);
    }
    assert_eq!(m.get(&build_info("produce")), 1.0);
    // The status page's data agrees: the transaction closed, the cursor at the next page.
    let (code, json) = job.probe("/status.json");
    assert_eq!(code, 200, "{json}");
    let status: serde_json::Value = serde_json::from_str(&json).expect("json");
    let producer = &status["producer"];
    assert_eq!(status["command"], "produce", "{json}");
    assert_eq!(producer["delivery"], "transactional", "{json}");
    assert_eq!(producer["transaction"], "idle", "{json}");
    assert_eq!(
        (&producer["committed"], &producer["aborted"]),
        (&1.into(), &0.into())
    );
    assert_eq!(producer["cursor"]["page"], 2, "{json}");
    assert_eq!(producer["cursor"]["index"], 0, "{json}");
    assert!(producer["last_commit_ms"].as_u64().is_some(), "{json}");
    assert_eq!(status["rates"]["records_total"], 50, "{json}");
    assert_eq!(status["rates"]["records_unit"], "users", "{json}");
    // Waiting for its next `--every` tick, the producer is live (it beats while it waits) and
    // ready.
    assert_eq!(job.probe("/healthz").0, 200);
    assert_eq!(job.probe("/readyz").0, 200);
    let summary = job.terminate();
    assert!(
        summary.contains("produced 50 users in 1 chunks") && summary.contains("1 rejected"),
        "{summary}"
    );
}

#[test]
fn a_bad_metrics_address_is_refused_naming_where_it_came_from() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("m.db").display());
    let stderr = |cmd: &mut Command| {
        let out = run_expect(cmd, 2);
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let flag = stderr(
        eosflow()
            .args(["process", "--sink", &sink])
            .args(["--metrics-listen", "localhost"]),
    );
    assert!(
        flag.contains("--metrics-listen")
            && flag.contains("\"localhost\"")
            && flag.contains("IP:PORT"),
        "{flag}"
    );
    let env = stderr(
        eosflow()
            .args(["produce"])
            .env("EOSFLOW_METRICS_LISTEN", "1.2.3.4:notaport"),
    );
    assert!(
        env.contains("EOSFLOW_METRICS_LISTEN") && env.contains("1.2.3.4:notaport"),
        "{env}"
    );
    let config = dir.path().join("eosflow.toml");
    std::fs::write(&config, "[metrics]\nlisten = \"9464\"\n").expect("write config");
    let file = stderr(
        eosflow()
            .arg("--config")
            .arg(&config)
            .args(["process", "--sink", &sink]),
    );
    assert!(
        file.contains("metrics.listen") && file.contains("\"9464\""),
        "{file}"
    );
    // An address already taken: refused before any work, naming the flag and the address.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let busy = stderr(
        eosflow()
            .args(["produce", "--metrics-listen", &addr])
            .args(["--bootstrap", "127.0.0.1:1", "--timeout", "1s"]),
    );
    assert!(
        busy.contains(&format!(
            "cannot listen on {addr} for metrics (--metrics-listen)"
        )),
        "{busy}"
    );
}
