//! PostgreSQL sink (synchronous `postgres` client): rows and offsets in one transaction.
//!
//! A commit is `BEGIN`, one `INSERT … SELECT * FROM UNNEST($1::uuid[], …) ON CONFLICT (id) DO
//! UPDATE` per [`ROWS_PER_STATEMENT`] rows (one array parameter per column, so a 10 000-row batch
//! is 5 round trips, never 10 000), one offsets upsert keeping `GREATEST(old, new)`, `COMMIT`.
//! Rows are de-duplicated by id first (last wins): PostgreSQL refuses to let one `ON CONFLICT`
//! statement touch the same row twice.
//!
//! The sync client runs its own small Tokio runtime: call it from a plain thread or
//! `tokio::task::spawn_blocking`, never directly from async code.
//!
//! Schema (`{table}` checked by [`check_table_name`], and short enough for `{table}_offsets` to fit
//! PostgreSQL's 63-byte identifiers):
//!
//! ```sql
//! CREATE TABLE IF NOT EXISTS {table} (id UUID PRIMARY KEY, source_name TEXT NOT NULL, …,
//!     source_page BIGINT NOT NULL, source_index INTEGER NOT NULL, external_id TEXT, …,
//!     picture TEXT NOT NULL, nat TEXT, age INTEGER, cell TEXT);
//! CREATE TABLE IF NOT EXISTS {table}_offsets (consumer_group TEXT NOT NULL, topic TEXT NOT NULL,
//!     "partition" INTEGER NOT NULL, next_offset BIGINT NOT NULL,
//!     PRIMARY KEY (consumer_group, topic, "partition"));
//! ```
//!
//! A users table created before User v2 lacks `nat`, `age` and `cell`: [`Sink::ensure_schema`]
//! adds them (`ALTER TABLE … ADD COLUMN IF NOT EXISTS`, nullable, so old rows read back `None`).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, Config, NoTls, Statement};
use uuid::Uuid;

use super::{check_table_name, redact_url, IdCounts, Row, Sink, SinkBatch, SinkError, Tables};
use crate::model::User;

/// Rows per `INSERT … UNNEST` statement (bounds one message's size; the transaction spans all).
pub const ROWS_PER_STATEMENT: usize = 2000;

/// Connect timeout used when the URL does not set `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The user columns after `id`, in [`User`] field order, with their PostgreSQL types.
const USER_COLUMNS: [(&str, &str); 19] = [
    ("source_name", "text"),
    ("source_seed", "text"),
    ("source_page", "int8"),
    ("source_index", "int4"),
    ("external_id", "text"),
    ("first_name", "text"),
    ("last_name", "text"),
    ("gender", "text"),
    ("address", "text"),
    ("post_code", "text"),
    ("email", "text"),
    ("username", "text"),
    ("dob", "text"),
    ("registered_date", "text"),
    ("phone", "text"),
    ("picture", "text"),
    ("nat", "text"),
    ("age", "int4"),
    ("cell", "text"),
];

/// Nullable user columns (all others are `NOT NULL`).
const NULLABLE_COLUMNS: [&str; 4] = ["external_id", "nat", "age", "cell"];

/// Columns added after the first schema (User v2), with their DDL types: `ensure_schema` adds them
/// to a table an older eosflow created.
const ADDED_COLUMNS: [(&str, &str); 3] = [("nat", "TEXT"), ("age", "INTEGER"), ("cell", "TEXT")];

/// A [`Sink`] over one PostgreSQL connection.
pub struct PostgresSink {
    client: Client,
    /// The URL without its password.
    describe: String,
    table: String,
    upsert_rows: Option<Statement>,
    upsert_offsets: Option<Statement>,
}

impl PostgresSink {
    /// Connect to `url` (`postgres://USER:PASS@HOST:PORT/DB`, libpq key=value also accepted).
    pub fn connect(url: &str, table: &str) -> Result<Box<PostgresSink>, SinkError> {
        check_table_name(table)?;
        let secrets = secrets_of(url);
        let describe = describe_url(url, &secrets);
        let connect_err = |detail: String| SinkError::Connect {
            sink: describe.clone(),
            detail: scrub(detail, &secrets),
        };
        if table.len() + "_offsets".len() > 63 {
            return Err(SinkError::BadUrl {
                url: table.to_string(),
                detail: format!(
                    "table name too long for PostgreSQL: {table}_offsets must fit 63 bytes"
                ),
            });
        }
        let mut config: Config = url.parse().map_err(|e: postgres::Error| {
            connect_err(format!("bad connection URL: {}", error_detail(&e)))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(DEFAULT_CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("eosflow");
        }
        let client = config
            .connect(NoTls)
            .map_err(|e| connect_err(error_detail(&e)))?;
        tracing::debug!(sink = %describe, table, "postgres: connected");
        Ok(Box::new(PostgresSink {
            client,
            describe,
            table: table.to_string(),
            upsert_rows: None,
            upsert_offsets: None,
        }))
    }

    fn op_err(&self, operation: &'static str, e: &postgres::Error) -> SinkError {
        let mut detail = error_detail(e);
        if e.code() == Some(&SqlState::UNDEFINED_TABLE) {
            detail.push_str(
                " (has the schema been created? run ensure_schema / the processor first)",
            );
        } else if e.is_closed() {
            detail.push_str(" (the connection is gone: reconnect)");
        }
        SinkError::Operation {
            sink: self.describe.clone(),
            operation,
            detail,
        }
    }

    /// Creates the tables, then adds the [`ADDED_COLUMNS`] a table of an older eosflow lacks.
    /// The columns are looked up first, so an up-to-date table is never `ALTER`ed (which would
    /// take an exclusive lock on every start).
    fn create_and_migrate(&mut self, create_sql: &str) -> Result<(), postgres::Error> {
        self.client.batch_execute(create_sql)?;
        let present: Vec<String> = self
            .client
            .query(
                "SELECT attname::text FROM pg_attribute \
                 WHERE attrelid = to_regclass($1) AND attnum > 0 AND NOT attisdropped",
                &[&self.table],
            )?
            .iter()
            .map(|r| r.try_get(0))
            .collect::<Result<_, _>>()?;
        let missing: Vec<String> = ADDED_COLUMNS
            .iter()
            .filter(|(c, _)| !present.iter().any(|p| p == c))
            .map(|(c, ty)| format!("ADD COLUMN IF NOT EXISTS {c} {ty}"))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let t = &self.table;
        tracing::info!(sink = %self.describe, table = %t, added = missing.len(),
            "postgres: migrating the users table to the User v2 columns");
        self.client
            .batch_execute(&format!("ALTER TABLE {t} {}", missing.join(", ")))
    }

    /// The two upsert statements, prepared once per connection.
    fn prepare_commit(&mut self) -> Result<(Statement, Statement), postgres::Error> {
        let t = &self.table;
        let rows = match &self.upsert_rows {
            Some(s) => s.clone(),
            None => {
                let cols = USER_COLUMNS.map(|(c, _)| c).join(", ");
                let arrays = USER_COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(i, (_, ty))| format!("${}::{ty}[]", i + 2))
                    .collect::<Vec<_>>()
                    .join(", ");
                let updates = USER_COLUMNS
                    .map(|(c, _)| format!("{c} = EXCLUDED.{c}"))
                    .join(", ");
                let sql = format!(
                    "INSERT INTO {t} (id, {cols}) SELECT * FROM UNNEST($1::uuid[], {arrays}) \
                     ON CONFLICT (id) DO UPDATE SET {updates}"
                );
                let s = self.client.prepare(&sql)?;
                self.upsert_rows = Some(s.clone());
                s
            }
        };
        let offsets = match &self.upsert_offsets {
            Some(s) => s.clone(),
            None => {
                let sql = format!(
                    "INSERT INTO {t}_offsets (consumer_group, topic, \"partition\", next_offset) \
                     SELECT $1::text, $2::text, p, o FROM UNNEST($3::int4[], $4::int8[]) AS u(p, o) \
                     ON CONFLICT (consumer_group, topic, \"partition\") DO UPDATE SET \
                     next_offset = GREATEST({t}_offsets.next_offset, EXCLUDED.next_offset)"
                );
                let s = self.client.prepare(&sql)?;
                self.upsert_offsets = Some(s.clone());
                s
            }
        };
        Ok((rows, offsets))
    }

    fn try_commit(&mut self, batch: &SinkBatch) -> Result<(), postgres::Error> {
        let (upsert_rows, upsert_offsets) = self.prepare_commit()?;
        let rows = dedupe_last_wins(&batch.rows);
        // Dropping `tx` without commit (any `?` below) rolls everything back.
        let mut tx = self.client.transaction()?;
        for chunk in rows.chunks(ROWS_PER_STATEMENT) {
            let cols = Columns::of(chunk);
            tx.execute(&upsert_rows, &cols.params())?;
        }
        if !batch.next_offsets.is_empty() {
            let partitions: Vec<i32> = batch.next_offsets.keys().copied().collect();
            let offsets: Vec<i64> = batch.next_offsets.values().copied().collect();
            tx.execute(
                &upsert_offsets,
                &[&batch.group, &batch.topic, &partitions, &offsets],
            )?;
        }
        tx.commit()
    }
}

/// One `Vec` per column of a chunk of rows: the UNNEST array parameters.
struct Columns<'a> {
    id: Vec<Uuid>,
    page: Vec<i64>,
    index: Vec<i32>,
    external_id: Vec<Option<&'a str>>,
    nat: Vec<Option<&'a str>>,
    age: Vec<Option<i32>>,
    cell: Vec<Option<&'a str>>,
    /// source_name, source_seed, then first_name … picture: the 13 TEXT NOT NULL columns.
    text: [Vec<&'a str>; 13],
}

impl<'a> Columns<'a> {
    fn of(rows: &[&'a Row]) -> Self {
        let mut c = Columns {
            id: Vec::with_capacity(rows.len()),
            page: Vec::with_capacity(rows.len()),
            index: Vec::with_capacity(rows.len()),
            external_id: Vec::with_capacity(rows.len()),
            nat: Vec::with_capacity(rows.len()),
            age: Vec::with_capacity(rows.len()),
            cell: Vec::with_capacity(rows.len()),
            text: std::array::from_fn(|_| Vec::with_capacity(rows.len())),
        };
        for row in rows {
            let u = &row.user;
            c.id.push(row.id);
            c.page.push(u.source_page);
            c.index.push(u.source_index);
            c.external_id.push(u.external_id.as_deref());
            c.nat.push(u.nat.as_deref());
            c.age.push(u.age);
            c.cell.push(u.cell.as_deref());
            let texts = [
                &u.source_name,
                &u.source_seed,
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
            ];
            for (col, value) in c.text.iter_mut().zip(texts) {
                col.push(value.as_str());
            }
        }
        c
    }

    /// Parameters in statement order: id, then [`USER_COLUMNS`].
    fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let [name, seed, first, last, gender, address, post, email, user, dob, reg, phone, pic] =
            &self.text;
        vec![
            &self.id,
            name,
            seed,
            &self.page,
            &self.index,
            &self.external_id,
            first,
            last,
            gender,
            address,
            post,
            email,
            user,
            dob,
            reg,
            phone,
            pic,
            &self.nat,
            &self.age,
            &self.cell,
        ]
    }
}

/// The rows with one entry per id: the value of the last occurrence, at the first one's place.
fn dedupe_last_wins(rows: &[Row]) -> Vec<&Row> {
    let mut position: HashMap<Uuid, usize> = HashMap::with_capacity(rows.len());
    let mut out: Vec<&Row> = Vec::with_capacity(rows.len());
    for row in rows {
        match position.get(&row.id) {
            Some(&i) => out[i] = row,
            None => {
                position.insert(row.id, out.len());
                out.push(row);
            }
        }
    }
    out
}

/// A one-line description of a client or server error: SQLSTATE, message, detail, hint.
fn error_detail(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{} (SQLSTATE {})", db.message(), db.code().code());
            if let Some(detail) = db.detail() {
                s.push_str(&format!("; detail: {detail}"));
            }
            if let Some(hint) = db.hint() {
                s.push_str(&format!("; hint: {hint}"));
            }
            s
        }
        None => {
            // The client's Display is only the kind ("error connecting to server"): add causes.
            let mut s = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(cause) = source {
                s.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            s
        }
    }
}

/// The password of `url` (raw and percent-decoded), to keep it out of error messages.
fn secrets_of(url: &str) -> Vec<String> {
    let mut secrets = Vec::new();
    if let Some((_, rest)) = url.split_once("://") {
        let authority = rest.split('/').next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if let Some((_, password)) = userinfo.split_once(':') {
                secrets.push(password.to_string());
            }
        }
    }
    if let Ok(config) = url.parse::<Config>() {
        if let Some(password) = config.get_password() {
            secrets.push(String::from_utf8_lossy(password).into_owned());
        }
    }
    secrets.retain(|s| !s.is_empty());
    secrets
}

/// The URL without password: [`redact_url`] for URLs; for a libpq `key=value` string, the
/// `password=` pair dropped (and the password scrubbed, should it be quoted or odd).
fn describe_url(url: &str, secrets: &[String]) -> String {
    if url.contains("://") {
        return redact_url(url);
    }
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|kv| !kv.starts_with("password="))
        .collect();
    scrub(kept.join(" "), secrets)
}

fn scrub(mut text: String, secrets: &[String]) -> String {
    for secret in secrets {
        text = text.replace(secret.as_str(), "***");
    }
    text
}

fn user_from_row(r: &postgres::Row) -> Result<User, postgres::Error> {
    Ok(User {
        source_name: r.try_get(0)?,
        source_seed: r.try_get(1)?,
        source_page: r.try_get(2)?,
        source_index: r.try_get(3)?,
        external_id: r.try_get(4)?,
        first_name: r.try_get(5)?,
        last_name: r.try_get(6)?,
        gender: r.try_get(7)?,
        address: r.try_get(8)?,
        post_code: r.try_get(9)?,
        email: r.try_get(10)?,
        username: r.try_get(11)?,
        dob: r.try_get(12)?,
        registered_date: r.try_get(13)?,
        phone: r.try_get(14)?,
        picture: r.try_get(15)?,
        nat: r.try_get(16)?,
        age: r.try_get(17)?,
        cell: r.try_get(18)?,
    })
}

/// `CREATE TABLE IF NOT EXISTS` (or `ADD COLUMN IF NOT EXISTS`) racing another session can fail
/// with these: retry once.
fn is_create_race(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::UNIQUE_VIOLATION
            || *c == SqlState::DUPLICATE_TABLE
            || *c == SqlState::DUPLICATE_OBJECT
            || *c == SqlState::DUPLICATE_COLUMN
    )
}

impl Sink for PostgresSink {
    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn ensure_schema(&mut self) -> Result<(), SinkError> {
        let t = self.table.clone();
        let user_cols = USER_COLUMNS
            .map(|(c, ty)| match (c, ty) {
                (_, "int4") if NULLABLE_COLUMNS.contains(&c) => format!("{c} INTEGER"),
                _ if NULLABLE_COLUMNS.contains(&c) => format!("{c} TEXT"),
                (_, "int8") => format!("{c} BIGINT NOT NULL"),
                (_, "int4") => format!("{c} INTEGER NOT NULL"),
                _ => format!("{c} TEXT NOT NULL"),
            })
            .join(", ");
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {t} (id UUID PRIMARY KEY, {user_cols});
             CREATE TABLE IF NOT EXISTS {t}_offsets (
                 consumer_group TEXT NOT NULL,
                 topic TEXT NOT NULL,
                 \"partition\" INTEGER NOT NULL,
                 next_offset BIGINT NOT NULL,
                 PRIMARY KEY (consumer_group, topic, \"partition\")
             );"
        );
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.create_and_migrate(&sql) {
                Ok(()) => break,
                Err(e) if attempt == 1 && is_create_race(&e) => {
                    tracing::debug!(sink = %self.describe, error = %error_detail(&e),
                        "postgres: concurrent CREATE TABLE, retrying once");
                }
                Err(e) => return Err(self.op_err("ensure_schema", &e)),
            }
        }
        tracing::debug!(sink = %self.describe, table = %t, "postgres: schema ready");
        Ok(())
    }

    fn load_offsets(&mut self, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, SinkError> {
        let sql = format!(
            "SELECT \"partition\", next_offset FROM {}_offsets \
             WHERE consumer_group = $1 AND topic = $2",
            self.table
        );
        let rows = self
            .client
            .query(&sql, &[&group, &topic])
            .map_err(|e| self.op_err("load_offsets", &e))?;
        rows.iter()
            .map(|r| Ok((r.try_get::<_, i32>(0)?, r.try_get::<_, i64>(1)?)))
            .collect::<Result<BTreeMap<_, _>, postgres::Error>>()
            .map_err(|e| self.op_err("load_offsets", &e))
    }

    fn commit(&mut self, batch: &SinkBatch) -> Result<(), SinkError> {
        if batch.rows.is_empty() && batch.next_offsets.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.try_commit(batch)
            .map_err(|e| self.op_err("commit", &e))?;
        tracing::debug!(
            sink = %self.describe,
            rows = batch.rows.len(),
            partitions = batch.next_offsets.len(),
            group = %batch.group,
            topic = %batch.topic,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "postgres: committed batch"
        );
        Ok(())
    }

    fn reset_offsets(&mut self, group: &str, topic: &str) -> Result<(), SinkError> {
        let sql = format!(
            "DELETE FROM {}_offsets WHERE consumer_group = $1 AND topic = $2",
            self.table
        );
        let deleted = self
            .client
            .execute(&sql, &[&group, &topic])
            .map_err(|e| self.op_err("reset_offsets", &e))?;
        tracing::info!(sink = %self.describe, group, topic, deleted, "postgres: offsets reset");
        Ok(())
    }

    fn id_counts(&mut self) -> Result<IdCounts, SinkError> {
        let sql = format!("SELECT id, COUNT(*) FROM {} GROUP BY id", self.table);
        let rows = self
            .client
            .query(&sql, &[])
            .map_err(|e| self.op_err("id_counts", &e))?;
        rows.iter()
            .map(|r| {
                let count: i64 = r.try_get(1)?;
                Ok((r.try_get::<_, Uuid>(0)?, u64::try_from(count).unwrap_or(0)))
            })
            .collect::<Result<IdCounts, postgres::Error>>()
            .map_err(|e| self.op_err("id_counts", &e))
    }

    fn get(&mut self, id: Uuid) -> Result<Option<User>, SinkError> {
        let cols = USER_COLUMNS.map(|(c, _)| c).join(", ");
        let sql = format!("SELECT {cols} FROM {} WHERE id = $1", self.table);
        let row = self
            .client
            .query_opt(&sql, &[&id])
            .map_err(|e| self.op_err("get", &e))?;
        row.as_ref()
            .map(user_from_row)
            .transpose()
            .map_err(|e| self.op_err("get", &e))
    }

    fn tables(&mut self) -> Result<Tables, SinkError> {
        let offsets = format!("{}_offsets", self.table);
        let row = self
            .client
            .query_one(
                "SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL",
                &[&self.table, &offsets],
            )
            .map_err(|e| self.op_err("tables", &e))?;
        let present = |i| row.try_get::<_, bool>(i);
        let (users, offsets_present) = present(0)
            .and_then(|u| Ok((u, present(1)?)))
            .map_err(|e| self.op_err("tables", &e))?;
        Ok(Tables::new(&self.table, users, &offsets, offsets_present))
    }
}
