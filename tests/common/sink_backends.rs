//! Test data and backends of `tests/sink_contract.rs` (included there with `#[path]`, so no
//! other test target compiles it).

use std::collections::BTreeMap;
use std::time::Duration;

use eosflow::model::User;
use eosflow::sink::cassandra::statements::Cql;
use eosflow::sink::cassandra::{CassandraConfig, CassandraSink};
use eosflow::sink::postgres::PostgresSink;
use eosflow::sink::sqlite::SqliteSink;
use eosflow::sink::{Row, Sink, SinkBatch};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A deterministic user; `variant` changes the non-identity fields only (same id).
pub fn user(seed: &str, i: u32, variant: &str) -> User {
    eosflow::model::sample::variant(seed, i, variant)
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
        skipped: Vec::new(),
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
    /// Creates the tables as eosflow did before User v2 (no `nat`, `age`, `cell`; the old DDL,
    /// by hand) and stores `rows` in it, their v1 columns only.
    fn create_v1_tables(&self, rows: &[Row]);
    /// Runs what the release before native types ran on such a table (`ensure_schema` adding
    /// `nat`, `age` and `cell` with its types): the table that release leaves.
    fn add_release_v2_columns(&self);
    /// Sets a text column of one row by hand (a value an older release may have stored).
    fn set_text(&self, id: uuid::Uuid, column: &str, value: &str);
    /// How the `dob` column is stored, as the catalogue says (None: not asked, Cassandra).
    fn dob_storage(&self) -> Option<String>;
}

/// The users columns of User v1 (after `id`), from the field table and the v1 schema.
pub fn v1_columns() -> Vec<&'static str> {
    let v1 = eosflow::avro::history::by_version(1).expect("User v1");
    eosflow::model::USER_FIELDS
        .iter()
        .map(|f| f.name)
        .filter(|name| v1.has_field(name))
        .collect()
}

/// A user as a v1 table stores it: the v2 fields unknown.
pub fn as_v1(u: &User) -> User {
    eosflow::avro::history::as_written_with(1, u)
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
    fn add_release_v2_columns(&self) {
        let t = &self.table;
        self.raw()
            .execute_batch(&format!(
                "ALTER TABLE {t} ADD COLUMN nat TEXT; ALTER TABLE {t} ADD COLUMN age INTEGER; \
                 ALTER TABLE {t} ADD COLUMN cell TEXT;"
            ))
            .expect("the release's v2 columns");
    }
    fn set_text(&self, id: uuid::Uuid, column: &str, value: &str) {
        let sql = format!("UPDATE {} SET {column} = ?1 WHERE id = ?2", self.table);
        let n = self
            .raw()
            .execute(&sql, rusqlite::params![value, id.hyphenated().to_string()])
            .expect("set_text");
        assert_eq!(n, 1, "set_text: row {id}");
    }
    fn dob_storage(&self) -> Option<String> {
        let sql: String = self
            .raw()
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [&self.table],
                |r| r.get(0),
            )
            .expect("users table");
        let dob = sql
            .split(", dob ")
            .nth(1)?
            .split(", registered_date")
            .next()?;
        Some(dob.to_string())
    }
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
    fn create_v1_tables(&self, rows: &[Row]) {
        let t = &self.table;
        let mut c = self.raw();
        // The DDL of eosflow's SQLite sink before User v2, verbatim.
        c.execute_batch(&format!(
            "CREATE TABLE {t} (id TEXT PRIMARY KEY NOT NULL, source_name TEXT NOT NULL, \
             source_seed TEXT NOT NULL, source_page INTEGER NOT NULL, \
             source_index INTEGER NOT NULL, external_id TEXT, first_name TEXT NOT NULL, \
             last_name TEXT NOT NULL, gender TEXT NOT NULL, address TEXT NOT NULL, \
             post_code TEXT NOT NULL, email TEXT NOT NULL, username TEXT NOT NULL, \
             dob TEXT NOT NULL, registered_date TEXT NOT NULL, phone TEXT NOT NULL, \
             picture TEXT NOT NULL) STRICT;
             CREATE TABLE {t}_offsets (
                 consumer_group TEXT NOT NULL,
                 topic TEXT NOT NULL,
                 \"partition\" INTEGER NOT NULL,
                 next_offset INTEGER NOT NULL,
                 PRIMARY KEY (consumer_group, topic, \"partition\")
             ) STRICT;"
        ))
        .expect("create v1 tables");
        let tx = c.transaction().expect("tx");
        {
            let placeholders = (1..=17).map(|i| format!("?{i}")).collect::<Vec<_>>();
            let sql = format!(
                "INSERT INTO {t} (id, {}) VALUES ({})",
                v1_columns().join(", "),
                placeholders.join(", ")
            );
            let mut stmt = tx.prepare(&sql).expect("prepare v1 insert");
            for row in rows {
                let u = &row.user;
                stmt.execute(rusqlite::params![
                    row.id.hyphenated().to_string(),
                    u.source_name,
                    u.source_seed,
                    u.source_page,
                    u.source_index,
                    u.external_id,
                    u.first_name,
                    u.last_name,
                    u.gender,
                    u.address,
                    u.post_code,
                    u.email,
                    u.username,
                    u.dob,
                    u.registered_date,
                    u.phone,
                    u.picture,
                ])
                .expect("insert v1 row");
            }
        }
        tx.commit().expect("commit v1 rows");
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
             EOSFLOW_TEST_POSTGRES=postgres://eosflow:test-only-pw@127.0.0.1:5432/eosflow_test)"
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
    fn add_release_v2_columns(&self) {
        let t = &self.table;
        self.raw()
            .batch_execute(&format!(
                "ALTER TABLE {t} ADD COLUMN IF NOT EXISTS nat TEXT, \
                 ADD COLUMN IF NOT EXISTS age INTEGER, ADD COLUMN IF NOT EXISTS cell TEXT"
            ))
            .expect("the release's v2 columns");
    }
    fn set_text(&self, id: uuid::Uuid, column: &str, value: &str) {
        let sql = format!("UPDATE {} SET {column} = $1 WHERE id = $2", self.table);
        let n = self.raw().execute(&sql, &[&value, &id]).expect("set_text");
        assert_eq!(n, 1, "set_text: row {id}");
    }
    fn dob_storage(&self) -> Option<String> {
        let row = self
            .raw()
            .query_one(
                "SELECT format_type(atttypid, atttypmod) FROM pg_attribute \
                 WHERE attrelid = to_regclass($1) AND attname = 'dob'",
                &[&self.table],
            )
            .expect("dob column");
        Some(row.get(0))
    }
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
    fn create_v1_tables(&self, rows: &[Row]) {
        let t = &self.table;
        let mut c = self.raw();
        // The DDL of eosflow's PostgreSQL sink before User v2, verbatim.
        c.batch_execute(&format!(
            "CREATE TABLE {t} (id UUID PRIMARY KEY, source_name TEXT NOT NULL, \
             source_seed TEXT NOT NULL, source_page BIGINT NOT NULL, \
             source_index INTEGER NOT NULL, external_id TEXT, first_name TEXT NOT NULL, \
             last_name TEXT NOT NULL, gender TEXT NOT NULL, address TEXT NOT NULL, \
             post_code TEXT NOT NULL, email TEXT NOT NULL, username TEXT NOT NULL, \
             dob TEXT NOT NULL, registered_date TEXT NOT NULL, phone TEXT NOT NULL, \
             picture TEXT NOT NULL);
             CREATE TABLE {t}_offsets (
                 consumer_group TEXT NOT NULL,
                 topic TEXT NOT NULL,
                 \"partition\" INTEGER NOT NULL,
                 next_offset BIGINT NOT NULL,
                 PRIMARY KEY (consumer_group, topic, \"partition\")
             );"
        ))
        .expect("create v1 tables");
        let placeholders = (1..=17).map(|i| format!("${i}")).collect::<Vec<_>>();
        let sql = format!(
            "INSERT INTO {t} (id, {}) VALUES ({})",
            v1_columns().join(", "),
            placeholders.join(", ")
        );
        let mut tx = c.transaction().expect("tx");
        let stmt = tx.prepare(&sql).expect("prepare v1 insert");
        for row in rows {
            let u = &row.user;
            tx.execute(
                &stmt,
                &[
                    &row.id,
                    &u.source_name,
                    &u.source_seed,
                    &u.source_page,
                    &u.source_index,
                    &u.external_id,
                    &u.first_name,
                    &u.last_name,
                    &u.gender,
                    &u.address,
                    &u.post_code,
                    &u.email,
                    &u.username,
                    &u.dob,
                    &u.registered_date,
                    &u.phone,
                    &u.picture,
                ],
            )
            .expect("insert v1 row");
        }
        tx.commit().expect("commit v1 rows");
    }
}

// ---------------------------------------------------------------------------------------------
// Cassandra (see `cassandra_contract` in tests/sink_contract.rs)

/// How to get a node for these tests.
const CASSANDRA_HINT: &str = "run `scripts/test-env start` and `. <(scripts/test-env env)` \
    (an Apache Cassandra 5.0.9 node with password authentication on 127.0.0.1:19042), or start \
    a node of your own (`scripts/cassandra-node start DIR --port 19042`) and set \
    EOSFLOW_TEST_CASSANDRA=127.0.0.1:19042 (or a whole cassandra://USER:PASS@HOST:PORT/KEYSPACE \
    URL)";

/// The sink URL of the Cassandra tests. `EOSFLOW_TEST_CASSANDRA` is `HOST:PORT[,HOST:PORT…]`
/// (keyspace `eosflow_test`, `SimpleStrategy` 1) or a whole `cassandra://` URL without `table=`.
pub fn cassandra_url() -> String {
    match std::env::var("EOSFLOW_TEST_CASSANDRA") {
        Ok(v) if v.trim().starts_with("cassandra://") => v.trim().to_string(),
        Ok(v) if !v.trim().is_empty() => {
            format!("cassandra://{}/eosflow_test?replication=1", v.trim())
        }
        _ => panic!("EOSFLOW_TEST_CASSANDRA is not set: the Cassandra tests need a server: {CASSANDRA_HINT}"),
    }
}

/// A table name that fits Cassandra's 48 characters with `_offsets` (at most 40): the start of
/// the case name, a hash of all of it, the pid.
pub fn cassandra_table_name(case: &str) -> String {
    let start: String = case.chars().take(16).collect();
    let hash = case.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("ct_{start}_{:04x}_{}", hash & 0xffff, std::process::id())
}

/// A plain driver session next to the sink, for what the tests do behind its back.
pub struct RawCassandra {
    // Field order is drop order: the session before its runtime.
    session: scylla::client::session::Session,
    runtime: tokio::runtime::Runtime,
}

impl RawCassandra {
    pub fn connect(config: &CassandraConfig) -> RawCassandra {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let mut builder =
            scylla::client::session_builder::SessionBuilder::new().known_nodes(&config.hosts);
        if let Some(user) = &config.username {
            let password = config.password.as_ref().map(|p| p.expose()).unwrap_or("");
            builder = builder.user(user, password);
        }
        let session = runtime.block_on(builder.build()).unwrap_or_else(|e| {
            panic!(
                "cannot connect to {:?}: {e}; {CASSANDRA_HINT}",
                config.hosts
            )
        });
        RawCassandra { session, runtime }
    }

    /// Run one statement without values.
    pub fn cql(&self, text: &str) -> Result<(), String> {
        self.runtime
            .block_on(self.session.query_unpaged(text, ()))
            .map(drop)
            .map_err(|e| format!("{text}: {e}"))
    }

    /// Run one statement with values (e.g. a `Vec<Option<CqlValue>>` or a tuple).
    pub fn cql_with(&self, text: &str, values: impl scylla::serialize::row::SerializeRow) {
        self.runtime
            .block_on(self.session.query_unpaged(text, values))
            .unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

pub struct CassandraBackend {
    url: String,
    config: CassandraConfig,
    raw: RawCassandra,
}

impl CassandraBackend {
    pub fn run(case: &str, f: fn(&dyn Backend)) {
        let url = cassandra_url();
        let table = cassandra_table_name(case);
        let config = CassandraConfig::parse(&url, &table)
            .unwrap_or_else(|e| panic!("EOSFLOW_TEST_CASSANDRA: {e}"));
        assert_eq!(
            config.table, table,
            "EOSFLOW_TEST_CASSANDRA must not set table= (each test uses its own table)"
        );
        let b = CassandraBackend {
            raw: RawCassandra::connect(&config),
            url,
            config,
        };
        b.drop_objects(); // leftovers of a killed earlier run with the same pid
        f(&b);
    }

    fn cql(&self) -> Cql {
        Cql::new(&self.config.keyspace, &self.config.table)
    }

    fn drop_objects(&self) {
        let cql = self.cql();
        let _ = self
            .raw
            .cql(&format!("DROP TABLE IF EXISTS {}", cql.users()));
        let _ = self
            .raw
            .cql(&format!("DROP TABLE IF EXISTS {}", cql.offsets()));
        let _ = self
            .raw
            .cql(&format!("DROP TABLE IF EXISTS {}", cql.skipped()));
    }
}

impl Drop for CassandraBackend {
    fn drop(&mut self) {
        self.drop_objects(); // best effort, also after a failed assertion
    }
}

impl Backend for CassandraBackend {
    fn add_release_v2_columns(&self) {
        let users = self.cql().users();
        for (c, t) in [("nat", "text"), ("age", "int"), ("cell", "text")] {
            self.raw
                .cql(&format!("ALTER TABLE {users} ADD {c} {t}"))
                .expect("the release's v2 columns");
        }
    }
    fn set_text(&self, id: uuid::Uuid, column: &str, value: &str) {
        use scylla::value::CqlValue;
        self.raw.cql_with(
            &format!(
                "UPDATE {} SET {column} = ? WHERE id = ?",
                self.cql().users()
            ),
            vec![CqlValue::Text(value.to_string()), CqlValue::Uuid(id)],
        );
    }
    fn dob_storage(&self) -> Option<String> {
        None
    }
    fn name(&self) -> &'static str {
        "cassandra"
    }
    fn open(&self) -> Box<dyn Sink> {
        CassandraSink::connect(&self.url, &self.config.table).expect("connect cassandra sink")
    }
    fn poison_user(&self, i: u32) -> User {
        // Cassandra and ScyllaDB refuse a mutation over half a commit log segment (16 MiB by
        // default); Cassandra 4+ also refuses a request frame over 16 MiB.
        User {
            first_name: "P".repeat(20 << 20),
            ..user("poison", i, "")
        }
    }
    fn sabotage_offsets(&self) {
        // No triggers in CQL: the offsets table goes away, so its next read or write fails.
        self.raw
            .cql(&format!("DROP TABLE {}", self.cql().offsets()))
            .expect("drop the offsets table");
    }
    fn create_v1_tables(&self, rows: &[Row]) {
        use scylla::value::CqlValue;
        let cql = self.cql();
        self.raw
            .cql(&cql.create_keyspace(&self.config.replication, true))
            .expect("create keyspace");
        // The DDL of the Cassandra sink before User v2.
        let columns: Vec<String> = v1_columns()
            .iter()
            .map(|c| match *c {
                "source_page" => format!("{c} bigint"),
                "source_index" => format!("{c} int"),
                _ => format!("{c} text"),
            })
            .collect();
        self.raw
            .cql(&format!(
                "CREATE TABLE {} (id uuid PRIMARY KEY, {})",
                cql.users(),
                columns.join(", ")
            ))
            .expect("create v1 users table");
        self.raw
            .cql(&cql.create_offsets())
            .expect("create offsets table");
        let insert = format!(
            "INSERT INTO {} (id, {}) VALUES ({})",
            cql.users(),
            v1_columns().join(", "),
            vec!["?"; v1_columns().len() + 1].join(", ")
        );
        for row in rows {
            let u = &row.user;
            let text = |s: &str| Some(CqlValue::Text(s.to_string()));
            let values = vec![
                Some(CqlValue::Uuid(row.id)),
                text(&u.source_name),
                text(&u.source_seed),
                Some(CqlValue::BigInt(u.source_page)),
                Some(CqlValue::Int(u.source_index)),
                u.external_id.as_deref().and_then(text),
                text(&u.first_name),
                text(&u.last_name),
                text(&u.gender),
                text(&u.address),
                text(&u.post_code),
                text(&u.email),
                text(&u.username),
                text(&u.dob),
                text(&u.registered_date),
                text(&u.phone),
                text(&u.picture),
            ];
            self.raw.cql_with(&insert, values);
        }
    }
}
