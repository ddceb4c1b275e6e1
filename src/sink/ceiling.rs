//! The bench's ceiling of each sink: a raw writer of the same rows in batches of the same size,
//! doing the least a client can (SQLite: one prepared INSERT per row in a transaction per batch,
//! with the sink's durability pragmas; PostgreSQL: `COPY … FROM STDIN` per batch in a
//! transaction; Cassandra: the prepared INSERT with the sink's concurrency). No offsets, no
//! upserts, no retries. The table is created by the sink itself, so the rows land in the same
//! columns.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use rusqlite::params_from_iter;
use rusqlite::types::{ToSqlOutput, Value};

use super::url::{Scheme, SinkUrl};
use super::{cassandra, sql, Row, SinkError};
use crate::model::FieldValue;

impl SinkUrl {
    /// Write `rows` raw into this URL's table (created as the sink creates it, emptied first),
    /// `batch` rows per transaction; the wall time of the writes.
    pub fn ceiling(&self, rows: &[Row], batch: usize) -> Result<Duration, SinkError> {
        self.emptied()?;
        let fail = |operation: &'static str, e: &dyn std::fmt::Display| self.fail(operation, e);
        let batch = batch.max(1);
        let table = self.table();
        let insert_columns = format!("id, {}", sql::columns());
        match self.scheme() {
            Scheme::Sqlite => {
                let mut conn =
                    rusqlite::Connection::open(self.sqlite_path()).map_err(|e| fail("open", &e))?;
                conn.pragma_update(None, "journal_mode", "WAL")
                    .and_then(|()| super::sqlite::durable_and_cached(&conn))
                    .map_err(|e| fail("prepare", &e))?;
                let marks = vec!["?"; 1 + crate::model::USER_FIELDS.len()].join(", ");
                let text = format!("INSERT INTO {table} ({insert_columns}) VALUES ({marks})");
                let started = Instant::now();
                for slice in rows.chunks(batch) {
                    let tx = conn.transaction().map_err(|e| fail("begin", &e))?;
                    {
                        let mut stmt = tx.prepare_cached(&text).map_err(|e| fail("prepare", &e))?;
                        for row in slice {
                            let id = Value::Text(row.id.hyphenated().to_string());
                            let values = row.user.values();
                            let params = std::iter::once(ToSqlOutput::Owned(id))
                                .chain(values.iter().map(|v| sqlite_value(*v)));
                            stmt.execute(params_from_iter(params))
                                .map_err(|e| fail("insert", &e))?;
                        }
                    }
                    tx.commit().map_err(|e| fail("commit", &e))?;
                }
                Ok(started.elapsed())
            }
            Scheme::Postgres => {
                let mut client = postgres::Client::connect(self.url(), postgres::NoTls)
                    .map_err(|e| fail("connect", &e))?;
                let copy = format!("COPY {table} ({insert_columns}) FROM STDIN");
                let started = Instant::now();
                let mut text = String::new();
                for slice in rows.chunks(batch) {
                    text.clear();
                    for row in slice {
                        copy_line(&mut text, row);
                    }
                    let mut tx = client.transaction().map_err(|e| fail("begin", &e))?;
                    let mut writer = tx.copy_in(&copy).map_err(|e| fail("copy", &e))?;
                    std::io::Write::write_all(&mut writer, text.as_bytes())
                        .map_err(|e| fail("copy", &e))?;
                    writer.finish().map_err(|e| fail("copy", &e))?;
                    tx.commit().map_err(|e| fail("commit", &e))?;
                }
                Ok(started.elapsed())
            }
            Scheme::Cassandra => {
                cassandra::CassandraSink::connect(self.url(), table)?.insert_loop(rows, batch)
            }
        }
    }
}

impl SinkUrl {
    /// Create this URL's table as the sink does and empty it. Cassandra's table is left as it
    /// is: its writes are blind upserts, so a row already there costs the same.
    pub fn emptied(&self) -> Result<(), SinkError> {
        self.open()?.ensure_schema()?;
        let table = self.table();
        match self.scheme() {
            Scheme::Sqlite => rusqlite::Connection::open(self.sqlite_path())
                .and_then(|c| c.execute(&format!("DELETE FROM {table}"), []))
                .map(drop)
                .map_err(|e| self.fail("empty the table", &e)),
            Scheme::Postgres => postgres::Client::connect(self.url(), postgres::NoTls)
                .and_then(|mut c| c.batch_execute(&format!("TRUNCATE {table}")))
                .map_err(|e| self.fail("empty the table", &e)),
            Scheme::Cassandra => Ok(()),
        }
    }

    fn fail(&self, operation: &'static str, e: &dyn std::fmt::Display) -> SinkError {
        SinkError::Operation {
            sink: self.redacted(),
            operation,
            detail: e.to_string(),
        }
    }
}

fn sqlite_value(v: FieldValue<'_>) -> ToSqlOutput<'_> {
    use rusqlite::types::ValueRef;
    match v {
        FieldValue::Null => ToSqlOutput::Owned(Value::Null),
        FieldValue::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        FieldValue::Long(n) => ToSqlOutput::Owned(Value::Integer(n)),
        FieldValue::Int(n) => ToSqlOutput::Owned(Value::Integer(i64::from(n))),
    }
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, `\\`, tab, newline and carriage
/// return escaped.
fn copy_line(out: &mut String, row: &Row) {
    let _ = write!(out, "{}", row.id.hyphenated());
    for v in row.user.values() {
        out.push('\t');
        match v {
            FieldValue::Null => out.push_str("\\N"),
            FieldValue::Text(s) => {
                for c in s.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\t' => out.push_str("\\t"),
                        '\n' => out.push_str("\\n"),
                        '\r' => out.push_str("\\r"),
                        c => out.push(c),
                    }
                }
            }
            FieldValue::Long(n) => {
                let _ = write!(out, "{n}");
            }
            FieldValue::Int(n) => {
                let _ = write!(out, "{n}");
            }
        }
    }
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_lines_escape_what_copy_text_format_needs() {
        let mut user = crate::source::generator::generate_user("c", 1, 0, "generator");
        user.address = "a\tb\\c\nd\re".into();
        let row = Row::new(user);
        let mut line = String::new();
        copy_line(&mut line, &row);
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "{line}");
        assert!(line.contains("a\\tb\\\\c\\nd\\re"), "{line}");
        let fields = line.trim_end().split('\t').count();
        assert_eq!(fields, 1 + crate::model::USER_FIELDS.len());
    }
}
