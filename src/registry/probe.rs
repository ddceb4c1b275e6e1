//! What `eosflow doctor` asks a Schema Registry, read-only: is it there (`GET /config`, which
//! also gives the global compatibility level), is a subject registered
//! (`GET /subjects/{s}/versions/latest`), and which compatibility level applies to it
//! (`GET /config/{s}`; Confluent answers 404 `40408` when the subject has no level of its own,
//! and then the global one applies).
//!
//! Credentials and CA certificates are those of [`RegistryClient`] (checked by the same
//! [`settings`]): `USER:PASS@` in the URL or a [`RegistryAuth`]. Messages name the URL without
//! credentials, and passwords are scrubbed from error texts.
//!
//! [`RegistryClient`]: crate::registry::client::RegistryClient

use std::time::Duration;

use serde_json::Value;

use super::client::{resolve, RegistryAuth, RegistryError};
use crate::secret::{scrub_with as scrub, url_secrets, Secret};

/// Errors of one registry probe. Messages never contain a password.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProbeError {
    /// The URL, credentials or CA file are not usable.
    #[error(transparent)]
    Settings(RegistryError),
    #[error("{detail}")]
    Unreachable { url: String, detail: String },
    #[error("GET {path} answered HTTP {status}{}: {message}", code.map(|c| format!(" (error code {c})")).unwrap_or_default())]
    Http {
        path: String,
        status: u16,
        code: Option<i64>,
        message: String,
    },
    #[error("GET {path} answered something unexpected: {detail}")]
    Body { path: String, detail: String },
}

/// The latest version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    pub version: u64,
    pub id: u64,
}

/// A read-only client for one registry URL.
#[derive(Debug)]
pub struct RegistryProbe {
    /// The URL without credentials.
    base: String,
    credentials: Option<(String, Option<Secret>)>,
    secrets: Vec<String>,
    timeout: Duration,
    client: reqwest::Client,
}

impl RegistryProbe {
    /// A probe of `url` with `auth`; every request gives up after `timeout`.
    pub fn new(url: &str, timeout: Duration, auth: &RegistryAuth) -> Result<Self, ProbeError> {
        let mut secrets = url_secrets(url);
        secrets.extend(auth.password.as_ref().map(|p| p.expose().to_string()));
        let resolved = resolve(url, auth).map_err(ProbeError::Settings)?;
        let credentials = resolved.username.map(|u| (u, resolved.password));
        let client = resolved
            .http
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| {
                ProbeError::Settings(RegistryError::BadUrl {
                    url: resolved.base.clone(),
                    detail: scrub(&chain(&e), &secrets),
                })
            })?;
        Ok(RegistryProbe {
            base: resolved.base,
            credentials,
            secrets,
            timeout,
            client,
        })
    }

    /// The URL without credentials, for messages.
    pub fn shown(&self) -> &str {
        &self.base
    }

    /// `GET /config`: the global compatibility level (answering at all shows the registry is up).
    pub async fn global_level(&self) -> Result<String, ProbeError> {
        let path = "/config".to_string();
        let body = self.get(&path).await?;
        parse_level(&body).map_err(|detail| ProbeError::Body { path, detail })
    }

    /// `GET /subjects/{subject}/versions/latest`; `None` when the subject is not registered.
    pub async fn latest(&self, subject: &str) -> Result<Option<Latest>, ProbeError> {
        let path = format!("/subjects/{}/versions/latest", encode(subject));
        match self.get(&path).await {
            Ok(body) => parse_latest(&body)
                .map(Some)
                .map_err(|detail| ProbeError::Body { path, detail }),
            Err(ProbeError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET /config/{subject}`: the subject's own level; `None` when it has none (404).
    pub async fn subject_level(&self, subject: &str) -> Result<Option<String>, ProbeError> {
        let path = format!("/config/{}", encode(subject));
        match self.get(&path).await {
            Ok(body) => parse_level(&body)
                .map(Some)
                .map_err(|detail| ProbeError::Body { path, detail }),
            Err(ProbeError::Http { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn get(&self, path: &str) -> Result<Value, ProbeError> {
        let unreachable = |e: reqwest::Error| {
            let detail = if e.is_timeout() {
                format!(
                    "GET {path}: no answer within {} ms",
                    self.timeout.as_millis()
                )
            } else if e.is_connect() {
                format!("cannot connect: {}", root_cause(&e))
            } else {
                format!("GET {path}: {}", chain(&e))
            };
            ProbeError::Unreachable {
                url: self.base.clone(),
                detail: scrub(&detail, &self.secrets),
            }
        };
        let mut request = self.client.get(format!("{}{path}", self.base)).header(
            "Accept",
            "application/vnd.schemaregistry.v1+json, application/json",
        );
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, password.as_ref().map(Secret::expose));
        }
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        let text = scrub(&text, &self.secrets);
        if !(200..300).contains(&status) {
            let (code, message) = parse_error(&text);
            return Err(ProbeError::Http {
                path: path.to_string(),
                status,
                code,
                message,
            });
        }
        serde_json::from_str(&text).map_err(|e| ProbeError::Body {
            path: path.to_string(),
            detail: format!("not JSON ({e}): {}", clip(&text)),
        })
    }
}

/// `{"compatibilityLevel": "BACKWARD"}` (GET) or `{"compatibility": …}` (what PUT echoes).
pub fn parse_level(body: &Value) -> Result<String, String> {
    ["compatibilityLevel", "compatibility"]
        .iter()
        .find_map(|k| body.get(k).and_then(Value::as_str))
        .map(str::to_string)
        .ok_or_else(|| format!("no compatibilityLevel in {}", clip(&body.to_string())))
}

/// `{"subject", "version", "id", "schema"}` → version and id.
pub fn parse_latest(body: &Value) -> Result<Latest, String> {
    let number = |k: &str| {
        body.get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("no numeric {k:?} in {}", clip(&body.to_string())))
    };
    Ok(Latest {
        version: number("version")?,
        id: number("id")?,
    })
}

/// Confluent's `{"error_code", "message"}`, or the body itself.
pub fn parse_error(text: &str) -> (Option<i64>, String) {
    if text.trim().is_empty() {
        return (None, "(empty body)".into());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(v) => (
            v.get("error_code").and_then(Value::as_i64),
            v.get("message")
                .and_then(Value::as_str)
                .map_or_else(|| clip(text), str::to_string),
        ),
        Err(_) => (None, clip(text)),
    }
}

/// Percent-encode a path segment (topic names are `[a-zA-Z0-9._-]`, so this rarely does anything).
fn encode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn clip(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// An error with its causes: reqwest's own text is only "error sending request for url (…)".
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(&format!(": {cause_text}"));
        }
        source = cause.source();
    }
    text
}

/// The innermost cause: `Connection refused (os error 111)` rather than reqwest's wrappers.
fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_confluent_answers() {
        assert_eq!(
            parse_level(&json!({"compatibilityLevel": "FULL_TRANSITIVE"})),
            Ok("FULL_TRANSITIVE".into())
        );
        assert_eq!(
            parse_level(&json!({"compatibility": "NONE"})),
            Ok("NONE".into())
        );
        assert!(parse_level(&json!({"mode": "READWRITE"}))
            .expect_err("no level")
            .contains("mode"));
        assert_eq!(
            parse_latest(
                &json!({"subject": "u-value", "version": 2, "id": 7, "schema": "\"string\""})
            ),
            Ok(Latest { version: 2, id: 7 })
        );
        assert!(parse_latest(&json!({"version": 2})).is_err());
        assert_eq!(
            parse_error(
                r#"{"error_code": 40408, "message": "Subject 'x' does not have subject-level compatibility configured"}"#
            ),
            (
                Some(40408),
                "Subject 'x' does not have subject-level compatibility configured".into()
            )
        );
        assert_eq!(parse_error(" "), (None, "(empty body)".into()));
        assert_eq!(
            parse_error("<html>bad gateway</html>"),
            (None, "<html>bad gateway</html>".into())
        );
    }

    #[test]
    fn secrets_are_found_and_scrubbed() {
        assert_eq!(
            url_secrets("https://me:p%40ss@sr:8081/x"),
            vec!["p%40ss", "p@ss"]
        );
        assert!(url_secrets("http://me@sr:8081").is_empty());
        assert!(url_secrets("http://sr:8081").is_empty());
        let secrets = url_secrets("http://me:hunter2@sr");
        assert_eq!(
            scrub("GET http://me:hunter2@sr/config failed", &secrets),
            "GET http://me:***@sr/config failed"
        );
        let none = RegistryAuth::default();
        let err = RegistryProbe::new("ftp://me:hunter2@sr", Duration::from_secs(1), &none)
            .expect_err("scheme");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        assert_eq!(encode("users-value"), "users-value");
        assert_eq!(encode("a b/c"), "a%20b%2Fc");
    }

    /// Nothing listens on the port: an Unreachable error without the password.
    #[test]
    fn unreachable_registry_keeps_the_password_out() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let probe = RegistryProbe::new(
            &format!("http://me:hunter2@127.0.0.1:{port}/"),
            Duration::from_secs(2),
            &RegistryAuth::default(),
        )
        .expect("valid URL");
        assert_eq!(probe.shown(), format!("http://127.0.0.1:{port}"));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let err = runtime.block_on(probe.global_level()).expect_err("refused");
        assert!(matches!(err, ProbeError::Unreachable { .. }), "{err}");
        let text = err.to_string().to_ascii_lowercase();
        assert!(text.contains("refused"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
