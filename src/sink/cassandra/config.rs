//! The `cassandra://` URL: parsing, validation and a password-free description.
//!
//! See the parent module for the list of options. Everything here is pure: no file is read and
//! no host is resolved (the TLS CA file is read when connecting).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use scylla::statement::Consistency;

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

/// A password: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Password(password.into())
    }

    /// The secret itself, for the driver's authenticator only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
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
    pub password: Option<Password>,
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
                password = Some(Password::new(decode(pass).map_err(|d| bad("password", d))?));
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
                    config.password = Some(Password::new(value));
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

/// `url` without password (neither in the userinfo nor as a `password=` option), for errors
/// about URLs that could not be parsed.
pub fn redact(url: &str) -> String {
    let Some(rest) = url.strip_prefix("cassandra://") else {
        return super::super::redact_url(url);
    };
    let parts = Parts::of(rest);
    let user = match parts.userinfo {
        Some(userinfo) => format!("{}@", userinfo.split(':').next().unwrap_or("")),
        None => String::new(),
    };
    let mut out = format!("cassandra://{user}{}{}", parts.hosts, parts.path);
    if let Some(query) = parts.query {
        let query = query
            .split('&')
            .map(|pair| {
                if pair.starts_with("password=") {
                    "password=***"
                } else {
                    pair
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        out.push('?');
        out.push_str(&query);
    }
    out
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
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<CassandraConfig, UrlError> {
        CassandraConfig::parse(url, "users")
    }

    fn err(url: &str) -> String {
        parse(url).expect_err(url).to_string()
    }

    #[test]
    fn minimal_url_takes_defaults() {
        let c = parse("cassandra://db1/eosflow").expect("parse");
        assert_eq!(c.hosts, ["db1:9042"]);
        assert_eq!(c.keyspace, "eosflow");
        assert_eq!(c.table, "users");
        assert_eq!(c.consistency, Consistency::LocalQuorum);
        assert_eq!(c.replication, Replication::Simple(1));
        assert!(c.durable_writes);
        assert_eq!(c.username, None);
        assert_eq!(c.password, None);
        assert_eq!(c.tls, None);
        assert_eq!(c.concurrency, DEFAULT_CONCURRENCY);
        assert_eq!(c.retries, DEFAULT_RETRIES);
        assert_eq!(c.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert_eq!(
            c.describe(),
            "cassandra://db1:9042/eosflow?table=users&consistency=local_quorum"
        );
    }

    #[test]
    fn every_option() {
        let c = parse(
            "cassandra://host1:9042,host2:19042,[::1]:9043,[fe80::1]/KS_1?table=People\
             &consistency=EACH_QUORUM&replication=dc1:3,us-east-1:2&username=u%40corp\
             &password=p%26ss%3Dw%2Bo+rd%20&tls=true&tls_ca=/etc/ssl/my%20ca.pem&tls_verify=yes\
             &concurrency=128&retries=5&connect_timeout=2.5&request_timeout=30&durable_writes=false",
        )
        .expect("parse");
        assert_eq!(
            c.hosts,
            ["host1:9042", "host2:19042", "[::1]:9043", "[fe80::1]:9042"]
        );
        assert_eq!(c.keyspace, "ks_1");
        assert_eq!(c.table, "people");
        assert_eq!(c.consistency, Consistency::EachQuorum);
        assert_eq!(c.read_consistency(), Consistency::LocalQuorum);
        assert_eq!(
            c.replication,
            Replication::Network(vec![("dc1".into(), 3), ("us-east-1".into(), 2)])
        );
        assert!(!c.durable_writes);
        assert_eq!(c.username.as_deref(), Some("u@corp"));
        assert_eq!(
            c.password.as_ref().map(Password::expose),
            Some("p&ss=w+o+rd ")
        );
        assert_eq!(
            c.tls,
            Some(Tls {
                ca: Some(PathBuf::from("/etc/ssl/my ca.pem")),
                verify: true
            })
        );
        assert_eq!(c.concurrency, 128);
        assert_eq!(c.retries, 5);
        assert_eq!(c.connect_timeout, Duration::from_millis(2500));
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        let d = c.describe();
        assert_eq!(
            d,
            "cassandra://u%40corp@host1:9042,host2:19042,[::1]:9043,[fe80::1]:9042/ks_1\
             ?table=people&consistency=each_quorum&tls=true"
        );
        assert!(
            !format!("{c:?}").contains("p&ss"),
            "Debug shows no password"
        );
        assert_eq!(c.secrets(), ["p&ss=w+o+rd "]);
    }

    #[test]
    fn credentials_in_userinfo() {
        let c = parse("cassandra://me:s%3Acr%40t@h/ks").expect("parse");
        assert_eq!(c.username.as_deref(), Some("me"));
        assert_eq!(c.password.as_ref().map(Password::expose), Some("s:cr@t"));
        assert_eq!(
            c.describe(),
            "cassandra://me@h:9042/ks?table=users&consistency=local_quorum"
        );
        let c = parse("cassandra://me@h/ks?password=x").expect("user before @, password option");
        assert_eq!(c.password.as_ref().map(Password::expose), Some("x"));
        assert!(err("cassandra://me:a@h/ks?password=b").contains("password is given both"));
        assert!(err("cassandra://me@h/ks?username=you").contains("username is given both"));
        assert!(err("cassandra://h/ks?password=x").contains("needs a username"));
    }

    #[test]
    fn unencoded_slash_and_colon_in_a_password() {
        let c = parse("cassandra://u:a/b:c@h/ks").expect("parse");
        assert_eq!(c.password.as_ref().map(Password::expose), Some("a/b:c"));
        assert_eq!(c.hosts, ["h:9042"]);
        assert_eq!(c.keyspace, "ks");
    }

    #[test]
    fn every_consistency_level() {
        for (name, level) in CONSISTENCY_LEVELS {
            let c = parse(&format!("cassandra://h/ks?consistency={name}")).expect(name);
            assert_eq!(c.consistency, level);
            assert_eq!(consistency_name(level), name);
        }
        for refused in ["any", "serial", "local_serial", "fast"] {
            let e = err(&format!("cassandra://h/ks?consistency={refused}"));
            assert!(e.contains("consistency") && e.contains(refused), "{e}");
            assert!(e.contains("local_quorum"), "lists the levels: {e}");
        }
    }

    #[test]
    fn tls_options() {
        let on = |url: &str| parse(url).expect(url).tls;
        assert_eq!(
            on("cassandra://h/ks?tls=true"),
            Some(Tls {
                ca: None,
                verify: true
            })
        );
        assert_eq!(on("cassandra://h/ks?tls=false"), None);
        assert_eq!(
            on("cassandra://h/ks?tls_ca=/ca.pem"),
            Some(Tls {
                ca: Some("/ca.pem".into()),
                verify: true
            }),
            "tls_ca alone turns TLS on"
        );
        assert_eq!(
            on("cassandra://h/ks?tls=1&tls_verify=false"),
            Some(Tls {
                ca: None,
                verify: false
            })
        );
        assert!(err("cassandra://h/ks?tls=false&tls_ca=/ca.pem").contains("tls_ca needs TLS"));
        assert!(err("cassandra://h/ks?tls=false&tls_verify=true").contains("tls_verify needs"));
        assert!(err("cassandra://h/ks?tls=true&tls_verify=no&tls_ca=/c").contains("pointless"));
        assert!(err("cassandra://h/ks?tls=maybe").contains("option tls: \"maybe\""));
    }

    #[test]
    fn replication_forms() {
        let r =
            |v: &str| parse(&format!("cassandra://h/ks?replication={v}")).map(|c| c.replication);
        assert_eq!(r("3"), Ok(Replication::Simple(3)));
        assert_eq!(
            r("dc1:1"),
            Ok(Replication::Network(vec![("dc1".into(), 1)]))
        );
        for (bad_value, part) in [
            ("0", "\"0\""),
            ("100", "\"100\""),
            ("x", "\"x\""),
            ("dc1:3,dc2", "\"dc2\""),
            ("dc1:3,dc1:2", "\"dc1\" is given twice"),
            ("dc'1:3", "data center \"dc'1\""),
            ("dc1:0", "\"0\""),
            (":3", "data center \"\""),
        ] {
            let e = r(bad_value).expect_err(bad_value).to_string();
            assert!(
                e.starts_with("option replication: ") && e.contains(part),
                "{bad_value}: {e}"
            );
        }
    }

    #[test]
    fn numbers_and_timeouts() {
        let c = parse("cassandra://h/ks?concurrency=1&retries=0").expect("parse");
        assert_eq!((c.concurrency, c.retries), (1, 0));
        for (url, part) in [
            (
                "cassandra://h/ks?concurrency=0",
                "option concurrency: \"0\"",
            ),
            ("cassandra://h/ks?concurrency=1025", "from 1 to 1024"),
            ("cassandra://h/ks?concurrency=-1", "option concurrency"),
            ("cassandra://h/ks?retries=21", "option retries: \"21\""),
            (
                "cassandra://h/ks?connect_timeout=0",
                "option connect_timeout",
            ),
            (
                "cassandra://h/ks?request_timeout=abc",
                "option request_timeout: \"abc\"",
            ),
            (
                "cassandra://h/ks?request_timeout=NaN",
                "option request_timeout",
            ),
        ] {
            let e = err(url);
            assert!(e.contains(part), "{url}: {e}");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(err("cassandra://h").contains("no keyspace"));
        assert!(err("cassandra://h/").contains("no keyspace"));
        assert!(err("cassandra://h?table=t").contains("no keyspace"));
        assert!(err("cassandra://h/a/b").contains("keyspace \"a/b\""));
        assert!(err("cassandra://h/1ks").contains("keyspace \"1ks\": must be a letter"));
        assert!(err(&format!("cassandra://h/{}", "k".repeat(49))).contains("longer than 48"));
        assert!(parse(&format!("cassandra://h/{}", "k".repeat(48))).is_ok());
        assert!(
            parse("cassandra://h/ks/").is_ok(),
            "one trailing slash is fine"
        );
        assert!(err("cassandra://h/ks?table=users;drop").contains("table \"users;drop\""));
        assert!(err("cassandra://h/ks?table=_t").contains("table \"_t\""));
        assert!(err(&format!("cassandra://h/ks?table={}", "t".repeat(41))).contains("40"));
        assert!(parse(&format!("cassandra://h/ks?table={}", "t".repeat(40))).is_ok());
        let e = CassandraConfig::parse("cassandra://h/ks", "bad name")
            .expect_err("the default table is checked too")
            .to_string();
        assert!(e.contains("table \"bad name\""), "{e}");
        let c = CassandraConfig::parse("cassandra://h/ks", "other").expect("default table");
        assert_eq!(c.table, "other");
    }

    #[test]
    fn hosts_are_checked() {
        for (url, part) in [
            ("cassandra:///ks", "no host"),
            ("cassandra://u:p@/ks", "no host"),
            ("cassandra://h1,,h2/ks", "host \"\": empty host name"),
            ("cassandra://h:0/ks", "host \"h:0\": the port"),
            ("cassandra://h:x/ks", "host \"h:x\": the port"),
            ("cassandra://h:70000/ks", "host \"h:70000\""),
            ("cassandra://::1/ks", "in brackets"),
            ("cassandra://[::1/ks", "missing ']'"),
            ("cassandra://[nothex]:9042/ks", "not an IPv6"),
            ("cassandra://[::1]9042/ks", "expected ':PORT'"),
            ("cassandra://h st/ks", "host \"h st\""),
            ("postgres://h/ks", "cassandra://"),
        ] {
            let e = err(url);
            assert!(e.contains(part), "{url}: {e}");
        }
    }

    #[test]
    fn options_are_checked() {
        for (url, part) in [
            ("cassandra://h/ks?tabel=users", "unknown option \"tabel\""),
            (
                "cassandra://h/ks?table=a&table=b",
                "\"table\" is given twice",
            ),
            ("cassandra://h/ks?table", "\"table\" has no value"),
            ("cassandra://h/ks?table=", "\"table\" has no value"),
            (
                "cassandra://h/ks?tls_ca=%zz",
                "option tls_ca: bad percent-escape",
            ),
            ("cassandra://h/ks?tls_ca=%ff", "invalid UTF-8"),
        ] {
            let e = err(url);
            assert!(e.contains(part), "{url}: {e}");
        }
        assert!(err("cassandra://h/ks?x=1").contains("known: table, consistency"));
        assert!(
            parse("cassandra://h/ks?&table=t&").is_ok(),
            "empty pairs skipped"
        );
    }

    #[test]
    fn errors_and_redaction_never_show_the_password() {
        for url in [
            "cassandra://u:s3cr3t%zz@h/ks",
            "cassandra://h/ks?username=u&password=s3cr3t%zz",
            "cassandra://h/ks?username=u&password=s3cr3t%ff",
            "cassandra://u:s3cr3t@h/ks?password=s3cr3t",
            "cassandra://h/ks?password=s3cr3t&tabel=x",
            "cassandra://u:s3cr/3t:x@h:bad/ks",
            "cassandra://u:s3cr/3t@h/1ks?password=s3cr3t",
        ] {
            let e = parse(url).expect_err(url);
            assert!(!e.to_string().contains("s3cr3t"), "{url}: {e}");
            assert!(!format!("{e:?}").contains("s3cr3t"), "{url}: {e:?}");
            assert!(!redact(url).contains("s3cr3t"), "{}", redact(url));
        }
        assert_eq!(
            redact("cassandra://u:pw@h/ks?table=t&password=pw&tls=true"),
            "cassandra://u@h/ks?table=t&password=***&tls=true"
        );
        let c = parse("cassandra://h/ks?username=u&password=s3cr3t").expect("parse");
        assert!(!c.describe().contains("s3cr3t"));
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(decode("a%20b+c%2F%41").as_deref(), Ok("a b+c/A"));
        assert_eq!(decode("%C3%A9").as_deref(), Ok("é"));
        assert!(decode("%").is_err());
        assert!(decode("%4").is_err());
        assert!(decode("%g0").is_err());
        assert_eq!(encode("a b@c"), "a%20b%40c");
    }
}
