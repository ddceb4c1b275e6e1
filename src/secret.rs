//! Secrets: a string that never prints, the rule for which configuration keys hold secrets, and a
//! last line of defence that scrubs registered secrets from anything written to the terminal.
//!
//! The first line of defence is not to print secrets at all: passwords are [`Secret`]s (their
//! `Debug` is `***`, they have no `Display`), URLs are shown through [`redact_url`],
//! and Kafka settings print sensitive properties as `***`. [`scrub`] catches what third-party
//! code might still echo (a librdkafka message, an HTTP client error): the CLI registers every
//! secret it resolves with [`register`], and the log writer and the final error message pass
//! through [`scrub`].

use std::fmt;
use std::str::FromStr;
use std::sync::RwLock;

use serde::Deserialize;

/// What a hidden value is shown as.
pub const REDACTED: &str = "***";

/// Secrets shorter than this are not scrubbed from output: replacing every `ab` in a log would
/// garble it without protecting anything a guesser could not try anyway.
pub const MIN_SCRUB_LEN: usize = 4;

/// A password or key: never printed, not even by `Debug`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for the client that needs it (and nothing that prints).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({REDACTED})")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret::new(s))
    }
}

/// Whether a configuration key (a librdkafka property, a URL option) holds a secret:
/// `sasl.password`, `ssl.key.password`, `ssl.keystore.password`, `sasl.oauthbearer.client.secret`,
/// `ssl.key.pem` (an inline private key), `sasl.oauthbearer.config`, anything naming a password,
/// secret, token or credentials.
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "credential",
        "jaas",
    ]
    .iter()
    .any(|word| key.contains(word))
        || ["pass", "key", "apikey", "api_key", "api-key"].contains(&key.as_str())
        || key == "ssl.key.pem"
        || key == "sasl.oauthbearer.config"
}

/// `value`, or [`REDACTED`] when `key` holds a secret.
pub fn shown<'a>(key: &str, value: &'a str) -> &'a str {
    if is_sensitive_key(key) {
        REDACTED
    } else {
        value
    }
}

static REGISTERED: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remember `secret` so that [`scrub`] hides it from output (raw, and as JSON logs escape it).
pub fn register(secret: &str) {
    if secret.chars().count() < MIN_SCRUB_LEN {
        return;
    }
    let escaped = serde_json::to_string(secret).unwrap_or_default();
    let escaped = escaped.trim_matches('"').to_string();
    if let Ok(mut registered) = REGISTERED.write() {
        for form in [secret.to_string(), escaped] {
            if !form.is_empty() && !registered.contains(&form) {
                registered.push(form);
            }
        }
        // Longest first, so that a secret containing another is hidden whole.
        registered.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// The secrets a URL holds: the password of its userinfo (as written and percent-decoded) and
/// the values of secret query options (`password=`, ...). Empty ones are left out.
pub fn url_secrets(url: &str) -> Vec<String> {
    let (authority, query) = match url.split_once("://") {
        Some((_, rest)) => {
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            (&rest[..end], url.split_once('?').map(|(_, q)| q))
        }
        None => ("", url.split_once('?').map(|(_, q)| q)),
    };
    let mut found = Vec::new();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if let Some((_, password)) = userinfo.split_once(':') {
            found.push(password);
        }
    }
    for kv in query.unwrap_or("").split('&') {
        if let Some((k, v)) = kv.split_once('=') {
            if is_sensitive_key(k) {
                found.push(v);
            }
        }
    }
    let mut secrets = Vec::new();
    for raw in found {
        for form in [raw.to_string(), percent_decode(raw)] {
            if !form.is_empty() && !secrets.contains(&form) {
                secrets.push(form);
            }
        }
    }
    secrets
}

/// Register the secrets a URL holds ([`url_secrets`]) for [`scrub`].
pub fn register_url(url: &str) {
    for secret in url_secrets(url) {
        register(&secret);
    }
}

/// `scheme://user:secret@host/...?password=x` → `scheme://user@host/...?password=***` for logs
/// and errors (also with several `host:port` and without a path).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_query(url);
    };
    let (authority, path) = match rest.find(['/', '?']) {
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

/// Hide the values of secret query options ([`is_sensitive_key`]: `password=`, `token=`, ...).
fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, _)) if is_sensitive_key(k) => format!("{k}={REDACTED}"),
            _ => kv.to_string(),
        })
        .collect();
    format!("{base}?{}", parts.join("&"))
}

/// Percent-encode everything but RFC 3986's unreserved characters (a password put into a URL).
pub fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Percent-decode (lossy: an invalid escape stays as written).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `text` with each of `secrets` replaced by [`REDACTED`] (longest first, so a secret holding
/// another is hidden whole).
pub fn scrub_with(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    sorted
        .into_iter()
        .fold(text.to_string(), |t, s| t.replace(s.as_str(), REDACTED))
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    let Ok(registered) = REGISTERED.read() else {
        return text.to_string();
    };
    let mut out = text.to_string();
    for secret in registered.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), REDACTED);
        }
    }
    out
}

/// A writer that scrubs registered secrets from each write before passing it on (the log
/// subscriber formats one event into one write).
pub struct ScrubbingWriter<W>(pub W);

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// A `MakeWriter` for the log subscriber: stderr, scrubbed.
pub fn scrubbed_stderr() -> ScrubbingWriter<std::io::Stderr> {
    ScrubbingWriter(std::io::stderr())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("hunter2-xyz");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2-xyz");
        let parsed: Secret = "p".parse().expect("infallible");
        assert_eq!(parsed.expose(), "p");
    }

    #[test]
    fn sensitive_keys() {
        for key in [
            "sasl.password",
            "ssl.key.password",
            "ssl.keystore.password",
            "SASL.PASSWORD",
            "sasl.oauthbearer.client.secret",
            "ssl.key.pem",
            "sasl.oauthbearer.config",
            "password",
            "pass",
            "api_token",
            "apikey",
            "key",
        ] {
            assert!(is_sensitive_key(key), "{key}");
        }
        for key in [
            "sasl.username",
            "ssl.key.location",
            "ssl.ca.location",
            "security.protocol",
            "bootstrap.servers",
            "passive",
        ] {
            assert!(!is_sensitive_key(key), "{key}");
        }
        assert_eq!(shown("sasl.password", "x"), REDACTED);
        assert_eq!(shown("sasl.username", "x"), "x");
    }

    #[test]
    fn urls_are_redacted() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(redact_url("sqlite:///tmp/x.db"), "sqlite:///tmp/x.db");
        assert_eq!(
            redact_url("cassandra://u:pw@h1:9042,h2:9042?table=t&password=hunter2"),
            "cassandra://u@h1:9042,h2:9042?table=t&password=***"
        );
        assert_eq!(
            redact_url("https://API_KEY:api%2Fsecret@sr.example.com:443/x?apikey=k1&token=t1&n=1"),
            "https://API_KEY@sr.example.com:443/x?apikey=***&token=***&n=1"
        );
        assert_eq!(
            url_secrets("x://u:p%40ss@h/?password=two"),
            ["p%40ss", "p@ss", "two"]
        );
        assert_eq!(
            scrub_with(
                "a-secret and a-secret-2",
                &["a-secret".into(), "a-secret-2".into()]
            ),
            "*** and ***"
        );
        assert_eq!(percent_encode("a b/é"), "a%20b%2F%C3%A9");
    }

    #[test]
    fn url_secrets_are_registered() {
        register_url("https://key:url%2Fsecret-1@host:8081/x?a=1&password=opt-secret-2&b=2");
        let text = scrub("url%2Fsecret-1 url/secret-1 opt-secret-2 key host");
        assert_eq!(text, "*** *** *** key host");
        assert_eq!(percent_decode("a%20b%zz%4"), "a b%zz%4");
    }

    #[test]
    fn scrub_hides_registered_secrets_raw_and_json_escaped() {
        register("scrub-test-\"quoted\"-secret");
        register("abc"); // too short to scrub
        let raw = "error: auth failed for scrub-test-\"quoted\"-secret, abc";
        assert_eq!(scrub(raw), "error: auth failed for ***, abc");
        let json = serde_json::json!({ "message": raw }).to_string();
        assert!(!scrub(&json).contains("quoted"), "{}", scrub(&json));
        let mut out = Vec::new();
        {
            use std::io::Write;
            let mut w = ScrubbingWriter(&mut out);
            w.write_all(b"x scrub-test-\"quoted\"-secret y")
                .expect("write");
        }
        assert_eq!(String::from_utf8_lossy(&out), "x *** y");
    }
}
