//! SQLite sink: one file, rows and offsets committed in one `BEGIN IMMEDIATE` transaction.
//!
//! Durability is part of the exactly-once argument, so the connection runs in WAL mode with
//! `synchronous=FULL` (a returned [`Sink::commit`] survives power loss), and waits up to
//! [`BUSY_TIMEOUT`] for locks so a verifier and a processor can share the file.
//!
//! Schema (`{table}` checked by [`check_table_name`]; `STRICT` tables, so SQLite enforces the
//! column types; `id` is the lowercase hyphenated UUID text):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, source_name TEXT NOT NULL, …,
//!     source_page INTEGER NOT NULL, source_index INTEGER NOT NULL, external_id TEXT, …,
//!     picture TEXT NOT NULL, nat TEXT, age INTEGER, cell TEXT) STRICT;
//! CREATE TABLE IF NOT EXISTS {table}_offsets (consumer_group TEXT NOT NULL, topic TEXT NOT NULL,
//!     "partition" INTEGER NOT NULL, next_offset INTEGER NOT NULL,
//!     PRIMARY KEY (consumer_group, topic, "partition")) STRICT;
//! ```
//!
//! A users table created before User v2 lacks `nat`, `age` and `cell`: [`Sink::ensure_schema`]
//! adds them (checking `pragma table_info`, inside its `BEGIN IMMEDIATE` transaction; nullable,
//! so old rows read back `None`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::{check_table_name, IdCounts, Sink, SinkBatch, SinkError, Tables};
use crate::model::User;

/// How long a statement waits for another connection's lock before failing with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The user columns after `id`, in [`User`] field order.
const USER_COLUMNS: [&str; 19] = [
    "source_name",
    "source_seed",
    "source_page",
    "source_index",
    "external_id",
    "first_name",
    "last_name",
    "gender",
    "address",
    "post_code",
    "email",
    "username",
    "dob",
    "registered_date",
    "phone",
    "picture",
    "nat",
    "age",
    "cell",
];

/// Columns added after the first schema (User v2), with their types: `ensure_schema` adds them to
/// a table an older eosflow created.
const ADDED_COLUMNS: [(&str, &str); 3] = [("nat", "TEXT"), ("age", "INTEGER"), ("cell", "TEXT")];

/// A [`Sink`] over one SQLite file.
pub struct SqliteSink {
    conn: Connection,
    path: String,
    table: String,
    /// SQL texts, built once (also the keys of rusqlite's prepared-statement cache).
    upsert_row_sql: String,
    upsert_offset_sql: String,
    select_user_sql: String,
}

impl SqliteSink {
    /// Open (or create) the database file at `path`. The parent directory must exist.
    pub fn open(path: &str, table: &str) -> Result<Box<SqliteSink>, SinkError> {
        check_table_name(table)?;
        let sink_name = format!("sqlite://{path}");
        let connect_err = |detail: String| SinkError::Connect {
            sink: sink_name.clone(),
            detail,
        };
        if path.is_empty() {
            return Err(connect_err(
                "empty path; expected sqlite://PATH, e.g. sqlite://data/eosflow.db".into(),
            ));
        }
        if let Some(parent) = Path::new(path).parent() {
            if !parent.as_os_str().is_empty() && !parent.is_dir() {
                return Err(connect_err(format!(
                    "directory {} does not exist; create it first (eosflow does not create directories)",
                    parent.display()
                )));
            }
        }
        let conn = Connection::open(path).map_err(|e| connect_err(e.to_string()))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| connect_err(format!("setting busy_timeout: {e}")))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .map_err(|e| connect_err(format!("switching to WAL journal mode: {e}")))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // E.g. ":memory:" databases answer "memory"; still correct, just not shareable.
            tracing::warn!(path, mode, "sqlite: WAL journal mode unavailable");
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| connect_err(format!("setting synchronous=FULL: {e}")))?;

        let cols = USER_COLUMNS.join(", ");
        let placeholders = (1..=USER_COLUMNS.len() + 1)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let updates = USER_COLUMNS
            .iter()
            .map(|c| format!("{c} = excluded.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let upsert_row_sql = format!(
            "INSERT INTO {table} (id, {cols}) VALUES ({placeholders}) \
             ON CONFLICT (id) DO UPDATE SET {updates}"
        );
        let upsert_offset_sql = format!(
            "INSERT INTO {table}_offsets (consumer_group, topic, \"partition\", next_offset) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (consumer_group, topic, \"partition\") DO UPDATE SET \
             next_offset = MAX({table}_offsets.next_offset, excluded.next_offset)"
        );
        let select_user_sql = format!("SELECT {cols} FROM {table} WHERE id = ?1");
        tracing::debug!(path, table, "sqlite: opened");
        Ok(Box::new(SqliteSink {
            conn,
            path: path.to_string(),
            table: table.to_string(),
            upsert_row_sql,
            upsert_offset_sql,
            select_user_sql,
        }))
    }

    fn op_err(&self, operation: &'static str, e: rusqlite::Error) -> SinkError {
        let mut detail = e.to_string();
        if detail.contains("no such table") {
            detail.push_str(
                " (has the schema been created? run ensure_schema / the processor first)",
            );
        } else if detail.contains("database is locked") || detail.contains("database is busy") {
            detail.push_str(&format!(
                " (another process held the lock for more than {}s)",
                BUSY_TIMEOUT.as_secs()
            ));
        }
        SinkError::Operation {
            sink: self.describe(),
            operation,
            detail,
        }
    }

    fn try_commit(&mut self, batch: &SinkBatch) -> rusqlite::Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut stmt = tx.prepare_cached(&self.upsert_row_sql)?;
            for row in &batch.rows {
                let u = &row.user;
                stmt.execute(params![
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
                    u.nat,
                    u.age,
                    u.cell,
                ])?;
            }
            let mut stmt = tx.prepare_cached(&self.upsert_offset_sql)?;
            for (partition, next_offset) in &batch.next_offsets {
                stmt.execute(params![batch.group, batch.topic, partition, next_offset])?;
            }
        }
        tx.commit()
    }
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        source_name: r.get(0)?,
        source_seed: r.get(1)?,
        source_page: r.get(2)?,
        source_index: r.get(3)?,
        external_id: r.get(4)?,
        first_name: r.get(5)?,
        last_name: r.get(6)?,
        gender: r.get(7)?,
        address: r.get(8)?,
        post_code: r.get(9)?,
        email: r.get(10)?,
        username: r.get(11)?,
        dob: r.get(12)?,
        registered_date: r.get(13)?,
        phone: r.get(14)?,
        picture: r.get(15)?,
        nat: r.get(16)?,
        age: r.get(17)?,
        cell: r.get(18)?,
    })
}

impl Sink for SqliteSink {
    fn describe(&self) -> String {
        format!("sqlite://{}", self.path)
    }

    fn ensure_schema(&mut self) -> Result<(), SinkError> {
        let t = &self.table;
        let user_cols = USER_COLUMNS
            .iter()
            .map(|&c| match c {
                "source_page" | "source_index" => format!("{c} INTEGER NOT NULL"),
                "age" => format!("{c} INTEGER"),
                "external_id" | "nat" | "cell" => format!("{c} TEXT"),
                _ => format!("{c} TEXT NOT NULL"),
            })
            .collect::<Vec<_>>()
            .join(", ");
        // BEGIN IMMEDIATE takes the write lock up front (waiting up to BUSY_TIMEOUT), so two
        // processes creating the schema at once are serialised and the second sees the tables.
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {t} (id TEXT PRIMARY KEY NOT NULL, {user_cols}) STRICT;
             CREATE TABLE IF NOT EXISTS {t}_offsets (
                 consumer_group TEXT NOT NULL,
                 topic TEXT NOT NULL,
                 \"partition\" INTEGER NOT NULL,
                 next_offset INTEGER NOT NULL,
                 PRIMARY KEY (consumer_group, topic, \"partition\")
             ) STRICT;"
        );
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute_batch(&sql)?;
            // A table of an older eosflow lacks the User v2 columns: add them, in the same
            // transaction (so a concurrent ensure_schema sees them all or none).
            let present = {
                let mut stmt = tx.prepare("SELECT name FROM pragma_table_info(?1)")?;
                let names = stmt.query_map([t], |r| r.get::<_, String>(0))?;
                names.collect::<rusqlite::Result<Vec<String>>>()?
            };
            for (c, ty) in ADDED_COLUMNS {
                if !present.iter().any(|p| p.eq_ignore_ascii_case(c)) {
                    tracing::info!(table = %t, column = c, "sqlite: adding a User v2 column");
                    tx.execute_batch(&format!("ALTER TABLE {t} ADD COLUMN {c} {ty}"))?;
                }
            }
            tx.commit()
        })();
        result.map_err(|e| self.op_err("ensure_schema", e))?;
        tracing::debug!(sink = %self.describe(), table = %t, "sqlite: schema ready");
        Ok(())
    }

    fn load_offsets(&mut self, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, SinkError> {
        let sql = format!(
            "SELECT \"partition\", next_offset FROM {}_offsets \
             WHERE consumer_group = ?1 AND topic = ?2",
            self.table
        );
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![group, topic], |r| {
                Ok((r.get::<_, i32>(0)?, r.get::<_, i64>(1)?))
            })?;
            rows.collect::<rusqlite::Result<BTreeMap<i32, i64>>>()
        })();
        result.map_err(|e| self.op_err("load_offsets", e))
    }

    fn commit(&mut self, batch: &SinkBatch) -> Result<(), SinkError> {
        if batch.rows.is_empty() && batch.next_offsets.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        // On error the transaction is dropped, which rolls it back: nothing of the batch stays.
        self.try_commit(batch)
            .map_err(|e| self.op_err("commit", e))?;
        tracing::debug!(
            sink = %self.describe(),
            rows = batch.rows.len(),
            partitions = batch.next_offsets.len(),
            group = %batch.group,
            topic = %batch.topic,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "sqlite: committed batch"
        );
        Ok(())
    }

    fn reset_offsets(&mut self, group: &str, topic: &str) -> Result<(), SinkError> {
        let sql = format!(
            "DELETE FROM {}_offsets WHERE consumer_group = ?1 AND topic = ?2",
            self.table
        );
        let deleted = self
            .conn
            .execute(&sql, params![group, topic])
            .map_err(|e| self.op_err("reset_offsets", e))?;
        tracing::info!(sink = %self.describe(), group, topic, deleted, "sqlite: offsets reset");
        Ok(())
    }

    fn id_counts(&mut self) -> Result<IdCounts, SinkError> {
        let sql = format!("SELECT id, COUNT(*) FROM {} GROUP BY id", self.table);
        let rows = (|| {
            let mut stmt = self.conn.prepare(&sql)?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            rows.collect::<rusqlite::Result<Vec<(String, i64)>>>()
        })()
        .map_err(|e| self.op_err("id_counts", e))?;
        let mut counts = IdCounts::new();
        for (id, count) in rows {
            let uuid = Uuid::parse_str(&id).map_err(|e| SinkError::Operation {
                sink: self.describe(),
                operation: "id_counts",
                detail: format!(
                    "table {} holds an id that is not a UUID: {id:?} ({e})",
                    self.table
                ),
            })?;
            counts.insert(uuid, u64::try_from(count).unwrap_or(0));
        }
        Ok(counts)
    }

    fn get(&mut self, id: Uuid) -> Result<Option<User>, SinkError> {
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(&self.select_user_sql)?;
            stmt.query_row(params![id.hyphenated().to_string()], user_from_row)
                .optional()
        })();
        result.map_err(|e| self.op_err("get", e))
    }

    fn tables(&mut self) -> Result<Tables, SinkError> {
        let offsets = format!("{}_offsets", self.table);
        let present = |name: &str| {
            self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE)",
                params![name],
                |r| r.get::<_, bool>(0),
            )
        };
        let found = present(&self.table).and_then(|users| Ok((users, present(&offsets)?)));
        let (users, offsets_present) = found.map_err(|e| self.op_err("tables", e))?;
        Ok(Tables::new(&self.table, users, &offsets, offsets_present))
    }
}
