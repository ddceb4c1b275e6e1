//! `eosflow doctor` black-box: Apache Kafka (transactions supported), MockCluster
//! (transactions advertised), the registry's subject and level, SQLite and PostgreSQL tables,
//! unreachable services, invalid configuration, and passwords that never show.

mod common;

use std::process::{Command, Output};

use common::mock_broker::MockBroker;
use common::{bootstrap, eosflow, postgres_url, produce, run_expect, unique, Registry};
use eosflow::registry::server::{BasicAuth, RegistryServer};

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// A SQLite sink URL whose tables exist (as `eosflow process` leaves them).
fn sqlite_with_tables(dir: &tempfile::TempDir) -> String {
    let url = format!("sqlite://{}", dir.path().join("sink.db").display());
    let mut sink = eosflow::sink::open(&url, "users").expect("open sqlite");
    sink.ensure_schema().expect("create tables");
    url
}

fn doctor(args: &[&str]) -> Command {
    let mut cmd = eosflow();
    cmd.arg("doctor").args(args);
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The stdout line of `check` (and `target`), e.g. `line(&out, "topic users:")`.
fn line(out: &str, start: &str) -> String {
    out.lines()
        .find(|l| {
            l.get(l.find(' ').map_or(0, |i| i + 1)..)
                .is_some_and(|rest| rest.starts_with(start))
        })
        .unwrap_or_else(|| panic!("no line for {start:?} in:\n{out}"))
        .to_string()
}

fn assert_line(out: &str, symbol: &str, start: &str, needles: &[&str]) {
    let l = line(out, start);
    assert!(
        l.starts_with(symbol),
        "expected {symbol} for {start:?}: {l}\n{out}"
    );
    for n in needles {
        assert!(l.contains(n), "expected {n:?} in {l:?}\n{out}");
    }
}

#[test]
fn kafka_broker_transactions_topics_registry_and_sink_pass() {
    let registry = Registry::start();
    let topic = unique("doctor_kafka");
    produce(&registry, &topic, 3, "doctor", 10, 10);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = sqlite_with_tables(&dir);
    let args = [
        "--bootstrap",
        &bootstrap(),
        "--registry",
        &registry.url,
        "--topic",
        &topic,
        "--sink",
        &sink,
        "--timeout",
        "5s",
    ];
    let out = text(&run_expect(&mut doctor(&args), 0));
    assert_line(&out, "✔", "transactions:", &["supported", "EndTxn v0-"]);
    assert_line(
        &out,
        "✔",
        &format!("broker {}:", bootstrap()),
        &["1 broker"],
    );
    assert_line(&out, "✔", &format!("topic {topic}:"), &["3 partitions"]);
    assert_line(
        &out,
        "✔",
        &format!("topic {topic}.progress:"),
        &["1 partition"],
    );
    assert_line(
        &out,
        "⚠",
        &format!("topic {topic}.dlq:"),
        &["missing", "eosflow process"],
    );
    assert_line(&out, "✔", "registry ", &[&registry.url, "reachable"]);
    assert_line(
        &out,
        "✔",
        &format!("subject {topic}-value:"),
        &["version 1", "schema id"],
    );
    assert_line(
        &out,
        "✔",
        &format!("compatibility {topic}-value:"),
        &["BACKWARD", "global"],
    );
    assert_line(
        &out,
        "✔",
        "sink ",
        &["tables users and users_offsets present"],
    );
    assert_line(
        &out,
        "✔",
        "kafka ",
        &[
            "Apache Kafka 4.4 (metadata.version 4.4-IV",
            "transaction.version 2",
            "consumer group protocol (KIP-848",
        ],
    );
    // The shared test broker is one node: doctor says what that risks.
    assert_line(
        &out,
        "⚠",
        &format!("durability {topic}:"),
        &[
            "replication 1, min.insync.replicas 1, unclean leader election off",
            "1 broker(s)",
        ],
    );
    assert!(
        out.contains("doctor: 9 ok, 2 warning(s), 0 failed, 0 not checked"),
        "{out}"
    );

    // The JSON form says the same.
    let mut json = doctor(&args);
    json.arg("--json");
    let out = run_expect(&mut json, 0);
    let checks: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let txn = &checks[1];
    assert_eq!(txn["check"], "transactions", "{checks}");
    assert_eq!((&txn["ok"], &txn["status"]), (&true.into(), &"pass".into()));
    assert_eq!(checks.as_array().map(Vec::len), Some(11), "{checks}");
    assert!(checks
        .as_array()
        .into_iter()
        .flatten()
        .all(|c| c["ok"] == true || c["fix"].is_string()));
}

#[test]
fn mock_cluster_advertises_transactions() {
    let topic = unique("doctor_mock");
    let broker = MockBroker::for_topic(&topic);
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = sqlite_with_tables(&dir);
    let out = run_expect(
        &mut doctor(&[
            "--bootstrap",
            &broker.bootstrap,
            "--registry",
            &registry.url,
            "--topic",
            &topic,
            "--sink",
            &sink,
        ]),
        0,
    );
    let out = text(&out);
    assert_line(
        &out,
        "✔",
        "transactions:",
        &[
            "supported",
            "InitProducerId",
            "AddPartitionsToTxn",
            "AddOffsetsToTxn",
            "EndTxn",
            "TxnOffsetCommit",
            "MockCluster",
        ],
    );
    assert_line(&out, "✔", &format!("topic {topic}:"), &["4 partitions"]);
    assert_line(&out, "✔", &format!("topic {topic}.dlq:"), &["1 partition"]);
    assert_line(
        &out,
        "⚠",
        &format!("subject {topic}-value:"),
        &["not registered", "eosflow produce"],
    );
}

#[test]
fn missing_topic_and_compatibility_none() {
    let registry = Registry::start();
    let topic = unique("doctor_missing");
    let subject = format!("{topic}-value");
    // A subject with its own level NONE (registered by hand, no topic on the broker).
    let client = reqwest::blocking::Client::new();
    let schema = serde_json::json!({"schema": "\"string\""});
    let put = client
        .post(format!("{}/subjects/{subject}/versions", registry.url))
        .json(&schema)
        .send()
        .expect("register");
    assert!(put.status().is_success(), "{:?}", put.text());
    let put = client
        .put(format!("{}/config/{subject}", registry.url))
        .json(&serde_json::json!({"compatibility": "NONE"}))
        .send()
        .expect("config");
    assert!(put.status().is_success(), "{:?}", put.text());
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = sqlite_with_tables(&dir);
    let out = run_expect(
        doctor(&[
            "--bootstrap",
            &bootstrap(),
            "--registry",
            &registry.url,
            "--topic",
            &topic,
        ])
        .args(["--sink", &sink, "--delivery", "idempotent"]),
        1,
    );
    let out = text(&out);
    assert_line(
        &out,
        "✘",
        &format!("topic {topic}:"),
        &["missing", "--partitions N"],
    );
    assert_line(&out, "✔", &format!("subject {subject}:"), &["version 1"]);
    assert_line(
        &out,
        "⚠",
        &format!("compatibility {subject}:"),
        &["NONE", "subject's own", "PUT /config/"],
    );
}

#[test]
fn sqlite_file_and_tables() {
    let broker = MockBroker::start(&[("users", 1)]);
    let registry = Registry::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("missing.db");
    let url = format!("sqlite://{}", path.display());
    let run = |url: &str, table: &str, code: i32| {
        text(&run_expect(
            doctor(&[
                "--bootstrap",
                &broker.bootstrap,
                "--registry",
                &registry.url,
            ])
            .args(["--sink", url, "--table", table]),
            code,
        ))
    };
    let out = run(&url, "users", 1);
    assert_line(&out, "✘", "sink ", &["does not exist", "eosflow process"]);
    assert!(!path.exists(), "doctor created {}", path.display());
    let url = sqlite_with_tables(&dir);
    let out = run(&url, "people", 1);
    assert_line(
        &out,
        "✘",
        "sink ",
        &["tables people and people_offsets missing", "--table"],
    );
    let out = run(&url, "users", 0);
    assert_line(
        &out,
        "✔",
        "sink ",
        &["tables users and users_offsets present"],
    );
}

#[test]
fn postgres_tables() {
    let broker = MockBroker::start(&[("users", 1)]);
    let registry = Registry::start();
    let url = postgres_url();
    let table = unique("doctor_pg");
    let run = |code: i32| {
        text(&run_expect(
            doctor(&[
                "--bootstrap",
                &broker.bootstrap,
                "--registry",
                &registry.url,
            ])
            .args(["--sink", &url, "--table", &table]),
            code,
        ))
    };
    let out = run(1);
    // (The test database's password is "eosflow": every "eosflow" in the output reads "***".)
    assert_line(
        &out,
        "✘",
        "sink postgres://",
        &[&format!("{table}_offsets missing"), "process` once"],
    );
    let mut sink = eosflow::sink::open(&url, &table).expect("connect");
    sink.ensure_schema().expect("create tables");
    drop(sink);
    let out = run(0);
    assert_line(
        &out,
        "✔",
        "sink postgres://",
        &[&format!("tables {table} and {table}_offsets present")],
    );
    let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!("DROP TABLE {table}; DROP TABLE {table}_offsets"))
        .expect("drop");
}

#[test]
fn unreachable_services_fail_with_a_fix() {
    let (kafka, registry, pg) = (closed_port(), closed_port(), closed_port());
    let out = run_expect(
        doctor(&[
            "--bootstrap",
            &format!("127.0.0.1:{kafka}"),
            "--timeout",
            "1s",
        ])
        .args(["--registry", &format!("http://127.0.0.1:{registry}")])
        .args(["--sink", &format!("postgres://eosflow:x@127.0.0.1:{pg}/db")]),
        1,
    );
    let out = text(&out);
    assert_line(
        &out,
        "✘",
        &format!("broker 127.0.0.1:{kafka}:"),
        &["— start the broker or fix --bootstrap"],
    );
    assert_line(&out, "-", "transactions:", &["not checked"]);
    assert_line(
        &out,
        "✘",
        &format!("registry http://127.0.0.1:{registry}:"),
        &["refused", "— start the registry"],
    );
    assert_line(&out, "-", "subject users-value:", &["not checked"]);
    assert_line(
        &out,
        "✘",
        &format!("sink postgres://eosflow@127.0.0.1:{pg}/db:"),
        &["cannot connect", "— start the database or fix --sink"],
    );
    assert!(
        out.contains("doctor: 0 ok, 0 warning(s), 3 failed, 6 not checked"),
        "{out}"
    );
}

/// The test broker speaks no SASL: ApiVersions (before authentication) answers, Metadata does not, and
/// doctor points at the security settings rather than at the address.
#[test]
fn a_broker_that_refuses_the_client_is_told_from_one_that_is_not_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = sqlite_with_tables(&dir);
    let out = run_expect(
        doctor(&[
            "--bootstrap",
            &bootstrap(),
            "--timeout",
            "2s",
            "--sink",
            &sink,
        ])
        .args(["--registry", &format!("http://127.0.0.1:{}", closed_port())])
        .args(["--kafka-property", "security.protocol=SASL_PLAINTEXT"])
        .args(["--kafka-property", "sasl.mechanisms=PLAIN"])
        .args(["--kafka-property", "sasl.username=doctor"])
        .args(["--kafka-property", "sasl.password=Sasl-Doctor-Pw"]),
        1,
    );
    let out = text(&out);
    assert_line(
        &out,
        "✘",
        &format!("broker {}:", bootstrap()),
        &[
            "answers ApiVersions but no metadata",
            "— check the security settings",
        ],
    );
    assert!(!out.contains("Sasl-Doctor-Pw"), "{out}");
}

#[test]
fn passwords_never_show() {
    let broker = MockBroker::start(&[("users", 1)]);
    let wrong = "Doctor-Wrong-Pw-1";
    let pg = postgres_url();
    let (scheme_user, host) = pg
        .rsplit_once('@')
        .map(|(userinfo, host)| (userinfo.rsplit_once(':').map_or(userinfo, |(u, _)| u), host))
        .expect("postgres URL with userinfo");
    let sink = format!("{scheme_user}:{wrong}@{host}");
    let registry = format!("http://me:Registry-Pw-2@127.0.0.1:{}", closed_port());
    for json in [false, true] {
        let mut cmd = doctor(&[
            "--bootstrap",
            &broker.bootstrap,
            "--registry",
            &registry,
            "--sink",
            &sink,
        ]);
        if json {
            cmd.arg("--json");
        }
        let out = text(&run_expect(&mut cmd, 1));
        assert!(out.contains("password authentication failed"), "{out}");
        for secret in [wrong, "Registry-Pw-2"] {
            assert!(!out.contains(secret), "{secret} shown:\n{out}");
        }
    }
    // The password given apart from the URL (EOSFLOW_SINK_PASSWORD) does not show either.
    let out = run_expect(
        doctor(&[
            "--bootstrap",
            &broker.bootstrap,
            "--sink",
            scheme_user_host(&sink).as_str(),
        ])
        .env("EOSFLOW_SINK_PASSWORD", wrong),
        1,
    );
    let out = text(&out);
    assert!(out.contains("password authentication failed"), "{out}");
    assert!(!out.contains(wrong), "{out}");
}

/// `postgres://USER:PASS@HOST/DB` → `postgres://USER@HOST/DB`.
fn scheme_user_host(url: &str) -> String {
    let (userinfo, host) = url.rsplit_once('@').expect("userinfo");
    let user = userinfo.rsplit_once(':').map_or(userinfo, |(u, _)| u);
    format!("{user}@{host}")
}

#[test]
fn registry_credentials() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let auth = BasicAuth::parse("doctor:Right-Registry-Pw").expect("auth");
    let server = runtime
        .block_on(RegistryServer::start_with(
            ([127, 0, 0, 1], 0).into(),
            None,
            Some(auth),
        ))
        .expect("registry");
    let url = server.url();
    let broker = MockBroker::start(&[("users", 1)]);
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = sqlite_with_tables(&dir);
    let run = |registry: &str, code: i32, env: &[(&str, &str)]| {
        let mut cmd = doctor(&["--bootstrap", &broker.bootstrap, "--registry", registry]);
        cmd.args(["--sink", &sink]);
        cmd.envs(env.iter().copied());
        text(&run_expect(&mut cmd, code))
    };
    let out = run(&url, 1, &[]);
    assert_line(&out, "✘", "registry ", &["401", "--registry-username"]);
    let with_password = url.replacen("http://", "http://doctor:Right-Registry-Pw@", 1);
    let out = run(&with_password, 0, &[]);
    assert_line(&out, "✔", "registry ", &["reachable"]);
    assert!(!out.contains("Right-Registry-Pw"), "{out}");
    let out = run(
        &url,
        0,
        &[
            ("EOSFLOW_REGISTRY_USERNAME", "doctor"),
            ("EOSFLOW_REGISTRY_PASSWORD", "Right-Registry-Pw"),
        ],
    );
    assert_line(&out, "✔", "registry ", &["reachable"]);
    assert_line(&out, "✔", "compatibility users-value:", &["BACKWARD"]);
    runtime.block_on(server.stop());
}

#[test]
fn invalid_configuration_exits_2() {
    let cases: [(&[&str], &str); 4] = [
        (&["--sink", "mysql://h/db"], "unknown scheme"),
        (&["--registry", "ftp://h"], "http://"),
        (&["--timeout", "soon"], "--timeout"),
        (
            &["--kafka-property", "security.protocol=carrier-pigeon"],
            "carrier-pigeon",
        ),
    ];
    for (args, needle) in cases {
        let out = text(&run_expect(&mut doctor(args), 2));
        assert!(
            out.contains(needle),
            "{args:?}: expected {needle:?} in\n{out}"
        );
    }
}
