//! The transactional producer path, driven against librdkafka's MockCluster with fault injection:
//! commits happen, an aborted chunk is retried, and the retry carries identical keys and values.
//! (MockCluster shows aborted records to read_committed readers — GROUND.md — which lets this
//! test see both the aborted attempt and the retry.)

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use eosflow::avro::{decode_user, newest_user_schema, unframe};
use eosflow::kafka::mock::DemoBroker;
use eosflow::kafka::producer::{Delivery, DeliveryMode, OutRecord, PageProducer};
use eosflow::kafka::progress::SideTopics;
use eosflow::kafka::reader::read_topic;
use eosflow::kafka::KafkaSettings;
use eosflow::pipeline::produce::{self, ProduceJob};
use eosflow::pipeline::Shutdown;
use eosflow::registry::client::RegistryClient;
use eosflow::source::generator::{generate_user, Generator};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const TIMEOUT: Duration = Duration::from_secs(20);

fn job(broker: &DemoBroker, topic: &str, count: u64) -> ProduceJob {
    let side = SideTopics::for_topic(topic);
    broker
        .create_topic(&side.rejects, 1)
        .expect("rejects topic");
    broker
        .create_topic(&side.progress, 1)
        .expect("progress topic");
    let id = common::unique("txn");
    ProduceJob {
        kafka: KafkaSettings::new(broker.bootstrap()),
        topic: topic.into(),
        side,
        delivery: DeliveryMode::transactional(id.clone()),
        producer_id: id,
        seed: "mock".into(),
        start_page: 1,
        page_size: 50,
        count: Some(count),
        last_page: None,
        run_for: None,
        every: None,
        create_partitions: None,
        schema_version: None,
        faults: eosflow::pipeline::faults::Faults::none(),
        timeout: TIMEOUT,
    }
}

/// Every record of the topic: key → the set of distinct values seen for it, and the total count.
fn topic_contents(bootstrap: &str, topic: &str) -> (BTreeMap<String, BTreeSet<Vec<u8>>>, u64) {
    let mut by_key: BTreeMap<String, BTreeSet<Vec<u8>>> = BTreeMap::new();
    let n = read_topic(&KafkaSettings::new(bootstrap), topic, TIMEOUT, |r| {
        let key = String::from_utf8(r.key.unwrap_or_default()).expect("utf8 key");
        by_key
            .entry(key)
            .or_default()
            .insert(r.value.unwrap_or_default());
    })
    .expect("read topic");
    (by_key, n)
}

#[test]
fn commits_and_an_aborted_chunk_is_retried_with_identical_records() {
    let _ = tracing_subscriber::fmt()
        .with_test_writer()
        .with_env_filter("warn")
        .try_init();
    let broker = DemoBroker::start(1).expect("mock cluster");
    let topic = "users";
    broker.create_topic(topic, 4).expect("topic");
    let registry = common::Registry::start();
    let client = RegistryClient::new(&registry.url, TIMEOUT).expect("client");

    // Every Produce request of the next attempt fails with a non-retriable error: librdkafka
    // reports failed deliveries and puts the transaction in the abortable state.
    broker.cluster().request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE; 4],
    );
    let j = job(&broker, topic, 200);
    let summary = produce::run(
        &j,
        &mut Generator::new(),
        &client,
        registry.runtime.handle(),
        &Shutdown::new(),
    )
    .expect("produce succeeds after retrying");
    assert_eq!(summary.users, 200);
    assert_eq!(summary.stats.chunks, 4, "one transaction per page of 50");
    assert!(
        summary.stats.aborts >= 1,
        "the injected failure aborted a transaction: {:?}",
        summary.stats
    );

    let (by_key, total) = topic_contents(broker.bootstrap(), topic);
    let expected: BTreeSet<String> = (0..4u64)
        .flat_map(|p| {
            (0..50u32).map(move |i| {
                generate_user("mock", p + 1, i, "generator")
                    .key()
                    .to_string()
            })
        })
        .collect();
    let keys: BTreeSet<String> = by_key.keys().cloned().collect();
    assert_eq!(
        keys, expected,
        "exactly the users of the 4 pages, by UUIDv5 key"
    );
    for (key, values) in &by_key {
        assert_eq!(
            values.len(),
            1,
            "key {key}: every attempt wrote the identical value"
        );
    }
    assert!(total >= 200, "read {total} records");

    // The values decode to the users the key names.
    let schema = apache_avro::Schema::parse_str(newest_user_schema().text).expect("schema");
    for (key, values) in by_key.iter().take(20) {
        let value = values.iter().next().expect("value");
        let (_, body) = unframe(value).expect("framed");
        let user = decode_user(&schema, &schema, body).expect("decodes");
        assert_eq!(&user.key().to_string(), key);
    }
}

#[test]
fn a_commit_failure_that_needs_abort_is_retried_and_a_plain_chunk_commits() {
    let broker = DemoBroker::start(1).expect("mock cluster");
    let topic = "users";
    broker.create_topic(topic, 2).expect("topic");
    let mut producer = PageProducer::new(
        &KafkaSettings::new(broker.bootstrap()),
        DeliveryMode::transactional(common::unique("txn")),
        TIMEOUT,
    )
    .expect("init_transactions on the mock");
    let chunk = Delivery {
        records: (0..10)
            .map(|i| OutRecord::new(topic, format!("k{i}"), vec![0, 0, 0, 0, 1, i]))
            .collect(),
        progress: None,
    };
    producer.deliver(&chunk, (1, 0, 10)).expect("plain commit");
    assert_eq!(producer.stats().aborts, 0);

    // EndTxn answered with an abortable error once: the chunk is aborted and sent again.
    broker.cluster().request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_TXN_STATE],
    );
    producer.deliver(&chunk, (2, 0, 10)).expect("retried");
    let stats = producer.stats();
    assert_eq!(stats.chunks, 2);
    assert!(stats.resends >= 1, "{stats:?}");
    let (by_key, _) = topic_contents(broker.bootstrap(), topic);
    assert_eq!(by_key.len(), 10);
    assert!(by_key.values().all(|v| v.len() == 1));
}
