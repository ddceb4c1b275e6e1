//! Crash test into Apache Cassandra (the sink the mission names first), on Apache Kafka: the run
//! loop of the kill tests (`tests/common/kill_run.rs`) with a Cassandra processor, the shared
//! Cassandra node of `scripts/test-env` SIGKILLed and restarted on its data twice mid-run, the
//! producer and the processor SIGKILLed 5 times each at seeded moments, the broker once, a
//! `read_committed` observer throughout. Afterwards `eosflow verify` against the Cassandra table
//! must report 0 lost, 0 duplicated and 0 extra, and every row must equal, column for column, the
//! user it stores.
//!
//! A processor whose writes fail while the node is down retries the batch, then exits non-zero
//! naming the offsets the sink holds; it is restarted, as a supervisor would, and continues
//! exactly from there (the harness allows one such failure per outage, and no other).
//!
//! Default 20 000 users; the full run is `EOSFLOW_KILL_USERS=100000 cargo test --release --test
//! crash_cassandra -- --nocapture`.

mod common;
#[path = "common/kafka.rs"]
mod kafka;
#[path = "common/kill_harness.rs"]
mod kill_harness;
#[path = "common/kill_run.rs"]
mod kill_run;
#[path = "common/observer.rs"]
mod observer;

use kill_harness::Broker;
use kill_run::{kill_run, Scenario};

#[test]
fn processor_killed_and_cassandra_crashed_twice_exactly_once() {
    let url = common::required_env("EOSFLOW_TEST_CASSANDRA");
    let mut broker = Broker::start(1);
    let scenario = Scenario {
        label: "cassandra",
        broker_kills: 1,
        aborts: Some(0.33),
        observer: true,
        postgres_crash: false,
        cassandra_crashes: 2,
        check_rows: true,
        kill_from: 5,
        users: 20_000,
        rounds: 5,
    };
    kill_run(scenario, &mut broker, vec![("cassandra", url)]);
}
