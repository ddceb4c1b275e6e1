//! SQLite sink: one file, rows and offsets committed in one `BEGIN IMMEDIATE` transaction.
//!
//! Durability is part of the exactly-once argument, so the connection runs in WAL mode with
//! `synchronous=FULL` (a returned [`Sink::commit`] survives power loss), and waits up to
//! [`BUSY_TIMEOUT`] for locks so a verifier and a processor can share the file.
//!
//! Schema (`{table}` checked by [`check_table_name`]; `STRICT` tables, so SQLite enforces the
//! column types; SQLite has no UUID or timestamp type, so `id` is TEXT with a `CHECK` for the
//! lowercase hyphenated UUID, and a timestamp field TEXT with a `CHECK` for the canonical
//! ISO-8601 instant, see [`schema`]): one column per field of the User field table
//! ([`crate::model::USER_FIELDS`]), TEXT or INTEGER by its kind, `NOT NULL` unless optional; and
//! the offsets table:
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, source_name TEXT NOT NULL, …,
//!     source_page INTEGER NOT NULL, …, nat TEXT, age INTEGER, cell TEXT) STRICT;
//! CREATE TABLE IF NOT EXISTS {table}_offsets (consumer_group TEXT NOT NULL, topic TEXT NOT NULL,
//!     "partition" INTEGER NOT NULL, next_offset INTEGER NOT NULL,
//!     PRIMARY KEY (consumer_group, topic, "partition")) STRICT;
//! ```
//!
//! A users table an older eosflow created is migrated by [`Sink::ensure_schema`] inside its
//! `BEGIN IMMEDIATE` transaction: newer optional columns (`nat`, `age`, `cell` before User v2)
//! are added, nullable; a table without the `CHECK`s (before native types) is rebuilt with them
//! ([`schema`]).

mod schema;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::types::{ToSql, ToSqlOutput, ValueRef};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use super::migrate::Wanted;
use super::{
    check_table_name, sql, IdCounts, SchemaPlan, Sink, SinkBatch, SinkError, SkippedRange, Tables,
};
use crate::core::processor::Skipped;
use crate::model::{FieldData, FieldError, FieldKind, FieldValue, User, USER_FIELD_COUNT};

/// How long a statement waits for another connection's lock before failing with "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A field value as an SQLite parameter.
struct Param<'a>(FieldValue<'a>);

impl ToSql for Param<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self.0 {
            FieldValue::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            FieldValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            FieldValue::Long(v) => ToSqlOutput::Owned(v.into()),
            FieldValue::Int(v) => ToSqlOutput::Owned(i64::from(v).into()),
        })
    }
}

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
        let mode = wal_mode(&conn)
            .map_err(|e| connect_err(format!("switching to WAL journal mode: {e}")))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // E.g. ":memory:" databases answer "memory"; still correct, just not shareable.
            tracing::warn!(path, mode, "sqlite: WAL journal mode unavailable");
        }
        durable_and_cached(&conn).map_err(|e| {
            connect_err(format!(
                "setting synchronous, cache_size and wal_autocheckpoint: {e}"
            ))
        })?;

        let cols = sql::columns();
        let placeholders = (1..=USER_FIELD_COUNT + 1)
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let updates = sql::update_all_from("excluded");
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
                let id = row.id.hyphenated().to_string();
                let values = row.user.values().map(Param);
                let params = std::iter::once(&id as &dyn ToSql)
                    .chain(values.iter().map(|v| v as &dyn ToSql));
                stmt.execute(params_from_iter(params))?;
            }
            let mut stmt = tx.prepare_cached(&self.upsert_offset_sql)?;
            for (partition, next_offset) in &batch.next_offsets {
                stmt.execute(params![batch.group, batch.topic, partition, next_offset])?;
            }
            if !batch.skipped.is_empty() {
                let mut stmt = tx.prepare_cached(&sql::insert_skipped(&self.table, '?'))?;
                for s in &batch.skipped {
                    stmt.execute(params![batch.group, batch.topic, s.partition, s.from, s.to])?;
                }
            }
        }
        tx.commit()
    }
}

/// A user from a row of `SELECT {columns}` (field-table order).
fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<User, FieldError>> {
    let mut i = 0;
    let mut failed = None;
    let user = User::from_fields(|field| {
        let column = i;
        i += 1;
        let data = match field.kind {
            FieldKind::Text | FieldKind::Timestamp => r
                .get::<_, Option<String>>(column)
                .map(|v| v.map(FieldData::Text)),
            FieldKind::Long => r
                .get::<_, Option<i64>>(column)
                .map(|v| v.map(FieldData::Long)),
            FieldKind::Int => r
                .get::<_, Option<i32>>(column)
                .map(|v| v.map(FieldData::Int)),
        };
        match data {
            Ok(value) => Ok(value.unwrap_or(FieldData::Null)),
            Err(e) => {
                let detail = e.to_string();
                failed.get_or_insert(e);
                Err(FieldError {
                    field: field.name,
                    detail,
                })
            }
        }
    });
    match failed {
        Some(e) => Err(e),
        None => Ok(user),
    }
}

impl Sink for SqliteSink {
    fn describe(&self) -> String {
        format!("sqlite://{}", self.path)
    }

    fn ensure_schema(&mut self) -> Result<(), SinkError> {
        let t = self.table.clone();
        // BEGIN IMMEDIATE takes the write lock up front (waiting up to BUSY_TIMEOUT), so two
        // processes creating or migrating the schema at once are serialised and the second sees
        // the tables as the first left them.
        let result = (|| {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            // A table of an older eosflow is brought to this build's columns first, in the same
            // transaction (so a concurrent ensure_schema sees it all or none).
            let steps = schema::migrate(&tx, &t)?;
            if !steps.is_empty() {
                tracing::info!(table = %t, ?steps, "sqlite: migrated the users table");
            }
            tx.execute_batch(&format!(
                "{}
                 {}",
                schema::create_users(&t, &Wanted::user()),
                sql::create_offsets_table(&t, "TEXT", "INTEGER", "INTEGER", " STRICT")
                    + &sql::create_skipped_table(&t, "TEXT", "INTEGER", "INTEGER", " STRICT")
            ))?;
            tx.commit()?;
            Ok(())
        })();
        result.map_err(|e| match e {
            schema::Migration::Db(e) => self.op_err("ensure_schema", e),
            schema::Migration::Refused(r) => SinkError::Operation {
                sink: self.describe(),
                operation: "ensure_schema",
                detail: format!("cannot migrate table {t}: {r}"),
            },
        })?;
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

    fn skipped(&mut self, topic: &str) -> Result<Vec<SkippedRange>, SinkError> {
        let sql = sql::select_skipped(&self.table, '?');
        let result = (|| {
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![topic], |r| {
                Ok(SkippedRange {
                    group: r.get(0)?,
                    range: Skipped {
                        partition: r.get(1)?,
                        from: r.get(2)?,
                        to: r.get(3)?,
                    },
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })();
        result.map_err(|e| self.op_err("skipped", e))
    }

    fn commit(&mut self, batch: &SinkBatch) -> Result<(), SinkError> {
        if batch.rows.is_empty() && batch.next_offsets.is_empty() && batch.skipped.is_empty() {
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
        let row = result.map_err(|e| self.op_err("get", e))?;
        row.transpose().map_err(|e| SinkError::Operation {
            sink: self.describe(),
            operation: "get",
            detail: format!("row {id} does not fit a User: {e}"),
        })
    }

    fn plan_schema(&mut self, wanted: &[Wanted]) -> Result<SchemaPlan, SinkError> {
        let t = self.table.clone();
        let result = (|| {
            let tx = self.conn.transaction()?;
            schema::plan(&tx, &t, wanted)
        })();
        result.map_err(|e| self.op_err("plan_schema", e))
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

/// Switch `conn` to WAL and answer the journal mode now in force. Several connections opening a
/// new file at once can find it locked: the switch needs the file to itself, and SQLite answers
/// that at once instead of waiting out the busy timeout, so it is retried within that timeout.
fn wal_mode(conn: &Connection) -> rusqlite::Result<String> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0)) {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

/// Every commit reaches the disk (`synchronous=FULL`, with WAL); a 16 MiB page cache, so
/// inserts of random UUID keys into a table of millions of rows do not read the B-tree from
/// the file again and again (SQLite's default cache is 2 MiB). 32 MiB was within noise of 16
/// MiB in throughput at 1M rows (50.9k against 46.8k rows/s, one run each) and kept the
/// processor's peak RSS at 104 MB against 84 MB.
///
/// The WAL is checkpointed into the database every [`WAL_CHECKPOINT_PAGES`] pages instead of
/// SQLite's 1,000: a batch of random keys dirties thousands of B-tree pages, so at 1,000 every
/// commit was followed by a checkpoint copying each of them again. Measured with 5,000-row
/// batches: 1M rows 51k -> 69k rows/s, 300k rows 97k -> 136k rows/s. Durability is the same
/// (each commit still syncs the WAL); the cost is a WAL file of up to ~80 MB beside the
/// database. The bench's raw writer takes the same settings.
pub(super) fn durable_and_cached(conn: &Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "cache_size", -16384)?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_CHECKPOINT_PAGES)
}

/// Pages the WAL may hold before SQLite copies them into the database (see
/// [`durable_and_cached`]).
const WAL_CHECKPOINT_PAGES: i64 = 20_000;
