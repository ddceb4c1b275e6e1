//! The sink contract (see `src/sink/mod.rs`), run against every sink.
//!
//! Each case is a plain `fn(&dyn Backend)`; `contract_suite!` turns it into one `#[test]` per sink
//! (`sqlite_contract::CASE`, `postgres_contract::CASE`, `cassandra_contract::CASE`). Every test
//! uses its own table and drops it at the end, so tests run in parallel and can be re-run.
//!
//! PostgreSQL tests need `EOSFLOW_TEST_POSTGRES` (e.g.
//! `postgres://eosflow:test-only-pw@127.0.0.1:5432/eosflow_test`); without it they fail, never skip.
//!
//! Cassandra keeps the idempotent contract instead of the transactional one (rows may be ahead of
//! offsets after a failure, a replay converges): the two transactional cases are replaced by
//! idempotent ones. Its tests need `EOSFLOW_TEST_CASSANDRA` (`HOST:PORT` or a whole
//! `cassandra://` URL): `scripts/test-env start` starts an Apache Cassandra 5.0.9 node with
//! password authentication and exports it; without it they fail, never skip.

use std::time::{Duration, Instant};

use eosflow::sink::postgres::PostgresSink;
use eosflow::sink::sqlite::SqliteSink;
use eosflow::sink::{Row, Sink, SinkBatch, SinkError};

#[path = "common/sink_backends.rs"]
mod backends;

use backends::*;

// ---------------------------------------------------------------------------------------------
// The contract

fn ensure_schema_twice(b: &dyn Backend) {
    let mut s = ready(b);
    s.ensure_schema().expect("second ensure_schema");
    b.open()
        .ensure_schema()
        .expect("ensure_schema on another connection");
    assert!(s.id_counts().expect("id_counts").is_empty());
    assert!(s.load_offsets("g", "t").expect("load_offsets").is_empty());
}

fn ensure_schema_concurrent(b: &dyn Backend) {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| b.open().ensure_schema()))
            .collect();
        for h in handles {
            h.join().expect("thread").expect("concurrent ensure_schema");
        }
    });
    let mut s = b.open();
    s.commit(&batch("g", "t", rows("c", 0..3, ""), &[(0, 3)]))
        .expect("commit");
    assert_eq!(s.id_counts().expect("id_counts").len(), 3);
}

fn commit_then_load_offsets(b: &dyn Backend) {
    let mut s = ready(b);
    let r = rows("a", 0..5, "");
    s.commit(&batch("g", "t", r.clone(), &[(0, 10), (2, 7)]))
        .expect("commit");
    assert_eq!(
        s.load_offsets("g", "t").expect("load"),
        offsets(&[(0, 10), (2, 7)])
    );
    assert_stored(s.as_mut(), &r);
    assert_eq!(s.get(uuid::Uuid::nil()).expect("get missing"), None);
}

fn upsert_is_idempotent(b: &dyn Backend) {
    let mut s = ready(b);
    let bt = batch("g", "t", rows("a", 0..50, ""), &[(0, 50)]);
    s.commit(&bt).expect("first commit");
    let first = s.id_counts().expect("id_counts");
    s.commit(&bt).expect("same batch again");
    assert_eq!(s.id_counts().expect("id_counts"), first);
    assert_eq!(first.len(), 50);
    assert_stored(s.as_mut(), &bt.rows);
    // A changed version of the same identity replaces every column (external_id Some → None too).
    let mut changed = rows("a", 0..50, "-v2");
    for r in &mut changed {
        r.user.external_id = None;
    }
    s.commit(&batch("g", "t", changed.clone(), &[(0, 60)]))
        .expect("update");
    assert_eq!(s.id_counts().expect("id_counts"), first);
    assert_stored(s.as_mut(), &changed);
}

fn duplicate_ids_in_one_batch(b: &dyn Backend) {
    let mut s = ready(b);
    let mut r = rows("d", 0..10, "");
    r.extend(rows("d", 3..6, "-later")); // same ids, later versions
    r.push(r[0].clone()); // exact duplicate
    s.commit(&batch("g", "t", r.clone(), &[(0, 13)]))
        .expect("commit with duplicates");
    let counts = s.id_counts().expect("id_counts");
    assert_eq!(counts.len(), 10);
    assert!(counts.values().all(|&c| c == 1));
    assert_stored(s.as_mut(), &r); // last version wins
    assert_eq!(s.get(r[4].id).expect("get"), Some(user("d", 4, "-later")));
}

fn offsets_never_move_backwards(b: &dyn Backend) {
    let mut s = ready(b);
    s.commit(&batch("g", "t", vec![], &[(0, 100), (1, 7)]))
        .expect("commit 100");
    s.commit(&batch(
        "g",
        "t",
        rows("o", 0..1, ""),
        &[(0, 50), (1, 8), (2, 1)],
    ))
    .expect("commit 50");
    assert_eq!(
        s.load_offsets("g", "t").expect("load"),
        offsets(&[(0, 100), (1, 8), (2, 1)])
    );
}

fn reset_offsets_clears(b: &dyn Backend) {
    let mut s = ready(b);
    let r = rows("r", 0..3, "");
    s.commit(&batch("g", "t", r.clone(), &[(0, 100), (1, 5)]))
        .expect("commit");
    s.commit(&batch("g", "other", vec![], &[(0, 9)]))
        .expect("commit other topic");
    s.reset_offsets("g", "t").expect("reset");
    assert!(s.load_offsets("g", "t").expect("load").is_empty());
    assert_eq!(
        s.load_offsets("g", "other").expect("load"),
        offsets(&[(0, 9)])
    );
    assert_stored(s.as_mut(), &r); // rows stay
    s.commit(&batch("g", "t", vec![], &[(0, 3)]))
        .expect("commit after reset");
    assert_eq!(s.load_offsets("g", "t").expect("load"), offsets(&[(0, 3)]));
    s.reset_offsets("nobody", "nothing")
        .expect("reset of nothing is fine");
}

fn groups_and_topics_are_isolated(b: &dyn Backend) {
    let mut s = ready(b);
    s.commit(&batch("g1", "t1", vec![], &[(0, 10)]))
        .expect("g1/t1");
    s.commit(&batch("g2", "t1", vec![], &[(0, 20)]))
        .expect("g2/t1");
    s.commit(&batch("g1", "t2", vec![], &[(0, 30), (1, 31)]))
        .expect("g1/t2");
    assert_eq!(
        s.load_offsets("g1", "t1").expect("load"),
        offsets(&[(0, 10)])
    );
    assert_eq!(
        s.load_offsets("g2", "t1").expect("load"),
        offsets(&[(0, 20)])
    );
    assert_eq!(
        s.load_offsets("g1", "t2").expect("load"),
        offsets(&[(0, 30), (1, 31)])
    );
    assert!(s.load_offsets("g2", "t2").expect("load").is_empty());
    s.reset_offsets("g1", "t1").expect("reset");
    assert_eq!(
        s.load_offsets("g2", "t1").expect("load"),
        offsets(&[(0, 20)])
    );
    assert_eq!(s.load_offsets("g1", "t2").expect("load").len(), 2);
}

fn offsets_only_batch(b: &dyn Backend) {
    let mut s = ready(b);
    s.commit(&batch("g", "t", vec![], &[(3, 42)]))
        .expect("offsets only");
    assert_eq!(s.load_offsets("g", "t").expect("load"), offsets(&[(3, 42)]));
    assert!(s.id_counts().expect("id_counts").is_empty());
    s.commit(&SinkBatch::default())
        .expect("an empty batch is a no-op");
}

/// A row failing late in a big batch (after earlier rows and statements succeeded).
fn failed_row_leaves_nothing(b: &dyn Backend) {
    let mut s = ready(b);
    let before = rows("keep", 0..5, "");
    s.commit(&batch("g", "t", before.clone(), &[(0, 10)]))
        .expect("good commit");
    let mut bad = rows("bad", 0..2500, "");
    bad[2400] = Row::new(b.poison_user(7));
    let err = s
        .commit(&batch("g", "t", bad, &[(0, 20), (1, 5)]))
        .expect_err("a poisoned batch must fail");
    println!("[{}] poisoned batch: {err}", b.name());
    assert!(
        matches!(
            err,
            SinkError::Operation {
                operation: "commit",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("commit failed"), "{err}");
    // Neither rows nor offsets of the failed batch, seen from this and from a new connection.
    let mut other = b.open();
    for view in [&mut s, &mut other] {
        assert_eq!(
            view.load_offsets("g", "t").expect("load"),
            offsets(&[(0, 10)])
        );
        assert_eq!(view.id_counts().expect("id_counts").len(), 5);
        assert_stored(view.as_mut(), &before);
    }
    // The failing connection is usable again (no half-open transaction left behind).
    s.commit(&batch("g", "t", rows("after", 0..2, ""), &[(0, 12)]))
        .expect("commit after a failed one");
    assert_eq!(
        other.load_offsets("g", "t").expect("load"),
        offsets(&[(0, 12)])
    );
    assert_eq!(other.id_counts().expect("id_counts").len(), 7);
}

/// The offsets write fails after all rows were written in the same transaction.
fn failed_offsets_leave_no_rows(b: &dyn Backend) {
    let mut s = ready(b);
    b.sabotage_offsets();
    let err = s
        .commit(&batch("g", "t", rows("x", 0..100, ""), &[(0, 100)]))
        .expect_err("sabotaged offsets must fail the commit");
    assert!(
        err.to_string().contains("sabotaged"),
        "DB message is kept: {err}"
    );
    assert!(s.id_counts().expect("id_counts").is_empty());
    assert!(b.open().id_counts().expect("id_counts").is_empty());
    assert!(s.load_offsets("g", "t").expect("load").is_empty());
}

fn data_survives_reopen(b: &dyn Backend) {
    let r = rows("p", 0..20, "");
    {
        let mut s = ready(b);
        s.commit(&batch("g", "t", r.clone(), &[(0, 20), (5, 1)]))
            .expect("commit");
    } // dropped: connection closed
    let mut s = b.open();
    assert_eq!(
        s.load_offsets("g", "t").expect("load"),
        offsets(&[(0, 20), (5, 1)])
    );
    assert_stored(s.as_mut(), &r);
}

fn operations_before_schema_fail_clearly(b: &dyn Backend) {
    let mut s = b.open();
    let err = s.load_offsets("g", "t").expect_err("no tables yet");
    let msg = err.to_string();
    assert!(msg.contains("load_offsets failed"), "{msg}");
    assert!(msg.contains(&s.describe()), "{msg}");
    assert!(msg.contains("ensure_schema"), "{msg}");
}

/// `doctor`'s look at the tables: absent before `ensure_schema`, present after, nothing created.
fn tables_reports_what_exists(b: &dyn Backend) {
    let mut s = b.open();
    let before = s.tables().expect("tables before ensure_schema");
    assert!(
        !before.users.present && !before.offsets.present,
        "{before:?}"
    );
    assert_eq!(
        s.tables().expect("tables again"),
        before,
        "tables() created something"
    );
    assert!(
        before.offsets.name.ends_with("_offsets")
            && before.offsets.name.starts_with(&before.users.name),
        "{before:?}"
    );
    s.ensure_schema().expect("ensure_schema");
    let after = b.open().tables().expect("tables after ensure_schema");
    assert!(after.users.present && after.offsets.present, "{after:?}");
    assert_eq!(
        (&after.users.name, &after.offsets.name),
        (&before.users.name, &before.offsets.name)
    );
}

fn large_batch_commits(b: &dyn Backend) {
    let mut s = ready(b);
    let r = rows("big", 0..5000, "");
    let started = Instant::now();
    s.commit(&batch("g", "t", r.clone(), &[(0, 5000)]))
        .expect("5000-row commit");
    let insert = started.elapsed();
    let r2 = rows("big", 0..5000, "-v2");
    let started = Instant::now();
    s.commit(&batch("g", "t", r2.clone(), &[(0, 10000)]))
        .expect("5000-row update");
    let update = started.elapsed();
    println!(
        "[{}] commit of 5000 rows: insert {:.1} ms, update {:.1} ms",
        b.name(),
        insert.as_secs_f64() * 1e3,
        update.as_secs_f64() * 1e3
    );
    let counts = s.id_counts().expect("id_counts");
    assert_eq!(counts.len(), 5000);
    assert!(counts.values().all(|&c| c == 1));
    assert_stored(s.as_mut(), &r2);
}

/// The tables the release before native types left (v1 DDL, then its `ensure_schema` adding the
/// v2 columns) holding `n` v1 rows of `seed`.
fn release_table(b: &dyn Backend, seed: &str, n: u32) -> Vec<Row> {
    let old: Vec<Row> = rows(seed, 0..n, "")
        .into_iter()
        .map(|r| Row::new(as_v1(&r.user)))
        .collect();
    b.create_v1_tables(&old);
    b.add_release_v2_columns();
    old
}

/// Three connections run `ensure_schema` at once (processors starting together); all succeed.
fn ensure_schema_from_three_connections(b: &dyn Backend) {
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..3)
            .map(|_| scope.spawn(|| b.open().ensure_schema()))
            .collect();
        for h in handles {
            h.join()
                .expect("thread")
                .expect("concurrent migrating ensure_schema");
        }
    });
}

/// A table as the release before native types left it (text timestamps; in SQLite an unchecked
/// text id) is migrated by `ensure_schema`, concurrently from three connections: no row lost, every
/// row the same (a timestamp without milliseconds reads back in the canonical form, the same
/// instant), the columns native (PostgreSQL `timestamptz`, SQLite checked text; Cassandra, which
/// never changes a column's type, keeps text and goes on writing it), and new rows land.
fn ensure_schema_migrates_the_release_before_native_types(b: &dyn Backend) {
    let mut old = release_table(b, "nt", 30);
    let before = b.dob_storage();
    // Values the release accepted: no fraction, one digit of fraction.
    b.set_text(old[0].id, "dob", "1980-05-06T07:08:09Z");
    b.set_text(old[1].id, "registered_date", "2010-01-02T03:04:05.6Z");
    old[0].user.dob = "1980-05-06T07:08:09.000Z".into();
    old[1].user.registered_date = "2010-01-02T03:04:05.600Z".into();
    ensure_schema_from_three_connections(b);
    let mut s = ready(b);
    assert_eq!(
        s.id_counts().expect("id_counts").len(),
        old.len(),
        "no row lost"
    );
    assert_stored(s.as_mut(), &old);
    match (b.name(), b.dob_storage()) {
        ("postgres", Some(ty)) => assert_eq!(ty, "timestamp with time zone", "{before:?}"),
        ("sqlite", Some(ty)) => {
            assert!(!before.unwrap_or_default().contains("CHECK"));
            assert!(ty.contains("CHECK (strftime("), "{ty}");
        }
        (name, ty) => assert!(name == "cassandra" && ty.is_none(), "{name}: {ty:?}"),
    }
    let new = rows("nt", 30..40, "");
    s.commit(&batch("g", "t", new.clone(), &[(0, 40)]))
        .expect("commit into the migrated table");
    assert_stored(b.open().as_mut(), &new);
    assert_stored(b.open().as_mut(), &old);
}

/// A stored timestamp finer than a millisecond (the release before native types accepted up to
/// nanoseconds) cannot become a native column unchanged: `ensure_schema` refuses, naming the
/// table, the column and the row, and leaves the table as it was.
fn a_migration_that_would_change_a_value_is_refused(b: &dyn Backend) {
    let old = release_table(b, "fine", 5);
    let before = b.dob_storage();
    b.set_text(old[3].id, "dob", "1980-05-06T07:08:09.123456Z");
    let e = b
        .open()
        .ensure_schema()
        .expect_err("a value finer than a millisecond")
        .to_string();
    assert!(
        e.contains("cannot migrate table")
            && e.contains("column dob")
            && e.contains(&old[3].id.to_string()),
        "{e}"
    );
    assert_eq!(b.dob_storage(), before, "the table is left as it was");
    b.set_text(old[3].id, "dob", &old[3].user.dob);
    let mut s = ready(b);
    assert_stored(s.as_mut(), &old);
}

/// A table created before User v2 (old DDL, old rows) is migrated by `ensure_schema`: the old
/// rows read back with the v2 fields `None`, new rows store them, and migrating again (also
/// concurrently, from other connections) is a no-op.
fn ensure_schema_migrates_a_v1_table(b: &dyn Backend) {
    let old: Vec<Row> = rows("m", 0..10, "")
        .into_iter()
        .map(|r| Row::new(as_v1(&r.user)))
        .collect();
    b.create_v1_tables(&old);
    {
        // Before the migration the sink cannot write v2 rows: the columns are missing.
        let mut s = b.open();
        let err = s
            .commit(&batch("g", "t", rows("m", 10..11, ""), &[(0, 11)]))
            .expect_err("no v2 columns yet");
        assert!(err.to_string().contains("commit failed"), "{err}");
    }
    ensure_schema_from_three_connections(b);
    let mut s = ready(b); // once more: already migrated
    assert_stored(s.as_mut(), &old);
    for r in &old {
        let got = s.get(r.id).expect("get").expect("old row");
        assert_eq!((got.nat, got.age, got.cell), (None, None, None));
    }
    // New rows with every combination of v2 fields, and a v2 version of some old rows.
    let mut new = rows("m", 10..40, "");
    new.extend(rows("m", 0..5, "-v2"));
    assert!(new
        .iter()
        .any(|r| r.user.nat.is_some() && r.user.age.is_some()));
    assert!(new.iter().any(|r| r.user.cell.is_some()));
    s.commit(&batch("g", "t", new.clone(), &[(0, 40)]))
        .expect("commit v2 rows into the migrated table");
    assert_eq!(s.load_offsets("g", "t").expect("load"), offsets(&[(0, 40)]));
    assert_eq!(s.id_counts().expect("id_counts").len(), 40);
    assert_stored(s.as_mut(), &new);
    assert_stored(s.as_mut(), &old[5..]);
    assert_stored(b.open().as_mut(), &new);
}

// ---------------------------------------------------------------------------------------------
// The idempotent contract (Cassandra): instead of the two transactional cases above

/// A row failing late in a big batch leaves the offsets where they were; rows of the batch may be
/// stored (ahead of the offsets, never a duplicate), and replaying the batch converges.
fn failed_row_keeps_offsets(b: &dyn Backend) {
    let mut s = ready(b);
    let before = rows("keep", 0..5, "");
    s.commit(&batch("g", "t", before.clone(), &[(0, 10)]))
        .expect("good commit");
    let mut bad = rows("bad", 0..2500, "");
    let poison = Row::new(b.poison_user(7));
    let healthy = std::mem::replace(&mut bad[2400], poison.clone());
    let err = s
        .commit(&batch("g", "t", bad.clone(), &[(0, 20), (1, 5)]))
        .expect_err("a poisoned batch must fail");
    let msg = err.to_string();
    println!(
        "[{}] poisoned batch: {}",
        b.name(),
        &msg[..msg.len().min(600)]
    );
    assert!(
        matches!(
            err,
            SinkError::Operation {
                operation: "commit",
                ..
            }
        ),
        "{msg:.600}"
    );
    assert!(msg.contains("commit failed"), "{msg:.600}");
    let mut other = b.open();
    for view in [&mut s, &mut other] {
        assert_eq!(
            view.load_offsets("g", "t").expect("load"),
            offsets(&[(0, 10)]),
            "offsets do not move when a row failed"
        );
        let counts = view.id_counts().expect("id_counts");
        assert!(counts.values().all(|&c| c == 1));
        assert!(
            counts.len() >= 5 && counts.len() <= 5 + 2500,
            "{}",
            counts.len()
        );
        assert_stored(view.as_mut(), &before);
    }
    // The replay (the poison fixed upstream) lands on the same ids, once each.
    bad[2400] = healthy;
    s.commit(&batch("g", "t", bad.clone(), &[(0, 20), (1, 5)]))
        .expect("replay");
    assert_eq!(
        other.load_offsets("g", "t").expect("load"),
        offsets(&[(0, 20), (1, 5)])
    );
    let counts = other.id_counts().expect("id_counts");
    assert!(counts.values().all(|&c| c == 1));
    let expected: std::collections::BTreeSet<_> = before.iter().chain(&bad).map(|r| r.id).collect();
    assert!(
        counts
            .keys()
            .all(|id| expected.contains(id) || *id == poison.id),
        "no stray rows"
    );
    assert_stored(other.as_mut(), &bad);
}

/// A crash between the rows and the offsets leaves the rows ahead; the replay rewrites identical
/// rows and then stores the offsets. A failing offsets write fails the commit after the rows.
fn failed_offsets_leave_rows_ahead(b: &dyn Backend) {
    let mut s = ready(b);
    let r = rows("x", 0..100, "");
    // What a crash after the row writes leaves: the rows without their offsets.
    s.commit(&batch("g", "t", r.clone(), &[]))
        .expect("rows only");
    assert!(s.load_offsets("g", "t").expect("load").is_empty());
    assert_stored(s.as_mut(), &r);
    s.commit(&batch("g", "t", r.clone(), &[(0, 100)]))
        .expect("replay");
    assert_eq!(
        s.load_offsets("g", "t").expect("load"),
        offsets(&[(0, 100)])
    );
    assert_eq!(s.id_counts().expect("id_counts").len(), 100);
    assert_stored(s.as_mut(), &r);

    b.sabotage_offsets();
    let more = rows("y", 0..50, "");
    let err = s
        .commit(&batch("g", "t", more.clone(), &[(0, 150)]))
        .expect_err("sabotaged offsets must fail the commit");
    let msg = err.to_string();
    assert!(
        msg.contains("commit failed") && msg.contains("offsets"),
        "{msg}"
    );
    let mut other = b.open();
    assert_eq!(other.id_counts().expect("id_counts").len(), 150);
    assert_stored(other.as_mut(), &more); // ahead of the (lost) offsets
}

macro_rules! contract_suite {
    (
        every sink: [$($case:ident),* $(,)?],
        transactional: [$($tx:ident),* $(,)?],
        idempotent: [$($idem:ident),* $(,)?] $(,)?
    ) => {
        mod sqlite_contract {
            $( #[test] fn $case() { super::SqliteBackend::run(stringify!($case), super::$case); } )*
            $( #[test] fn $tx() { super::SqliteBackend::run(stringify!($tx), super::$tx); } )*
        }
        mod postgres_contract {
            $( #[test] fn $case() { super::PgBackend::run(stringify!($case), super::$case); } )*
            $( #[test] fn $tx() { super::PgBackend::run(stringify!($tx), super::$tx); } )*
        }
        mod cassandra_contract {
            $(
                #[test]
                fn $case() { super::CassandraBackend::run(stringify!($case), super::$case); }
            )*
            $(
                #[test]
                fn $idem() { super::CassandraBackend::run(stringify!($idem), super::$idem); }
            )*
        }
    };
}

contract_suite!(
    every sink: [
    ensure_schema_twice,
    ensure_schema_concurrent,
    commit_then_load_offsets,
    upsert_is_idempotent,
    duplicate_ids_in_one_batch,
    offsets_never_move_backwards,
    reset_offsets_clears,
    groups_and_topics_are_isolated,
    offsets_only_batch,
    data_survives_reopen,
    operations_before_schema_fail_clearly,
    tables_reports_what_exists,
    large_batch_commits,
    ensure_schema_migrates_a_v1_table,
    ensure_schema_migrates_the_release_before_native_types,
    ],
    // Rows and offsets in one transaction (the SQL sinks).
    transactional: [
        failed_row_leaves_nothing,
        failed_offsets_leave_no_rows,
        a_migration_that_would_change_a_value_is_refused,
    ],
    // Rows first, then offsets; replays converge (Cassandra).
    idempotent: [failed_row_keeps_offsets, failed_offsets_leave_rows_ahead],
);

// ---------------------------------------------------------------------------------------------
// Sink-specific behaviour

#[test]
fn sqlite_missing_parent_dir_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("no/such/dir/x.db");
    let err = SqliteSink::open(&path.to_string_lossy(), "users")
        .err()
        .expect("missing directory must fail");
    let msg = err.to_string();
    assert!(matches!(err, SinkError::Connect { .. }), "{msg}");
    assert!(
        msg.contains("does not exist") && msg.contains("no/such/dir"),
        "{msg}"
    );
    assert!(
        !dir.path().join("no").exists(),
        "must not create directories"
    );
}

#[test]
fn sqlite_describe_wal_and_open_by_url() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db").to_string_lossy().into_owned();
    let mut s = eosflow::sink::open(&format!("sqlite://{path}"), "users").expect("open by url");
    assert_eq!(s.describe(), format!("sqlite://{path}"));
    s.ensure_schema().expect("ensure_schema");
    let raw = rusqlite::Connection::open(&path).expect("raw open");
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal_mode");
    assert_eq!(mode, "wal");
}

#[test]
fn sqlite_commit_waits_for_another_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db").to_string_lossy().into_owned();
    let mut s = SqliteSink::open(&path, "users").expect("open");
    s.ensure_schema().expect("ensure_schema");
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let holder = std::thread::spawn(move || {
        let mut raw = rusqlite::Connection::open(&path).expect("raw open");
        let tx = raw
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .expect("hold the write lock");
        locked_tx.send(()).expect("signal");
        std::thread::sleep(Duration::from_millis(300));
        tx.commit().expect("release");
    });
    locked_rx.recv().expect("lock taken");
    let started = Instant::now();
    s.commit(&batch("g", "t", rows("w", 0..3, ""), &[(0, 3)]))
        .expect("commit waits for the lock (busy_timeout) instead of failing");
    assert!(
        started.elapsed() >= Duration::from_millis(100),
        "the lock was held"
    );
    holder.join().expect("lock holder thread");
    assert_eq!(s.load_offsets("g", "t").expect("load"), offsets(&[(0, 3)]));
}

#[test]
fn bad_table_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("x.db").to_string_lossy().into_owned();
    assert!(SqliteSink::open(&path, "users; drop table x").is_err());
    assert!(PostgresSink::connect("postgres://u:p@127.0.0.1:1/db", "1users").is_err());
    let long = "a".repeat(60); // {table}_offsets would not fit 63 bytes
    assert!(PostgresSink::connect(&pg_url(), &long).is_err());
}

#[test]
fn postgres_unreachable_is_connect_error_without_password() {
    for (url, cause) in [
        ("postgres://eosflow:s3cr3t-pw@127.0.0.1:1/db", "refused"),
        (
            "postgresql://eosflow:s3cr3t-pw@127.0.0.1:notaport/db",
            "invalid value",
        ),
        (
            "host=127.0.0.1 port=1 user=eosflow password=s3cr3t-pw dbname=db",
            "refused",
        ),
    ] {
        let err = PostgresSink::connect(url, "users")
            .err()
            .expect("must fail");
        let msg = err.to_string();
        println!("{msg}");
        assert!(matches!(err, SinkError::Connect { .. }), "{msg}");
        assert!(!msg.contains("s3cr3t"), "password leaked: {msg}");
        assert!(msg.contains("127.0.0.1"), "names the server: {msg}");
        assert!(msg.contains(cause), "names the cause: {msg}");
        assert!(
            !format!("{err:?}").contains("s3cr3t"),
            "password leaked in Debug"
        );
    }
}

#[test]
fn postgres_describe_has_no_password() {
    let url = pg_url();
    let s = PostgresSink::connect(&url, "users").expect("connect");
    assert_eq!(s.describe(), eosflow::secret::redact_url(&url));
    assert!(!s.describe().contains(":eosflow@"), "{}", s.describe());
}
