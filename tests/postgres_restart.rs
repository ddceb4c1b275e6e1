//! The PostgreSQL sink survives a database crash: after an immediate shutdown and restart of the
//! server (`scripts/test-env pg-crash`, no checkpoint, crash recovery on the way up) the next
//! commit connects again and writes its batch, rows and offsets in one transaction as before; the
//! rows of the batch before the crash are all there. Without the reconnect the commit after the
//! crash fails ("the connection is gone").

mod common;

use eosflow::model::sample;
use eosflow::sink::{Row, SinkBatch};

fn batch(range: std::ops::Range<u32>, next: i64) -> SinkBatch {
    SinkBatch {
        group: "g".into(),
        topic: "t".into(),
        rows: range
            .map(|i| Row::new(sample::variant("pg-crash", i, "a")))
            .collect(),
        next_offsets: [(0, next)].into_iter().collect(),
        skipped: Vec::new(),
    }
}

#[test]
fn a_commit_after_a_database_crash_connects_again() {
    let table = common::unique("pg_crash");
    let mut sink = eosflow::sink::open(&common::postgres_url(), &table).expect("open");
    sink.ensure_schema().expect("schema");
    sink.commit(&batch(0..100, 100)).expect("before the crash");
    common::crash_postgres();
    sink.commit(&batch(100..250, 250))
        .expect("the commit after the crash connects again and writes");
    assert_eq!(
        sink.load_offsets("g", "t").expect("offsets"),
        [(0, 250)].into_iter().collect()
    );
    let counts = sink.id_counts().expect("ids");
    assert_eq!(counts.len(), 250, "every row of both batches, once");
    assert!(counts.values().all(|&n| n == 1));
    // A crash between commits is noticed on the next read too (a processor's assignment).
    common::crash_postgres();
    assert_eq!(
        sink.load_offsets("g", "t")
            .expect("offsets after a second crash"),
        [(0, 250)].into_iter().collect()
    );
}
