//! The `cassandra://` URL: parsing, validation and a password-free description.
//!
//! See the parent module for the list of options. Everything here is pure: no file is read and
//! no host is resolved (the TLS CA file is read when connecting).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use scylla::statement::Consistency;

use crate::secret::Secret;

/// The port used when a host does not name one.
pub const DEFAULT_PORT: u16 = 9042;
/// In-flight row INSERTs per commit when the URL does not set `concurrency`.
pub const DEFAULT_CONCURRENCY: usize = 64;
/// The largest accepted `concurrency`.
pub const MAX_CONCURRENCY: usize = 1024;
/// Retries of one statement after a transient failure when the URL does not set `retries`.
pub const DEFAULT_RETRIES: u32 = 3;
/// The largest accepted `retries`.
pub const MAX_RETRIES: u32 = 20;
/// The default replication: `SimpleStrategy` with this factor (as the classic pipeline does).
pub const DEFAULT_REPLICATION_FACTOR: u32 = 1;
/// Connect timeout (per connection) when the URL does not set `connect_timeout`.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Client-side timeout of one request when the URL does not set `request_timeout`.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(12);
/// Cassandra's limit on keyspace and table names.
pub const MAX_NAME_LEN: usize = 48;
/// The longest users table name: `{table}_offsets` must fit Cassandra's 48 characters.
pub const MAX_TABLE_LEN: usize = MAX_NAME_LEN - "_offsets".len();

/// Every option the URL query may carry.
pub const OPTIONS: [&str; 13] = [
    "table",
    "consistency",
    "replication",
    "username",
    "password",
    "tls",
    "tls_ca",
    "tls_verify",
    "concurrency",
    "retries",
    "connect_timeout",
    "request_timeout",
    "durable_writes",
];

/// Write consistency levels accepted by `consistency=` (lower case) and the driver's level.
/// `any` and the serial levels are refused: they cannot back an exactly-once sink.
const CONSISTENCY_LEVELS: [(&str, Consistency); 8] = [
    ("one", Consistency::One),
    ("two", Consistency::Two),
    ("three", Consistency::Three),
    ("quorum", Consistency::Quorum),
    ("all", Consistency::All),
    ("local_quorum", Consistency::LocalQuorum),
    ("each_quorum", Consistency::EachQuorum),
    ("local_one", Consistency::LocalOne),
];

/// The keyspace's replication strategy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// `replication=N`: `SimpleStrategy` with replication factor N.
    Simple(u32),
    /// `replication=dc1:3,dc2:3`: `NetworkTopologyStrategy`, factor per data center.
    Network(Vec<(String, u32)>),
}

/// TLS settings (present only when TLS is on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    /// PEM file of the CA(s) to trust instead of the system store.
    pub ca: Option<PathBuf>,
    /// Verify the server certificate chain (`tls_verify`, default true).
    pub verify: bool,
}

/// A parsed `cassandra://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CassandraConfig {
    /// Contact points as `host:port` (`[v6]:port` for IPv6 literals), in URL order.
    pub hosts: Vec<String>,
    /// Keyspace, lower-cased (CQL folds unquoted names to lower case).
    pub keyspace: String,
    /// Users table, lower-cased; the progress table is `{table}_offsets`.
    pub table: String,
    pub consistency: Consistency,
    pub replication: Replication,
    /// `durable_writes` of a keyspace this sink creates (default true).
    pub durable_writes: bool,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub tls: Option<Tls>,
    /// In-flight row INSERTs per commit.
    pub concurrency: usize,
    /// Retries of one statement after a transient failure (attempts = retries + 1).
    pub retries: u32,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// What is wrong with a `cassandra://` URL; each names the bad part, never a password.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UrlError {
    #[error("the URL must start with cassandra://")]
    Scheme,
    #[error("no host: expected cassandra://HOST[:PORT][,HOST[:PORT]…]/KEYSPACE")]
    NoHost,
    #[error("host {host:?}: {detail}")]
    Host { host: String, detail: String },
    #[error("no keyspace: expected cassandra://HOST[:PORT]/KEYSPACE")]
    NoKeyspace,
    #[error("keyspace {0:?}: {1}")]
    Keyspace(String, String),
    #[error("table {0:?}: {1}")]
    Table(String, String),
    #[error("unknown option {0:?} (known: {known})", known = OPTIONS.join(", "))]
    UnknownOption(String),
    #[error("option {0:?} is given twice")]
    DuplicateOption(String),
    #[error("option {0:?} has no value (expected {0}=VALUE)")]
    NoValue(String),
    #[error("option {option}: {detail}")]
    BadValue {
        option: &'static str,
        detail: String,
    },
    #[error("the {0} is given both before '@' and as an option")]
    CredentialsTwice(&'static str),
    #[error("{0}")]
    Conflict(String),
}

fn bad(option: &'static str, detail: impl Into<String>) -> UrlError {
    UrlError::BadValue {
        option,
        detail: detail.into(),
    }
}

impl CassandraConfig {
    /// Parse `url`; `default_table` is used when the URL has no `table=` option.
    pub fn parse(url: &str, default_table: &str) -> Result<CassandraConfig, UrlError> {
        let rest = url.strip_prefix("cassandra://").ok_or(UrlError::Scheme)?;
        let Parts {
            userinfo,
            hosts,
            path,
            query,
        } = Parts::of(rest);
        let hosts = parse_hosts(hosts)?;
        let keyspace = parse_keyspace(path)?;

        let mut username = None;
        let mut password = None;
        if let Some(userinfo) = userinfo {
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            username = Some(decode(user).map_err(|d| bad("username", d))?);
            if let Some(pass) = pass {
                password = Some(Secret::new(decode(pass).map_err(|d| bad("password", d))?));
            }
        }

        let mut config = CassandraConfig {
            hosts,
            keyspace,
            table: check_table(default_table)?,
            consistency: Consistency::LocalQuorum,
            replication: Replication::Simple(DEFAULT_REPLICATION_FACTOR),
            durable_writes: true,
            username,
            password,
            tls: None,
            concurrency: DEFAULT_CONCURRENCY,
            retries: DEFAULT_RETRIES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        };
        let mut tls: Option<bool> = None;
        let mut tls_ca: Option<PathBuf> = None;
        let mut tls_verify: Option<bool> = None;
        let mut seen = BTreeSet::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = pair
                .split_once('=')
                .ok_or_else(|| UrlError::NoValue(pair.to_string()))?;
            let option = OPTIONS
                .into_iter()
                .find(|o| *o == key)
                .ok_or_else(|| UrlError::UnknownOption(key.to_string()))?;
            if !seen.insert(option) {
                return Err(UrlError::DuplicateOption(option.to_string()));
            }
            if raw.is_empty() {
                return Err(UrlError::NoValue(option.to_string()));
            }
            let value = decode(raw).map_err(|d| bad(option, d))?;
            match option {
                "table" => config.table = check_table(&value)?,
                "consistency" => config.consistency = parse_consistency(&value)?,
                "replication" => config.replication = parse_replication(&value)?,
                "durable_writes" => config.durable_writes = parse_bool(option, &value)?,
                "username" => {
                    if config.username.is_some() {
                        return Err(UrlError::CredentialsTwice("username"));
                    }
                    config.username = Some(value);
                }
                "password" => {
                    if config.password.is_some() {
                        return Err(UrlError::CredentialsTwice("password"));
                    }
                    config.password = Some(Secret::new(value));
                }
                "tls" => tls = Some(parse_bool(option, &value)?),
                "tls_ca" => tls_ca = Some(PathBuf::from(value)),
                "tls_verify" => tls_verify = Some(parse_bool(option, &value)?),
                "concurrency" => {
                    config.concurrency = parse_number(option, &value, 1, MAX_CONCURRENCY)?
                }
                "retries" => config.retries = parse_number(option, &value, 0, MAX_RETRIES)?,
                "connect_timeout" => config.connect_timeout = parse_seconds(option, &value)?,
                "request_timeout" => config.request_timeout = parse_seconds(option, &value)?,
                _ => return Err(UrlError::UnknownOption(option.to_string())),
            }
        }
        if config.password.is_some() && config.username.is_none() {
            return Err(UrlError::Conflict(
                "a password needs a username (username=USER or USER:PASS@HOST)".into(),
            ));
        }
        config.tls = match (tls, tls_ca, tls_verify) {
            (Some(false), Some(_), _) => {
                return Err(UrlError::Conflict("tls_ca needs TLS, but tls=false".into()))
            }
            (Some(false), None, Some(_)) => {
                return Err(UrlError::Conflict(
                    "tls_verify needs TLS, but tls=false".into(),
                ))
            }
            (None | Some(false), None, None) => None,
            (_, ca, verify) => Some(Tls {
                ca,
                verify: verify.unwrap_or(true),
            }),
        };
        if config
            .tls
            .as_ref()
            .is_some_and(|t| !t.verify && t.ca.is_some())
        {
            return Err(UrlError::Conflict(
                "tls_ca is pointless with tls_verify=false (nothing is verified)".into(),
            ));
        }
        Ok(config)
    }

    /// The URL without password: `cassandra://USER@HOST:PORT,…/KEYSPACE?table=…&consistency=…`.
    pub fn describe(&self) -> String {
        let user = self
            .username
            .as_deref()
            .map(|u| format!("{}@", encode(u)))
            .unwrap_or_default();
        let mut s = format!(
            "cassandra://{user}{}/{}?table={}&consistency={}",
            self.hosts.join(","),
            self.keyspace,
            self.table,
            consistency_name(self.consistency),
        );
        if self.tls.is_some() {
            s.push_str("&tls=true");
        }
        s
    }

    /// Secrets to scrub from any message (the password, if any).
    pub fn secrets(&self) -> Vec<String> {
        self.password
            .iter()
            .map(|p| p.expose().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    }

    /// The consistency of reads (offsets, `get`, `id_counts`): the write level, except that
    /// `each_quorum` (write-only in Cassandra) reads at `local_quorum`, which still overlaps an
    /// `each_quorum` write in the local data center.
    pub fn read_consistency(&self) -> Consistency {
        match self.consistency {
            Consistency::EachQuorum => Consistency::LocalQuorum,
            c => c,
        }
    }
}

/// The lower-case name of a consistency level, as the URL spells it.
pub fn consistency_name(c: Consistency) -> &'static str {
    CONSISTENCY_LEVELS
        .iter()
        .find(|(_, level)| *level == c)
        .map(|(name, _)| *name)
        .unwrap_or("other")
}

/// The parts of a URL after `scheme://`.
struct Parts<'a> {
    userinfo: Option<&'a str>,
    hosts: &'a str,
    /// `/KEYSPACE` (or empty).
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Parts<'a> {
    /// Splits at the first `?`, then at the last `@` before it, then at the first `/` after that
    /// `@`: an unencoded `/` or `:` in a password still ends up in the userinfo.
    fn of(rest: &'a str) -> Parts<'a> {
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let (userinfo, after_at) = match before_query.rsplit_once('@') {
            Some((u, a)) => (Some(u), a),
            None => (None, before_query),
        };
        let (hosts, path) = match after_at.find('/') {
            Some(i) => after_at.split_at(i),
            None => (after_at, ""),
        };
        Parts {
            userinfo,
            hosts,
            path,
            query,
        }
    }
}

fn parse_hosts(hosts: &str) -> Result<Vec<String>, UrlError> {
    if hosts.is_empty() {
        return Err(UrlError::NoHost);
    }
    let mut out = Vec::new();
    for host in hosts.split(',') {
        let err = |detail: &str| UrlError::Host {
            host: host.to_string(),
            detail: detail.to_string(),
        };
        let (name, port) = if let Some(v6) = host.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| err("missing ']' after an IPv6 address"))?;
            if addr.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(err("not an IPv6 address"));
            }
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or_else(|| err("expected ':PORT' after ']'"))?,
                ),
            };
            (format!("[{addr}]"), port)
        } else {
            match host.split_once(':') {
                Some((_, p)) if p.contains(':') => {
                    return Err(err("an IPv6 address goes in brackets: [::1]:9042"))
                }
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (host.to_string(), None),
            }
        };
        if name.is_empty() {
            return Err(err("empty host name"));
        }
        if !name.starts_with('[')
            && !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        {
            return Err(err("a host name is letters, digits, '.', '-' and '_'"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(err("the port must be a number from 1 to 65535")),
            },
        };
        out.push(format!("{name}:{port}"));
    }
    Ok(out)
}

fn parse_keyspace(path: &str) -> Result<String, UrlError> {
    let keyspace = path.strip_prefix('/').unwrap_or(path);
    let keyspace = keyspace.strip_suffix('/').unwrap_or(keyspace);
    if keyspace.is_empty() {
        return Err(UrlError::NoKeyspace);
    }
    check_name(keyspace, MAX_NAME_LEN)
        .map_err(|detail| UrlError::Keyspace(keyspace.to_string(), detail))
}

fn check_table(table: &str) -> Result<String, UrlError> {
    check_name(table, MAX_TABLE_LEN).map_err(|detail| UrlError::Table(table.to_string(), detail))
}

/// An unquoted CQL name: a letter, then letters, digits and `_`; lower-cased as CQL does.
fn check_name(name: &str, max: usize) -> Result<String, String> {
    let ok = name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !ok {
        return Err("must be a letter, then letters, digits and '_'".into());
    }
    if name.len() > max {
        return Err(format!("longer than {max} characters"));
    }
    Ok(name.to_ascii_lowercase())
}

fn parse_consistency(value: &str) -> Result<Consistency, UrlError> {
    let lower = value.to_ascii_lowercase();
    CONSISTENCY_LEVELS
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|(_, c)| *c)
        .ok_or_else(|| {
            let names: Vec<&str> = CONSISTENCY_LEVELS.iter().map(|(n, _)| *n).collect();
            bad(
                "consistency",
                format!("unknown level {value:?} (one of: {})", names.join(", ")),
            )
        })
}

fn parse_replication(value: &str) -> Result<Replication, UrlError> {
    const RANGE: &str = "a replication factor is a number from 1 to 99";
    let factor = |s: &str| match s.parse::<u32>() {
        Ok(n) if (1..=99).contains(&n) => Ok(n),
        _ => Err(bad("replication", format!("{s:?}: {RANGE}"))),
    };
    if !value.contains(':') {
        return factor(value).map(Replication::Simple);
    }
    let mut dcs: Vec<(String, u32)> = Vec::new();
    for part in value.split(',') {
        let (dc, n) = part.split_once(':').ok_or_else(|| {
            bad(
                "replication",
                format!("{part:?}: expected DC:FACTOR (e.g. dc1:3,dc2:3) or one number"),
            )
        })?;
        let dc_ok = !dc.is_empty()
            && dc
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
        if !dc_ok {
            return Err(bad(
                "replication",
                format!("data center {dc:?}: letters, digits, '_', '-' and '.' only"),
            ));
        }
        if dcs.iter().any(|(d, _)| d == dc) {
            return Err(bad(
                "replication",
                format!("data center {dc:?} is given twice"),
            ));
        }
        dcs.push((dc.to_string(), factor(n)?));
    }
    Ok(Replication::Network(dcs))
}

fn parse_bool(option: &'static str, value: &str) -> Result<bool, UrlError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(option, format!("{value:?} is not true or false"))),
    }
}

fn parse_number<T>(option: &'static str, value: &str, min: T, max: T) -> Result<T, UrlError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    match value.parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(bad(
            option,
            format!("{value:?} is not a number from {min} to {max}"),
        )),
    }
}

fn parse_seconds(option: &'static str, value: &str) -> Result<Duration, UrlError> {
    match value.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
        _ => Err(bad(
            option,
            format!("{value:?} is not a number of seconds (0 < s <= 3600)"),
        )),
    }
}

/// Percent-decode one URL component (`+` stays `+`: encode a space as `%20`). The error never
/// contains the component itself (it may be a password).
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    format!("bad percent-escape at byte {i} (expected % and two hex digits)")
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "percent-decodes to invalid UTF-8".to_string())
}

/// Percent-encode what would break a URL's userinfo (for [`CassandraConfig::describe`]).
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests;
