//! The sink door: a sink URL parsed once into a [`SinkUrl`] that knows its scheme. It validates
//! (before anything connects), redacts, takes a password, and opens or probes the sink; the CLI,
//! `doctor` and the jobs ask it rather than looking at the URL text. A new sink is one
//! [`Scheme`] variant here and one folder beside `sqlite`, `postgres` and `cassandra`.

use super::{cassandra, check_table_name, postgres, sqlite, Sink, SinkError, Tables};
use crate::secret::{percent_encode, redact_url, register_url, Secret};

/// The databases eosflow writes to, by URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `sqlite://PATH`
    Sqlite,
    /// `postgres://USER[:PASS]@HOST[:PORT]/DB` (also `postgresql://`)
    Postgres,
    /// `cassandra://[USER[:PASS]@]HOST[:PORT][,…]/KEYSPACE[?OPTIONS]`
    Cassandra,
}

impl Scheme {
    /// Every scheme with the URL prefixes that select it.
    const ALL: [(Scheme, &'static [&'static str]); 3] = [
        (Scheme::Sqlite, &["sqlite://"]),
        (Scheme::Postgres, &["postgres://", "postgresql://"]),
        (Scheme::Cassandra, &["cassandra://"]),
    ];

    /// The scheme of `url`, if it is one eosflow knows.
    pub fn of(url: &str) -> Option<Scheme> {
        Scheme::ALL
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| url.starts_with(p)))
            .map(|(s, _)| *s)
    }

    /// Whether the URL names a user who can be given a password (`--sink-password`).
    fn takes_password(self) -> bool {
        !matches!(self, Scheme::Sqlite)
    }
}

/// The accepted forms, for the error about an unknown scheme.
pub const SCHEMES: &str = "sqlite://PATH, postgres://USER:PASS@HOST:PORT/DB or cassandra://HOST:PORT[,HOST:PORT…]/KEYSPACE[?OPTIONS]";

/// A validated sink URL and its users table. Holds the password (if any), never prints it.
#[derive(Clone)]
pub struct SinkUrl {
    scheme: Scheme,
    url: String,
    table: String,
}

impl std::fmt::Debug for SinkUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SinkUrl")
            .field("url", &self.redacted())
            .field("table", &self.table)
            .finish()
    }
}

impl SinkUrl {
    /// Parse and check `url` and `table` without connecting: a [`SinkError::BadUrl`] naming what
    /// is wrong. The URL's secrets are registered for scrubbing from output.
    pub fn parse(url: &str, table: &str) -> Result<SinkUrl, SinkError> {
        register_url(url);
        let bad = |detail: String| SinkError::BadUrl {
            url: redact_url(url),
            detail,
        };
        let scheme = Scheme::of(url).ok_or_else(|| bad("unknown scheme".into()))?;
        match scheme {
            Scheme::Sqlite => {
                check_table_name(table)?;
                if url.trim_start_matches("sqlite://").is_empty() {
                    return Err(bad("empty path".into()));
                }
            }
            Scheme::Postgres => {
                check_table_name(table)?;
                url.parse::<::postgres::Config>()
                    .map_err(|e| bad(e.to_string()))?;
            }
            Scheme::Cassandra => {
                cassandra::CassandraConfig::parse(url, table).map_err(|e| bad(e.to_string()))?;
            }
        }
        Ok(SinkUrl {
            scheme,
            url: url.to_string(),
            table: table.to_string(),
        })
    }

    /// The URL as given (with its password: for connecting, never for printing).
    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The secrets the URL holds, to scrub from messages.
    pub fn secrets(&self) -> Vec<String> {
        crate::secret::url_secrets(&self.url)
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> String {
        redact_url(&self.url)
    }

    /// The URL with `password` for its user (`--sink-password`, `EOSFLOW_SINK_PASSWORD`): into
    /// the userinfo (`postgres://USER@…`, `cassandra://USER@…`), or as the `password=` option of
    /// a `cassandra://…?username=USER` URL. The error says why it cannot take one.
    pub fn with_password(self, password: &Secret) -> Result<SinkUrl, String> {
        crate::secret::register(password.expose());
        if !self.scheme.takes_password() {
            return Err("only postgres:// and cassandra:// sinks take a password".into());
        }
        let twice = "the URL already holds a password; give it in one place";
        let encoded = percent_encode(password.expose());
        let (scheme, rest) = self.url.split_once("://").unwrap_or(("", &self.url));
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        let url = if let Some((userinfo, host)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Err(twice.into());
            }
            format!("{scheme}://{userinfo}:{encoded}@{host}{tail}")
        } else {
            let query = self.url.split_once('?').map(|(_, q)| q).unwrap_or("");
            let has = |option: &str| query.split('&').any(|kv| kv.starts_with(option));
            if self.scheme != Scheme::Cassandra || !has("username=") {
                return Err("the URL names no user to give the password to: write USER@ before the host (cassandra: or username=USER)".into());
            }
            if has("password=") {
                return Err(twice.into());
            }
            format!("{}&password={encoded}", self.url)
        };
        Ok(SinkUrl { url, ..self })
    }

    /// Connect (creating nothing yet; [`Sink::ensure_schema`] creates the tables). A SQLite file
    /// that does not exist is created.
    pub fn open(&self) -> Result<Box<dyn Sink>, SinkError> {
        Ok(match self.scheme {
            Scheme::Sqlite => sqlite::SqliteSink::open(self.sqlite_path(), &self.table)?,
            Scheme::Postgres => postgres::PostgresSink::connect(&self.url, &self.table)?,
            Scheme::Cassandra => cassandra::CassandraSink::connect(&self.url, &self.table)?,
        })
    }

    /// Connect and report the sink's description and which tables exist, creating nothing:
    /// unlike [`Self::open`], a missing SQLite file is an error.
    pub fn probe(&self) -> Result<(String, Tables), SinkError> {
        if self.scheme == Scheme::Sqlite && self.missing_file() {
            return Err(SinkError::Connect {
                sink: self.redacted(),
                detail: "the database file does not exist".into(),
            });
        }
        let mut sink = self.open()?;
        let tables = sink.tables()?;
        Ok((sink.describe(), tables))
    }

    /// A SQLite URL whose file does not exist (yet): `eosflow process` would create it.
    pub fn missing_file(&self) -> bool {
        self.scheme == Scheme::Sqlite && !std::path::Path::new(self.sqlite_path()).exists()
    }

    pub(super) fn sqlite_path(&self) -> &str {
        self.url.trim_start_matches("sqlite://")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_known_by_their_prefixes() {
        assert_eq!(Scheme::of("sqlite:///x.db"), Some(Scheme::Sqlite));
        assert_eq!(Scheme::of("postgresql://u@h/db"), Some(Scheme::Postgres));
        assert_eq!(Scheme::of("cassandra://h/ks"), Some(Scheme::Cassandra));
        assert_eq!(Scheme::of("mysql://h/db"), None);
        let e = SinkUrl::parse("mysql://u:pw-123@h/db", "users").expect_err("unknown");
        assert!(e.to_string().contains("unknown scheme") && !e.to_string().contains("pw-123"));
        assert!(SinkUrl::parse("sqlite://", "users").is_err());
        assert!(SinkUrl::parse("sqlite:///tmp/x.db", "bad table").is_err());
        assert!(
            SinkUrl::parse("cassandra://h:9042", "users").is_err(),
            "no keyspace"
        );
    }

    #[test]
    fn a_password_goes_where_the_user_is() {
        let pw = Secret::new("p@ss/w:rd 1");
        let with = |url: &str| {
            SinkUrl::parse(url, "users")
                .expect("parses")
                .with_password(&pw)
                .map(|s| s.url)
        };
        assert_eq!(
            with("postgres://me@db:5432/x").expect("userinfo"),
            "postgres://me:p%40ss%2Fw%3Ard%201@db:5432/x"
        );
        assert_eq!(
            with("cassandra://me@h1,h2/ks?tls=true").expect("userinfo"),
            "cassandra://me:p%40ss%2Fw%3Ard%201@h1,h2/ks?tls=true"
        );
        assert_eq!(
            with("cassandra://h/ks?username=me").expect("option"),
            "cassandra://h/ks?username=me&password=p%40ss%2Fw%3Ard%201"
        );
        for (url, why) in [
            ("postgres://me:OldPw9@db/x", "already holds a password"),
            (
                "cassandra://h/ks?username=me&password=OldPw9",
                "already holds",
            ),
            ("postgres://db/x", "names no user"),
            ("sqlite://x.db", "only postgres:// and cassandra://"),
        ] {
            let e = with(url).expect_err(url);
            assert!(e.contains(why), "{url}: {e}");
            assert!(!e.contains("OldPw9") && !e.contains("p@ss"), "{e}");
        }
        // The result parses as the sinks parse it: the password decodes back.
        let cfg = cassandra::CassandraConfig::parse(
            &with("cassandra://me@h/ks").expect("userinfo"),
            "users",
        )
        .expect("cassandra URL parses");
        assert_eq!(
            cfg.password.as_ref().map(|p| p.expose()),
            Some("p@ss/w:rd 1")
        );
        let pg: ::postgres::Config = with("postgres://me@db:5432/x")
            .expect("userinfo")
            .parse()
            .expect("postgres URL parses");
        assert_eq!(pg.get_password(), Some("p@ss/w:rd 1".as_bytes()));
        let url = SinkUrl::parse("postgres://me@db/x", "users")
            .expect("parses")
            .with_password(&pw)
            .expect("with");
        assert_eq!(url.redacted(), "postgres://me@db/x");
        assert!(!format!("{url:?}").contains("p%40ss"));
    }
}
