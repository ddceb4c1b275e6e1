//! Sinks: where rows go. One trait, one file per database.
//!
//! The contract every sink keeps (checked by the shared contract suite in `tests/`):
//! - [`Sink::commit`] writes a whole [`SinkBatch`] — row upserts keyed by UUIDv5 **and** the
//!   consumer's next offsets — atomically: after a crash either all of it is visible or none.
//! - Upserts are idempotent: writing the same row twice leaves one identical row.
//! - Stored offsets never move backwards ([`Sink::commit`] keeps the larger of old and new), except
//!   through the explicit [`Sink::reset_offsets`].
//! - Row contents are a pure function of the [`User`]: no `now()`, no Kafka offsets.

pub mod cassandra;
pub mod postgres;
pub mod sqlite;

use std::collections::BTreeMap;

use uuid::Uuid;

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
/// to consume (last applied offset + 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SinkBatch {
    pub group: String,
    pub topic: String,
    pub rows: Vec<Row>,
    pub next_offsets: BTreeMap<i32, i64>,
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
    #[error("invalid sink URL {url:?}: {detail}; expected sqlite://PATH, postgres://USER:PASS@HOST:PORT/DB or cassandra://HOST:PORT[,HOST:PORT…]/KEYSPACE[?OPTIONS]")]
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
    /// Every stored id with its row count (for `verify`).
    fn id_counts(&mut self) -> Result<IdCounts, SinkError>;
    /// Read one row back by id.
    fn get(&mut self, id: Uuid) -> Result<Option<User>, SinkError>;
    /// Which of the users and offsets tables exist, creating nothing (for `doctor`).
    fn tables(&mut self) -> Result<Tables, SinkError>;
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

/// Check a sink URL and table name without connecting: the [`SinkError::BadUrl`] that [`open`]
/// would give, up front.
pub fn validate(url: &str, table: &str) -> Result<(), SinkError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        check_table_name(table)?;
        if path.is_empty() {
            return Err(SinkError::BadUrl {
                url: url.into(),
                detail: "empty path".into(),
            });
        }
        return Ok(());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        check_table_name(table)?;
        return url
            .parse::<::postgres::Config>()
            .map(drop)
            .map_err(|e| SinkError::BadUrl {
                url: redact_url(url),
                detail: e.to_string(),
            });
    }
    if url.starts_with("cassandra://") {
        return cassandra::CassandraConfig::parse(url, table)
            .map(drop)
            .map_err(|e| SinkError::BadUrl {
                url: cassandra::redact(url),
                detail: e.to_string(),
            });
    }
    Err(SinkError::BadUrl {
        url: redact_url(url),
        detail: "unknown scheme".into(),
    })
}

/// Connect to the sink of `url` and report its description and which tables exist, creating
/// nothing: unlike [`open`], a missing SQLite file is an error, not a new empty database.
pub fn probe(url: &str, table: &str) -> Result<(String, Tables), SinkError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if !path.is_empty() && !std::path::Path::new(path).exists() {
            return Err(SinkError::Connect {
                sink: url.to_string(),
                detail: "the database file does not exist".into(),
            });
        }
    }
    let mut sink = open(url, table)?;
    let tables = sink.tables()?;
    Ok((sink.describe(), tables))
}

/// Open a sink from its URL: `sqlite://PATH`, `postgres://…` (also `postgresql://…`) or
/// `cassandra://…` (see [`cassandra`]).
pub fn open(url: &str, table: &str) -> Result<Box<dyn Sink>, SinkError> {
    if let Some(path) = url.strip_prefix("sqlite://") {
        return Ok(sqlite::SqliteSink::open(path, table)?);
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(postgres::PostgresSink::connect(url, table)?);
    }
    if url.starts_with("cassandra://") {
        return Ok(cassandra::CassandraSink::connect(url, table)?);
    }
    Err(SinkError::BadUrl {
        url: redact_url(url),
        detail: "unknown scheme".into(),
    })
}

/// `scheme://user:secret@host/...?password=x` → `scheme://user@host/...?password=***` for logs
/// and errors.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_query(url);
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    redact_query(&format!("{scheme}://{authority}{path}"))
}

/// Hide the values of `password=` (and `pass=`, `secret=`, `token=`, `apikey=`, … — see
/// [`crate::secret::is_sensitive_key`]) query options.
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if crate::secret::is_sensitive_key(k) => format!("{k}=***"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
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
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(
            redact_url("casandra://h:9042/ks?table=t&password=hunter2"),
            "casandra://h:9042/ks?table=t&password=***"
        );
        assert_eq!(
            redact_url("https://API_KEY:api%2Fsecret@sr.example.com:443/x?apikey=k1&token=t1&n=1"),
            "https://API_KEY@sr.example.com:443/x?apikey=***&token=***&n=1"
        );
    }

    #[test]
    fn table_names_are_checked() {
        assert!(check_table_name("users").is_ok());
        assert!(check_table_name("users; drop").is_err());
        assert!(check_table_name("1users").is_err());
    }
}
