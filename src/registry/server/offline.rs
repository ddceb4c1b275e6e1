//! The registry's request-body handling without HTTP: what `eosflow registry serve` answers to a
//! request that carries a body, computed on an in-memory state with the same functions its axum
//! handlers call. For the fuzz target `registry_request` (`fuzz/`) and its corpus replay test;
//! routing, path and query extraction stay axum's.

use axum::body::Bytes;
use serde_json::{json, Value};

use super::api::lookup_in;
use super::api_settings::{compat_body, compat_messages_in, level_in, mode_in, put_config_in};
use super::error::ApiError;
use super::request::schema_request;
use super::state::{State, VersionSel};

/// A request that carries a body, with what the handler takes from its path and query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyRequest<'a> {
    /// POST /subjects/{subject}/versions
    Register { subject: &'a str },
    /// POST /subjects/{subject}[?deleted=true]
    Lookup { subject: &'a str, deleted: bool },
    /// POST /compatibility/subjects/{subject}/versions[/{version}][?verbose=true]
    Compatibility {
        subject: &'a str,
        version: Option<&'a str>,
        verbose: bool,
    },
    /// PUT /config[/{subject}]
    Config { subject: Option<&'a str> },
    /// PUT /mode[/{subject}][?force=true]
    Mode {
        subject: Option<&'a str>,
        force: bool,
    },
}

/// An answer: the HTTP status and the JSON body (Confluent's `{"error_code", "message"}` for
/// errors).
#[derive(Debug, Clone, PartialEq)]
pub struct BodyAnswer {
    pub status: u16,
    pub body: Value,
}

/// A registry held in memory, answering body requests as the server does. Like the server's
/// store, a request that fails leaves the state as it was.
#[derive(Debug, Clone, Default)]
pub struct OfflineRegistry {
    state: State,
}

impl OfflineRegistry {
    /// An empty registry (global level BACKWARD, mode READWRITE).
    pub fn new() -> Self {
        OfflineRegistry::default()
    }

    /// The answer to `request` with `body`, applying it when it succeeds.
    pub fn answer(&mut self, request: BodyRequest<'_>, body: &[u8]) -> BodyAnswer {
        match self.handle(request, &Bytes::copy_from_slice(body)) {
            Ok(body) => BodyAnswer { status: 200, body },
            Err(error) => BodyAnswer {
                status: error.status.as_u16(),
                body: json!({ "error_code": error.code, "message": error.message }),
            },
        }
    }

    fn handle(&mut self, request: BodyRequest<'_>, body: &Bytes) -> Result<Value, ApiError> {
        match request {
            BodyRequest::Register { subject } => {
                let request = schema_request(body)?;
                let registered = self.mutate(|state| state.register(subject, &request))?;
                Ok(json!({ "id": registered.id }))
            }
            BodyRequest::Lookup { subject, deleted } => {
                let request = schema_request(body)?;
                lookup_in(&self.state, subject, &request, deleted)
            }
            BodyRequest::Compatibility {
                subject,
                version,
                verbose,
            } => {
                let sel = version.map(VersionSel::parse).transpose()?;
                let request = schema_request(body)?;
                let messages = compat_messages_in(&self.state, subject, sel, &request)?;
                Ok(compat_body(messages, verbose))
            }
            BodyRequest::Config { subject } => {
                let level = level_in(body)?;
                let level = self.mutate(|state| put_config_in(state, subject, level))?;
                Ok(json!({ "compatibility": level.as_str() }))
            }
            BodyRequest::Mode { subject, force } => {
                let mode = mode_in(body)?;
                self.mutate(|state| state.set_mode(subject, mode, force))?;
                Ok(json!({ "mode": mode.as_str() }))
            }
        }
    }

    /// Runs `f` on a copy and keeps the copy only when `f` succeeds, as the server's store does.
    fn mutate<T>(
        &mut self,
        f: impl FnOnce(&mut State) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut next = self.state.clone();
        let answer = f(&mut next)?;
        self.state = next;
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"string"}]}"#;

    fn body(schema: &str) -> Vec<u8> {
        json!({ "schema": schema }).to_string().into_bytes()
    }

    #[test]
    fn answers_like_the_server() {
        let mut registry = OfflineRegistry::new();
        let register = BodyRequest::Register { subject: "s" };
        let first = registry.answer(register, &body(V1));
        assert_eq!(
            first,
            BodyAnswer {
                status: 200,
                body: json!({ "id": 1 })
            }
        );
        assert_eq!(registry.answer(register, &body(V1)), first);
        let lookup = registry.answer(
            BodyRequest::Lookup {
                subject: "s",
                deleted: false,
            },
            &body(V1),
        );
        assert_eq!(lookup.body["version"], json!(1), "{lookup:?}");
        let needs_b = r#"{"type":"record","name":"U","fields":[{"name":"b","type":"int"}]}"#;
        let compat = registry.answer(
            BodyRequest::Compatibility {
                subject: "s",
                version: Some("latest"),
                verbose: true,
            },
            &body(needs_b),
        );
        assert_eq!(compat.body["is_compatible"], json!(false), "{compat:?}");
        let refused = registry.answer(register, &body(needs_b));
        assert_eq!(refused.status, 409, "{refused:?}");
        let bad = registry.answer(register, b"{not json");
        assert_eq!((bad.status, &bad.body["error_code"]), (400, &json!(400)));
        let level = registry.answer(
            BodyRequest::Config { subject: None },
            br#"{"compatibility":"none"}"#,
        );
        assert_eq!(level.body, json!({ "compatibility": "NONE" }));
        assert_eq!(
            registry.answer(register, &body(needs_b)).body,
            json!({ "id": 2 })
        );
    }

    #[test]
    fn a_failed_request_leaves_the_state_alone() {
        let mut registry = OfflineRegistry::new();
        // register() creates the subject's entry before refusing the chosen version.
        let chosen = json!({ "schema": V1, "version": 5 }).to_string();
        let refused = registry.answer(BodyRequest::Register { subject: "s" }, chosen.as_bytes());
        assert_eq!(refused.body["error_code"], json!(42205), "{refused:?}");
        assert!(registry.state.subjects.is_empty(), "{:?}", registry.state);
    }
}
