//! Reading a topic the way an independent client would, with either isolation level, and a
//! PostgreSQL audit of how often each row is written (a duplicate application shows as a count
//! of 2 even though the upsert leaves one row).
//!
//! Include it with `#[path = "common/topic.rs"] mod topic;`.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

/// One record as read: key (text), partition, offset.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub key: String,
    pub partition: i32,
    pub offset: i64,
}

/// Every record of `topic` as a `read_committed` (or, with `committed = false`,
/// `read_uncommitted`) reader sees it, to the end of every partition.
pub fn read_all(bootstrap: &str, topic: &str, committed: bool) -> Vec<Seen> {
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "eosflow-test-reader")
        .set("enable.auto.commit", "false")
        .set(
            "isolation.level",
            if committed {
                "read_committed"
            } else {
                "read_uncommitted"
            },
        )
        .set("enable.partition.eof", "true")
        .create()
        .expect("reader");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions: Vec<i32> = metadata.topics()[0]
        .partitions()
        .iter()
        .map(|p| p.id())
        .collect();
    let mut tpl = TopicPartitionList::new();
    for &p in &partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("partition");
    }
    consumer.assign(&tpl).expect("assign");
    let mut open: BTreeSet<i32> = partitions.into_iter().collect();
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !open.is_empty() {
        assert!(
            Instant::now() < deadline,
            "partitions {open:?} of {topic} never reached their end"
        );
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => seen.push(Seen {
                key: String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned(),
                partition: m.partition(),
                offset: m.offset(),
            }),
            Some(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
            }
            // A broker a test killed on purpose: librdkafka reports each failed connection and
            // goes on with the live ones (the deadline above fails a read that never ends).
            Some(Err(KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure))) => {
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    seen
}

/// A PostgreSQL trigger on `table` that counts every insert and update of each row id into
/// `{table}_audit` (install before the processors start).
pub fn install_audit(client: &mut postgres::Client, table: &str) {
    client
        .batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS {table}_audit (id uuid PRIMARY KEY, writes int NOT NULL);
             CREATE OR REPLACE FUNCTION {table}_count() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
               INSERT INTO {table}_audit VALUES (NEW.id, 1)
               ON CONFLICT (id) DO UPDATE SET writes = {table}_audit.writes + 1;
               RETURN NEW;
             END $$;
             CREATE TRIGGER {table}_count AFTER INSERT OR UPDATE ON {table}
             FOR EACH ROW EXECUTE FUNCTION {table}_count();"
        ))
        .expect("install the audit trigger");
}

/// (rows audited, rows written more than once, the most writes of one row).
pub fn audit(client: &mut postgres::Client, table: &str) -> (i64, i64, i32) {
    let row = client
        .query_one(
            &format!(
                "SELECT count(*), count(*) FILTER (WHERE writes > 1), coalesce(max(writes), 0) \
                 FROM {table}_audit"
            ),
            &[],
        )
        .expect("audit");
    (row.get(0), row.get(1), row.get(2))
}
