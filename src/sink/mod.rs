//! Sinks: where rows go. One trait, one room per database, one door ([`SinkUrl`]) that parses a
//! sink URL and opens the right one.
//!
//! The contract every sink keeps (checked by the shared contract suite in `tests/`):
//! - [`Sink::commit`] writes a whole [`SinkBatch`] — row upserts keyed by UUIDv5 **and** the
//!   consumer's next offsets (and any skipped ranges) — atomically: after a crash either all of it
//!   is visible or none.
//! - Upserts are idempotent: writing the same row twice leaves one identical row.
//! - Stored offsets never move backwards ([`Sink::commit`] keeps the larger of old and new), except
//!   through the explicit [`Sink::reset_offsets`].
//! - Row contents are a pure function of the [`User`]: no `now()`, no Kafka offsets.

pub mod cassandra;
mod ceiling;
pub mod migrate;
pub mod postgres;
mod sql;
pub mod sqlite;
mod url;

pub use url::{Scheme, SinkUrl};

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;

use crate::core::processor::Skipped;
use crate::model::User;

/// One row: the UUIDv5 key and the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: Uuid,
    pub user: User,
}

impl Row {
    pub fn new(user: User) -> Self {
        Row {
            id: user.key(),
            user,
        }
    }
}

/// What one database transaction applies: rows and, per partition of `topic`, the next offset
/// to consume (last applied offset + 1); and the ranges the group skipped on purpose (records
/// deleted before it read them, skipped with `--skip-lost-records`), kept on record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkBatch {
    pub group: String,
    pub topic: String,
    pub rows: Vec<Row>,
    pub next_offsets: BTreeMap<i32, i64>,
    pub skipped: Vec<Skipped>,
}

/// A range a group skipped, as the sink keeps it (`{table}_skipped`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SkippedRange {
    pub group: String,
    #[serde(flatten)]
    pub range: Skipped,
}

impl SinkBatch {
    /// The rows with one entry per id: the value of the last occurrence, at the first one's place
    /// (one statement may not upsert a row twice in PostgreSQL; in Cassandra the last write of a
    /// batch must win).
    pub fn rows_last_wins(&self) -> Vec<&Row> {
        let mut position: HashMap<Uuid, usize> = HashMap::with_capacity(self.rows.len());
        let mut out: Vec<&Row> = Vec::with_capacity(self.rows.len());
        for row in &self.rows {
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
}

/// What `verify` needs from a sink: every stored id with the number of rows holding it.
pub type IdCounts = BTreeMap<Uuid, u64>;

/// Errors of any sink operation. Each names the sink (URL without password) and the operation.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot connect to {sink}: {detail} (is the database running and the URL right?)")]
    Connect { sink: String, detail: String },
    #[error("{sink}: {operation} failed: {detail}")]
    Operation {
        sink: String,
        operation: &'static str,
        detail: String,
    },
    #[error("invalid sink URL {url:?}: {detail}; expected {}", url::SCHEMES)]
    BadUrl { url: String, detail: String },
}

/// A database that stores rows and consumer offsets atomically.
pub trait Sink: Send {
    /// A printable description, without secrets (e.g. `postgres://eosflow@127.0.0.1:5432/eosflow`).
    fn describe(&self) -> String;
    /// Create the users and offsets tables if missing.
    fn ensure_schema(&mut self) -> Result<(), SinkError>;
    /// The stored next offsets of `group` for `topic`, by partition.
    fn load_offsets(&mut self, group: &str, topic: &str) -> Result<BTreeMap<i32, i64>, SinkError>;
    /// Upsert rows and advance offsets in ONE transaction.
    fn commit(&mut self, batch: &SinkBatch) -> Result<(), SinkError>;
    /// Forget the stored offsets of `group` for `topic` (explicit re-processing).
    fn reset_offsets(&mut self, group: &str, topic: &str) -> Result<(), SinkError>;
    /// The ranges of `topic` any group skipped (for `verify` and `doctor`), by group and offset.
    fn skipped(&mut self, topic: &str) -> Result<Vec<SkippedRange>, SinkError>;
    /// Every stored id with its row count (for `verify`).
    fn id_counts(&mut self) -> Result<IdCounts, SinkError>;
    /// Read one row back by id.
    fn get(&mut self, id: Uuid) -> Result<Option<User>, SinkError>;
    /// Which of the users and offsets tables exist, creating nothing (for `doctor`).
    fn tables(&mut self) -> Result<Tables, SinkError>;
    /// What [`Sink::ensure_schema`] would run to give the users table the `wanted` columns
    /// ([`migrate::plan`]), running nothing (for `eosflow schema plan`).
    fn plan_schema(&mut self, wanted: &[migrate::Wanted]) -> Result<SchemaPlan, SinkError>;
}

/// What a sink would do to its users table (see [`Sink::plan_schema`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaPlan {
    /// The users table, as the database names it.
    pub table: String,
    /// Whether it exists (otherwise the statements create it).
    pub exists: bool,
    /// The statements, in order; empty when the table is up to date or the change is refused.
    pub statements: Vec<String>,
    /// Why the sink cannot make the change.
    pub refused: Option<migrate::Refusal>,
}

impl SchemaPlan {
    /// The plan of a table: `create` when it does not exist, else `render` of the migration.
    pub(crate) fn of<'a>(
        table: &str,
        present: &[migrate::PresentColumn],
        planned: Result<Vec<migrate::Change<'a>>, migrate::Refusal>,
        create: impl FnOnce() -> Vec<String>,
        render: impl FnOnce(&[migrate::Change<'a>]) -> Vec<String>,
    ) -> SchemaPlan {
        let (statements, refused) = match (present.is_empty(), planned) {
            (true, _) => (create(), None),
            (false, Ok(changes)) if changes.is_empty() => (Vec::new(), None),
            (false, Ok(changes)) => (render(&changes), None),
            (false, Err(r)) => (Vec::new(), Some(r)),
        };
        SchemaPlan {
            table: table.to_string(),
            exists: !present.is_empty(),
            statements,
            refused,
        }
    }
}

/// A table of a sink and whether it exists (see [`Sink::tables`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableState {
    /// As the database names it (Cassandra: `keyspace.table`).
    pub name: String,
    pub present: bool,
}

/// The users table and the offsets table of a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub users: TableState,
    pub offsets: TableState,
}

impl Tables {
    pub(crate) fn new(
        users: &str,
        users_present: bool,
        offsets: &str,
        offsets_present: bool,
    ) -> Self {
        Tables {
            users: TableState {
                name: users.to_string(),
                present: users_present,
            },
            offsets: TableState {
                name: offsets.to_string(),
                present: offsets_present,
            },
        }
    }
}

/// Open the sink of `url` (see [`SinkUrl`]): `SinkUrl::parse(url, table)?.open()`.
pub fn open(url: &str, table: &str) -> Result<Box<dyn Sink>, SinkError> {
    SinkUrl::parse(url, table)?.open()
}

/// Check a SQL table name: letters, digits and `_`, not starting with a digit.
pub fn check_table_name(table: &str) -> Result<(), SinkError> {
    let ok = !table.is_empty()
        && table.len() <= 63
        && !table.starts_with(|c: char| c.is_ascii_digit())
        && table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(SinkError::BadUrl {
            url: table.to_string(),
            detail: "table name must be letters, digits and '_' (at most 63)".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_the_last_version_of_a_row_at_its_first_place() {
        let a = Row::new(crate::model::sample::user(1));
        let b = Row::new(crate::model::sample::user(2));
        let mut a2 = a.clone();
        a2.user.first_name = "later".into();
        let batch = SinkBatch {
            rows: vec![a.clone(), b.clone(), a2.clone(), b.clone()],
            ..SinkBatch::default()
        };
        assert_eq!(batch.rows_last_wins(), vec![&a2, &b]);
        assert!(SinkBatch::default().rows_last_wins().is_empty());
    }

    #[test]
    fn table_names_are_checked() {
        assert!(check_table_name("users").is_ok());
        assert!(check_table_name("users; drop").is_err());
        assert!(check_table_name("1users").is_err());
    }
}
