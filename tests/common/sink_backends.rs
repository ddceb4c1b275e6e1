//! Test data and backends of `tests/sink_contract.rs` (included there with `#[path]`, so no
//! other test target compiles it).

use std::collections::BTreeMap;
use std::time::Duration;

use eosflow::model::User;
use eosflow::sink::postgres::PostgresSink;
use eosflow::sink::sqlite::SqliteSink;
use eosflow::sink::{Row, Sink, SinkBatch};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A deterministic user; `variant` changes the non-identity fields only (same id).
pub fn user(seed: &str, i: u32, variant: &str) -> User {
    User {
        source_name: "contract".into(),
        source_seed: seed.into(),
        source_page: 1 + i64::from(i / 100),
        source_index: (i % 100) as i32,
        external_id: (i % 2 == 0).then(|| format!("ext-{i}")),
        first_name: format!("Zoë{variant}"),
        last_name: "Ñandú-山田 O'Brien".into(),
        gender: "female".into(),
        address: format!("{i} \"Quoted\" street, Kyiv; DROP TABLE x; --, UA"),
        post_code: format!("{:05}", i),
        email: format!("user{i}{variant}@example.com"),
        username: format!("user{i}"),
        dob: "1990-01-02T03:04:05.678Z".into(),
        registered_date: "2015-06-07T08:09:10.000Z".into(),
        phone: "+1 (555) 010-0000".into(),
        picture: format!("https://example.com/p/{i}.jpg"),
    }
}

pub fn rows(seed: &str, range: std::ops::Range<u32>, variant: &str) -> Vec<Row> {
    range.map(|i| Row::new(user(seed, i, variant))).collect()
}

pub fn batch(group: &str, topic: &str, rows: Vec<Row>, offsets: &[(i32, i64)]) -> SinkBatch {
    SinkBatch {
        group: group.into(),
        topic: topic.into(),
        rows,
        next_offsets: offsets.iter().copied().collect(),
    }
}

pub fn offsets(pairs: &[(i32, i64)]) -> BTreeMap<i32, i64> {
    pairs.iter().copied().collect()
}

pub fn ready(b: &dyn Backend) -> Box<dyn Sink> {
    let mut s = b.open();
    s.ensure_schema().expect("ensure_schema");
    s
}

/// Every row of `rows` is stored exactly once, identical to the last written version.
pub fn assert_stored(s: &mut dyn Sink, rows: &[Row]) {
    let counts = s.id_counts().expect("id_counts");
    for row in rows {
        assert_eq!(counts.get(&row.id), Some(&1), "count of {}", row.id);
    }
    for row in rows.iter().rev().take(20) {
        let last = rows.iter().rev().find(|r| r.id == row.id).map(|r| &r.user);
        assert_eq!(s.get(row.id).expect("get").as_ref(), last, "row {}", row.id);
    }
}

/// A unique table name per test and process (the PostgreSQL database is shared).
pub fn table_name(case: &str) -> String {
    let case: String = case.chars().take(36).collect();
    format!("ct_{case}_{}", std::process::id())
}

// ---------------------------------------------------------------------------------------------
// Backends

/// One sink under test: a fresh table, and ways to make the database refuse a write.
pub trait Backend: Sync {
    fn name(&self) -> &'static str;
    /// A new connection to the same table.
    fn open(&self) -> Box<dyn Sink>;
    /// A user that the database refuses to store (after `ensure_schema`).
    fn poison_user(&self, i: u32) -> User;
    /// From now on, the database refuses every write to the offsets table.
    fn sabotage_offsets(&self);
}

pub struct SqliteBackend {
    _dir: tempfile::TempDir,
    path: String,
    table: String,
}

impl SqliteBackend {
    pub fn run(case: &str, f: fn(&dyn Backend)) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sink.db").to_string_lossy().into_owned();
        let b = SqliteBackend {
            _dir: dir,
            path,
            table: table_name(case),
        };
        f(&b);
    }

    fn raw(&self) -> rusqlite::Connection {
        let c = rusqlite::Connection::open(&self.path).expect("raw sqlite open");
        c.busy_timeout(Duration::from_secs(5))
            .expect("busy_timeout");
        c
    }
}

impl Backend for SqliteBackend {
    fn name(&self) -> &'static str {
        "sqlite"
    }
    fn open(&self) -> Box<dyn Sink> {
        SqliteSink::open(&self.path, &self.table).expect("open sqlite sink")
    }
    fn poison_user(&self, i: u32) -> User {
        // SQLite stores any text, so a trigger makes one honest row fail inside the transaction.
        let t = &self.table;
        self.raw()
            .execute_batch(&format!(
                "CREATE TRIGGER IF NOT EXISTS {t}_poison BEFORE INSERT ON {t}
                 WHEN NEW.first_name = 'POISON'
                 BEGIN SELECT RAISE(ABORT, 'poisoned row (test trigger)'); END;"
            ))
            .expect("create poison trigger");
        User {
            first_name: "POISON".into(),
            ..user("poison", i, "")
        }
    }
    fn sabotage_offsets(&self) {
        let t = &self.table;
        self.raw()
            .execute_batch(&format!(
                "CREATE TRIGGER {t}_no_ins BEFORE INSERT ON {t}_offsets
                 BEGIN SELECT RAISE(ABORT, 'offsets sabotaged (test trigger)'); END;
                 CREATE TRIGGER {t}_no_upd BEFORE UPDATE ON {t}_offsets
                 BEGIN SELECT RAISE(ABORT, 'offsets sabotaged (test trigger)'); END;"
            ))
            .expect("create sabotage triggers");
    }
}

pub struct PgBackend {
    url: String,
    table: String,
}

pub fn pg_url() -> String {
    match std::env::var("EOSFLOW_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => panic!(
            "EOSFLOW_TEST_POSTGRES is not set: the PostgreSQL contract tests need a server. \
             Run `scripts/test-env` (or export \
             EOSFLOW_TEST_POSTGRES=postgres://eosflow:eosflow@127.0.0.1:5432/eosflow_test)"
        ),
    }
}

impl PgBackend {
    pub fn run(case: &str, f: fn(&dyn Backend)) {
        let b = PgBackend {
            url: pg_url(),
            table: table_name(case),
        };
        b.drop_objects(); // leftovers of a killed earlier run with the same pid
        f(&b);
    }

    fn raw(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("raw postgres connect")
    }

    fn drop_objects(&self) {
        let t = &self.table;
        if let Ok(mut c) = postgres::Client::connect(&self.url, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP TABLE IF EXISTS {t}, {t}_offsets; DROP FUNCTION IF EXISTS {t}_fail();"
            ));
        }
    }
}

impl Drop for PgBackend {
    fn drop(&mut self) {
        self.drop_objects(); // best effort, also after a failed assertion
    }
}

impl Backend for PgBackend {
    fn name(&self) -> &'static str {
        "postgres"
    }
    fn open(&self) -> Box<dyn Sink> {
        PostgresSink::connect(&self.url, &self.table).expect("connect postgres sink")
    }
    fn poison_user(&self, i: u32) -> User {
        // PostgreSQL text cannot hold NUL: the server rejects the whole statement.
        User {
            first_name: "bad\0name".into(),
            ..user("poison", i, "")
        }
    }
    fn sabotage_offsets(&self) {
        let t = &self.table;
        self.raw()
            .batch_execute(&format!(
                "CREATE FUNCTION {t}_fail() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN RAISE EXCEPTION 'offsets sabotaged (test trigger)'; END $$;
                 CREATE TRIGGER {t}_fail BEFORE INSERT OR UPDATE ON {t}_offsets
                 FOR EACH ROW EXECUTE FUNCTION {t}_fail();"
            ))
            .expect("create sabotage trigger");
    }
}
