//! Bad input gets a clear error naming what and where, a non-zero exit, and loses nothing.

mod common;

use std::time::Duration;

use common::{bootstrap, eosflow, run_expect, unique, Registry};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

fn stderr_of(cmd: &mut std::process::Command, code: i32) -> String {
    String::from_utf8_lossy(&run_expect(cmd, code).stderr).into_owned()
}

fn assert_mentions(text: &str, needles: &[&str]) {
    for n in needles {
        assert!(text.contains(n), "expected {n:?} in:\n{text}");
    }
}

#[test]
fn unreachable_broker_is_named() {
    let err = stderr_of(
        eosflow().args([
            "produce",
            "--bootstrap",
            "127.0.0.1:1",
            "--timeout",
            "2s",
            "--count",
            "1",
        ]),
        2,
    );
    assert_mentions(
        &err,
        &["127.0.0.1:1", "connection refused", "is the broker running"],
    );
}

#[test]
fn unreachable_registry_is_named() {
    let err = stderr_of(
        eosflow()
            .args([
                "produce",
                "--bootstrap",
                &bootstrap(),
                "--registry",
                "http://127.0.0.1:1",
            ])
            .args(["--topic", &unique("noreg"), "--count", "1"]),
        2,
    );
    assert_mentions(&err, &["http://127.0.0.1:1", "schema registry"]);
}

#[test]
fn unknown_topic_is_named_for_process_and_verify() {
    let topic = unique("missing");
    for sub in ["process", "verify"] {
        let err = stderr_of(
            eosflow()
                .args([
                    sub,
                    "--bootstrap",
                    &bootstrap(),
                    "--topic",
                    &topic,
                    "--timeout",
                    "5s",
                ])
                .args(["--sink", "sqlite:///tmp/eosflow-bad-input-unused.db"]),
            2,
        );
        assert_mentions(&err, &[&topic, "does not exist"]);
    }
}

#[test]
fn unreachable_database_is_named_without_its_password() {
    let err = stderr_of(
        eosflow().args([
            "process",
            "--sink",
            "postgres://eosflow:hunter2@127.0.0.1:1/nowhere",
        ]),
        2,
    );
    assert_mentions(
        &err,
        &["postgres://eosflow@127.0.0.1:1/nowhere", "cannot connect"],
    );
    assert!(!err.contains("hunter2"), "password leaked: {err}");
}

#[test]
fn bad_sink_scheme_config_file_and_flag_values_are_named() {
    let err = stderr_of(eosflow().args(["verify", "--sink", "mysql://h/db"]), 2);
    assert_mentions(&err, &["mysql://h/db", "sqlite://", "postgres://"]);

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("eosflow.toml");
    std::fs::write(&bad, "[kafka]\nbootstrap = 9092\n").expect("write");
    let err = stderr_of(
        eosflow().args(["--config", bad.to_str().expect("utf8"), "verify"]),
        2,
    );
    assert_mentions(&err, &["eosflow.toml", "bootstrap"]);

    let err = stderr_of(
        eosflow().args(["process", "--exit-when-idle", "5 parsecs"]),
        2,
    );
    assert_mentions(&err, &["--exit-when-idle", "5 parsecs"]);

    let err = stderr_of(
        eosflow().args(["produce", "--kafka-property", "novalue"]),
        2,
    );
    assert_mentions(&err, &["novalue", "key=value"]);
}

/// With `--no-dlq`, a record that is not Confluent-framed Avro stops the processor with its offset
/// named; the good
/// records before it are committed, the poison record is not (a restart meets it again).
#[test]
fn a_poison_record_stops_the_processor_with_its_offset_named() {
    let registry = Registry::start();
    let topic = unique("poison");
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("poison.db").display());
    common::produce(&registry, &topic, 1, "poison", 20, 20);
    // Where the poison record lands: after the 20 users and their transaction's commit marker.
    let poison_at = format!("{topic}/0@{}", common::end_offset(&topic, 0));
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    producer
        .send(
            BaseRecord::to(&topic)
                .key("bad")
                .payload(&b"{\"not\": \"avro\"}"[..]),
        )
        .map_err(|(e, _)| e)
        .expect("send");
    producer.flush(Duration::from_secs(10)).expect("flush");

    let process = || {
        stderr_of(
            eosflow()
                .args([
                    "process",
                    "--bootstrap",
                    &bootstrap(),
                    "--registry",
                    &registry.url,
                ])
                .args(["--topic", &topic, "--sink", &sink, "--exit-when-idle", "3s"])
                .args(["--group", "poison", "--no-dlq"]),
            2,
        )
    };
    let err = process();
    assert_mentions(&err, &[&poison_at, "bad magic byte 0x7b"]);
    let mut s = eosflow::sink::open(&sink, "users").expect("sink");
    assert_eq!(
        s.id_counts().expect("ids").len(),
        20,
        "the good records before it landed"
    );
    assert_eq!(
        s.load_offsets("poison", &topic).expect("offsets").get(&0),
        Some(&20)
    );
    // Nothing skipped it silently: a restart stops on the same record again.
    assert_mentions(&process(), &[&poison_at]);
}
