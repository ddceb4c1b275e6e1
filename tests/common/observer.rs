//! A concurrent `read_committed` reader of the users topic for the kill and crash tests, the
//! "verifiable consumer" of Kafka's transactions system test: it reads from the first offset
//! while producers, processors and brokers are killed, and records what a downstream reader
//! would have seen (every key, how often, and whether offsets ever went backwards within a
//! partition). `EOSFLOW_CRASH_OBSERVER_ISOLATION=read_uncommitted` makes it read aborted
//! records too, to show that the aborted-read check bites.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::Message;

/// What the observer saw.
#[derive(Debug, Default)]
pub struct Observed {
    /// Each key and how many records carried it.
    pub keys: HashMap<String, u32>,
    pub records: u64,
    /// Records whose offset was not above the last one seen in its partition (non-monotonic
    /// poll).
    pub backwards: u64,
    /// Consumer errors while brokers were down (transport errors; they are not anomalies).
    pub errors: u64,
    /// Per partition, the offset after the last record seen.
    pub next: BTreeMap<i32, i64>,
}

/// The running observer; [`Observer::finish`] reads until the given ends and returns.
pub struct Observer {
    ends: Arc<Mutex<Option<BTreeMap<i32, i64>>>>,
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Observed>,
}

pub fn isolation() -> String {
    std::env::var("EOSFLOW_CRASH_OBSERVER_ISOLATION").unwrap_or_else(|_| "read_committed".into())
}

impl Observer {
    pub fn start(bootstrap: &str, topic: &str, partitions: i32) -> Observer {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "eosflow-test-observer")
            .set("enable.auto.commit", "false")
            .set("isolation.level", isolation())
            .create()
            .expect("observer consumer");
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)
                .expect("partition");
        }
        consumer.assign(&tpl).expect("assign");
        let ends: Arc<Mutex<Option<BTreeMap<i32, i64>>>> = Arc::new(Mutex::new(None));
        let stop = Arc::new(AtomicBool::new(false));
        let (ends2, stop2) = (ends.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            let mut seen = Observed::default();
            loop {
                if stop2.load(Ordering::Relaxed) {
                    return seen;
                }
                let done = ends2
                    .lock()
                    .ok()
                    .and_then(|e| e.clone())
                    .is_some_and(|ends| {
                        ends.iter()
                            .all(|(p, end)| seen.next.get(p).is_some_and(|n| n >= end))
                    });
                if done {
                    return seen;
                }
                match consumer.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        seen.records += 1;
                        let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                        *seen.keys.entry(key).or_default() += 1;
                        let next = seen.next.entry(m.partition()).or_insert(0);
                        if m.offset() < *next {
                            seen.backwards += 1;
                        }
                        *next = (m.offset() + 1).max(*next);
                    }
                    Some(Err(_)) => seen.errors += 1,
                    None => {}
                }
            }
        });
        Observer { ends, stop, handle }
    }

    /// Read on until every partition reached `ends` (or `limit` passed), then return what was
    /// seen.
    pub fn finish(self, ends: BTreeMap<i32, i64>, limit: Duration) -> Observed {
        if let Ok(mut e) = self.ends.lock() {
            *e = Some(ends);
        }
        let deadline = Instant::now() + limit;
        while !self.handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("observer thread")
    }
}
