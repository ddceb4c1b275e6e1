//! Kafka's transactions system test, on a private Apache Kafka 4.4 node: a producer
//! (transactional) and two processors (one into PostgreSQL, one into SQLite, each in its own
//! group) run at once; each is SIGKILLed at seeded random moments (5 times by default) and
//! restarted; the broker is SIGKILLed and restarted once mid-run; then the producer finishes, the
//! processors drain, the topic holds exactly the produced users and `eosflow verify --json` of
//! each sink is exact (expected = present = users, missing 0, duplicates 0, extra 0).
//!
//! Kill moments: each process gets `rounds` progress targets (one at a random point of each equal
//! slice of 5 %..85 % of the users) and a random delay; it is killed that delay after its progress
//! passes the target. The producer's progress is the topic's end offsets; its odd lives run at one
//! page per `EOSFLOW_KILL_EVERY_MS` (so it overlaps the processors and the broker restart), its even
//! lives flat out (so those kills land inside a transaction). A processor's progress is the offsets
//! stored in its sink, which move only when a batch commits, so its kill lands inside the next
//! batch (and only after the life has committed once). The schedule comes from the seed and is
//! printed first; where each kill landed is measured and printed.
//!
//! A process that exits with an error because the broker crashed under it is restarted once, as a
//! supervisor would, and reported.
//!
//! Knobs: `EOSFLOW_KILL_USERS` (default 20000, a multiple of 100), `EOSFLOW_KILL_ROUNDS` (kills per
//! process, default 5), `EOSFLOW_KILL_SEED` (replays a schedule), `EOSFLOW_KILL_EVERY_MS` (default
//! 60), `EOSFLOW_KILL_DEBUG=1` (librdkafka group debug logs in the kept logs of a failed run). The
//! full size:
//! `EOSFLOW_KILL_USERS=100000 cargo test --release --test kill_exactly_once -- --nocapture --test-threads=1`.

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

fn sinks(dir: &tempfile::TempDir) -> Vec<(&'static str, String)> {
    vec![
        ("postgres", common::postgres_url()),
        (
            "sqlite",
            format!("sqlite://{}", dir.path().join("kill.db").display()),
        ),
    ]
}

#[test]
fn producer_processors_and_broker_killed_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut broker = Broker::start(1);
    let scenario = Scenario {
        label: "kafka",
        broker_kills: 1,
        aborts: None,
        observer: true,
        postgres_crash: false,
        cassandra_crashes: 0,
        check_rows: false,
        kill_from: 5,
        users: 20_000,
        rounds: 5,
    };
    kill_run(scenario, &mut broker, sinks(&dir));
}
