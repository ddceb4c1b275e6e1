//! A poison-record table: one record of each bad-input class between good records. Each ends in
//! `<topic>.dlq` with its key and value untouched and headers naming the class and where it was
//! read; the good records still land; `verify` accounts for every record.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use common::{bootstrap, eosflow, run_ok, stdout, unique, Registry};
use eosflow::avro::{encode_user, frame, newest_user_schema};
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::KafkaSettings;
use eosflow::registry::client::RegistryClient;
use eosflow::source::generator::generate_user;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

const TIMEOUT: Duration = Duration::from_secs(20);

/// (class, key, value) of each poison record.
fn poison_table(registry: &Registry, topic: &str) -> Vec<(&'static str, String, Option<Vec<u8>>)> {
    let client = RegistryClient::new(&registry.url, TIMEOUT).expect("client");
    let rt = &registry.runtime;
    let user_schema = Schema::parse_str(newest_user_schema().text).expect("schema");
    let user_id = rt
        .block_on(client.register(&format!("{topic}-value"), newest_user_schema().text))
        .expect("register user");
    let other = r#"{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}"#;
    let other_id = rt
        .block_on(client.register("other-value", other))
        .expect("register other");
    let other_body = GenericDatumWriter::builder(&Schema::parse_str(other).expect("other"))
        .build()
        .and_then(|w| w.write_value_to_vec(Value::Record(vec![("x".into(), Value::Int(5))])))
        .expect("other body");
    let good = encode_user(&user_schema, &generate_user("dlq", 9, 0, "generator")).expect("encode");
    let mut bad_user = generate_user("dlq", 9, 1, "generator");
    bad_user.email = "nope".into();
    let bad_user = encode_user(&user_schema, &bad_user).expect("encode");
    vec![
        (
            "bad-magic",
            "k-magic".into(),
            Some(b"{\"not\": \"avro\"}".to_vec()),
        ),
        ("empty-value", "k-empty".into(), None),
        ("truncated-header", "k-short".into(), Some(vec![0, 0, 1])),
        (
            "unknown-schema-id",
            "k-unknown".into(),
            Some(frame(999_999, &good)),
        ),
        (
            "corrupt-avro",
            "k-corrupt".into(),
            Some(frame(user_id, &good[..good.len() / 2])),
        ),
        (
            "schema-mismatch",
            "k-mismatch".into(),
            Some(frame(other_id, &other_body)),
        ),
        (
            "invalid-user",
            "k-invalid".into(),
            Some(frame(user_id, &bad_user)),
        ),
    ]
}

#[test]
fn every_poison_class_ends_in_the_dlq_and_good_records_still_land() {
    let registry = Registry::start();
    let topic = unique("dlq");
    common::produce(&registry, &topic, 1, "dlq-a", 20, 20);
    // The poison records follow the 20 users and their transaction's commit marker.
    let first_poison = common::end_offset(&topic, 0);
    let table = poison_table(&registry, &topic);
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    for (_, key, value) in &table {
        let mut record = BaseRecord::<str, [u8]>::to(&topic).key(key.as_str());
        if let Some(v) = value {
            record = record.payload(v.as_slice());
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(TIMEOUT).expect("flush");
    common::produce(&registry, &topic, 1, "dlq-b", 20, 20);

    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("dlq.db").display());
    let args = [
        "--bootstrap",
        &bootstrap(),
        "--registry",
        &registry.url,
        "--topic",
        &topic,
        "--sink",
        &sink,
    ];
    let out = run_ok(eosflow().arg("process").args(args).args([
        "--exit-when-idle",
        "3s",
        "--group",
        &unique("group"),
    ]));
    assert!(
        stdout(&out).contains("processed 40 records") && stdout(&out).contains("7 dead-lettered"),
        "{}",
        stdout(&out)
    );

    let mut letters: BTreeMap<String, (String, Option<Vec<u8>>, i64)> = BTreeMap::new();
    read_topic(
        &KafkaSettings::new(bootstrap()),
        &format!("{topic}.dlq"),
        TIMEOUT,
        |r| {
            let letter_key = String::from_utf8(r.key.clone().unwrap_or_default()).expect("key");
            assert_eq!(
                r.header("eosflow.source.topic").as_deref(),
                Some(topic.as_str())
            );
            assert!(r
                .header("eosflow.error.message")
                .is_some_and(|m| !m.is_empty()));
            assert!(r
                .header("eosflow.time")
                .and_then(|t| t.parse::<u128>().ok())
                .is_some());
            let offset: i64 = r
                .header("eosflow.source.offset")
                .and_then(|o| o.parse().ok())
                .expect("offset");
            let partition = r.header("eosflow.source.partition").unwrap_or_default();
            // Keyed by the source position, so a repeated letter replaces the first.
            assert_eq!(letter_key, format!("{topic}/{partition}@{offset}"));
            // The record's own key and (null) value are kept in headers.
            let key = r.header("eosflow.source.key").expect("the original key");
            let value = match r.header("eosflow.source.value").as_deref() {
                Some("null") => {
                    assert_eq!(r.value.as_deref(), Some(&b""[..]), "never a tombstone");
                    None
                }
                _ => r.value.clone(),
            };
            letters.insert(
                key,
                (
                    r.header("eosflow.error.class").unwrap_or_default(),
                    value,
                    offset,
                ),
            );
        },
    )
    .expect("read dlq");
    assert_eq!(letters.len(), table.len(), "{letters:?}");
    for (i, (class, key, value)) in table.iter().enumerate() {
        let (got_class, got_value, offset) = &letters[key];
        assert_eq!(got_class, class, "class of {key}");
        assert_eq!(got_value, value, "value of {key} untouched");
        assert_eq!(*offset, first_poison + i as i64, "source offset of {key}");
    }

    let out = run_ok(eosflow().arg("verify").args(args).arg("--json"));
    let report: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert_eq!(
        report,
        // The second run's seed differs: its progress (the producer's only record) covers its 20.
        serde_json::json!({"expected": 40, "present": 40, "missing": 0, "lost": 0, "duplicates": 0, "extra": 0, "dead_letters": 7, "committed": 20})
    );
}
