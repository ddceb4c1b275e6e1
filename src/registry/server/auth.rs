//! Optional HTTP basic auth for the server (`registry serve --basic-auth-file FILE`): every request
//! must carry the credentials of one of the file's users, otherwise it gets Confluent's 401
//! answer. The file holds `USER:PASSWORD` lines; blank lines and `#` comments are skipped.
//! Passwords are compared in constant time and never logged; a refused request is logged with its
//! method and path only.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::error::{ApiError, RegistryServerError};
use crate::secret::Secret;

/// The accepted users and their passwords.
pub struct BasicAuth {
    users: Vec<(String, Secret)>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let users: Vec<&str> = self.users.iter().map(|(u, _)| u.as_str()).collect();
        f.debug_struct("BasicAuth").field("users", &users).finish()
    }
}

impl BasicAuth {
    /// Accept exactly these users.
    pub fn new(users: Vec<(String, Secret)>) -> Self {
        BasicAuth { users }
    }

    /// Read a `USER:PASSWORD` file; errors name the line, never its text.
    pub fn load(path: &Path) -> Result<Self, RegistryServerError> {
        let err = |detail: String| RegistryServerError::AuthFile {
            path: path.to_path_buf(),
            detail,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        Self::parse(&text).map_err(err)
    }

    /// Parse the file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut users = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once(':') {
                Some((user, password)) if !user.is_empty() && !password.is_empty() => {
                    crate::secret::register(password);
                    users.push((user.to_string(), Secret::new(password)));
                }
                _ => return Err(format!("line {} is not USER:PASSWORD", n + 1)),
            }
        }
        if users.is_empty() {
            return Err("no USER:PASSWORD line".into());
        }
        Ok(BasicAuth { users })
    }

    /// Whether an `Authorization` header names one of the users with its password.
    pub fn allows(&self, authorization: Option<&HeaderValue>) -> bool {
        let Some(encoded) = authorization
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Basic "))
        else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let mut allowed = false;
        for (user, password) in &self.users {
            let expected = format!("{user}:{}", password.expose());
            allowed |= constant_time_eq(expected.as_bytes(), &decoded);
        }
        allowed
    }
}

/// Equality whose time depends on the lengths only.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware: pass allowed requests on, answer the others 401 with a `WWW-Authenticate`
/// challenge and Confluent's error body.
pub async fn require(State(auth): State<Arc<BasicAuth>>, request: Request, next: Next) -> Response {
    if auth.allows(request.headers().get(header::AUTHORIZATION)) {
        return next.run(request).await;
    }
    tracing::warn!(method = %request.method(), path = %request.uri().path(), "registry request refused: missing or wrong credentials");
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        401,
        "Unauthorized: this registry requires HTTP basic auth with a known user and password",
    )
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"eosflow-registry\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user_pass: &str) -> HeaderValue {
        let encoded = base64::engine::general_purpose::STANDARD.encode(user_pass);
        HeaderValue::from_str(&format!("Basic {encoded}")).expect("header")
    }

    #[test]
    fn the_file_is_parsed_and_credentials_checked() {
        let auth =
            BasicAuth::parse("# users\n\nalice:pw-a:with-colon\n bob:pw-b \n").expect("parses");
        assert!(auth.allows(Some(&header("alice:pw-a:with-colon"))));
        assert!(auth.allows(Some(&header("bob:pw-b"))));
        assert!(!auth.allows(Some(&header("bob:pw-a:with-colon"))));
        assert!(!auth.allows(Some(&header("alice:pw-a"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Bearer x"))));
        assert!(!auth.allows(Some(&HeaderValue::from_static("Basic !!!"))));
        assert!(!auth.allows(None));
        assert!(!format!("{auth:?}").contains("pw-"), "{auth:?}");
    }

    #[test]
    fn bad_files_name_the_line_not_its_text() {
        let e = BasicAuth::parse("alice:pw\nbob-secret-no-colon\n").expect_err("bad line");
        assert_eq!(e, "line 2 is not USER:PASSWORD");
        assert_eq!(
            BasicAuth::parse("# nothing\n").expect_err("empty"),
            "no USER:PASSWORD line"
        );
        assert!(BasicAuth::parse(":pw").is_err());
        assert!(BasicAuth::parse("user:").is_err());
    }
}
