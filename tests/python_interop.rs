//! An independent client reads our topic: Python confluent-kafka's Consumer + AvroDeserializer
//! with SchemaRegistryClient against eosflow's registry decode every record eosflow produced, and
//! recompute every Kafka key as UUIDv5 of the identity — the wire format, the registry API and the
//! key derivation checked by code that shares nothing with ours.

mod common;

use common::{bootstrap, unique, Registry};

#[test]
fn python_confluent_kafka_decodes_every_record_and_agrees_on_every_key() {
    let registry = Registry::start();
    let topic = unique("py");
    common::produce(&registry, &topic, 3, "python", 250, 1000);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/read_topic.py");
    let out = std::process::Command::new("python3")
        .args([script, &bootstrap(), &registry.url, &topic])
        .output()
        .expect("python3 runs (scripts/test-env installs confluent-kafka)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "python reader failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON summary");
    assert_eq!(
        summary,
        serde_json::json!({
            "records": 1000, "distinct_keys": 1000, "key_mismatches": 0, "incomplete": 0,
            "schema_ids": [1], "unfinished_partitions": []
        })
    );
}
