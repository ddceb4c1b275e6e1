//! `registry_request`: request bodies answered by the registry's body handling, in order.

use std::sync::OnceLock;

use serde_json::json;

use crate::avro::user_schema_history;
use crate::registry::server::{BodyAnswer, BodyRequest, OfflineRegistry};

/// A registry holding `avro/`'s history under `users-value`, an `Address` under `address` that
/// `person` references, a subject at FULL_TRANSITIVE, one READONLY and one in IMPORT mode.
fn seeded_registry() -> OfflineRegistry {
    static SEEDED: OnceLock<OfflineRegistry> = OnceLock::new();
    SEEDED
        .get_or_init(|| {
            let mut registry = OfflineRegistry::new();
            let address = r#"{"type":"record","name":"Address","namespace":"ns","fields":[{"name":"city","type":"string"}]}"#;
            let person = r#"{"type":"record","name":"Person","namespace":"ns","fields":[{"name":"home","type":"ns.Address"}]}"#;
            let mut setup = vec![
                ("POST /subjects/address/versions".to_string(), json!({ "schema": address })),
                (
                    "POST /subjects/person/versions".to_string(),
                    json!({ "schema": person, "references": [
                        {"name": "ns.Address", "subject": "address", "version": 1}] }),
                ),
                ("PUT /config/strict".to_string(), json!({ "compatibility": "FULL_TRANSITIVE" })),
                ("PUT /mode/imported".to_string(), json!({ "mode": "IMPORT" })),
            ];
            for file in user_schema_history() {
                for subject in ["users-value", "strict", "frozen"] {
                    let target = format!("POST /subjects/{subject}/versions");
                    setup.push((target, json!({ "schema": file.text })));
                }
            }
            setup.push(("PUT /mode/frozen".to_string(), json!({ "mode": "READONLY" })));
            for (target, body) in setup {
                registry_step(&mut registry, &target, body.to_string().as_bytes());
            }
            registry
        })
        .clone()
}

/// Requests separated by NUL bytes (never part of JSON text), each `METHOD /path?query\nbody`,
/// answered in order by one registry.
pub fn registry_request(data: &[u8]) {
    let mut registry = seeded_registry();
    for request in data.split(|b| *b == 0).take(16) {
        let (line, body) = match request.iter().position(|b| *b == b'\n') {
            Some(at) => (&request[..at], &request[at + 1..]),
            None => (request, &[][..]),
        };
        registry_step(&mut registry, &String::from_utf8_lossy(line), body);
    }
}

/// Parses a request line into what the handler gets from its route (None: no body route).
fn route(line: &str) -> Option<BodyRequest<'_>> {
    let (method, target) = line.trim_end().split_once(' ')?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let flag = |name: &str| {
        query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, v)| k == name && v.trim().eq_ignore_ascii_case("true"))
        })
    };
    let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    Some(match (method, parts.as_slice()) {
        ("POST", ["subjects", subject, "versions"]) => BodyRequest::Register { subject },
        ("POST", ["subjects", subject]) => BodyRequest::Lookup {
            subject,
            deleted: flag("deleted"),
        },
        ("POST", ["compatibility", "subjects", subject, "versions", rest @ ..])
            if rest.len() < 2 =>
        {
            BodyRequest::Compatibility {
                subject,
                version: rest.first().copied(),
                verbose: flag("verbose"),
            }
        }
        ("PUT", ["config"]) => BodyRequest::Config { subject: None },
        ("PUT", ["config", subject]) => BodyRequest::Config {
            subject: Some(*subject),
        },
        ("PUT", ["mode"]) => BodyRequest::Mode {
            subject: None,
            force: flag("force"),
        },
        ("PUT", ["mode", subject]) => BodyRequest::Mode {
            subject: Some(*subject),
            force: flag("force"),
        },
        _ => return None,
    })
}

/// One request, with the registry's invariants checked on its answer.
fn registry_step(registry: &mut OfflineRegistry, line: &str, body: &[u8]) {
    let Some(request) = route(line) else {
        return;
    };
    let answer = registry.answer(request, body);
    assert_answer_shape(&answer, line);
    if let (BodyRequest::Register { subject }, 200) = (request, answer.status) {
        if references_own_latest(body, subject) {
            // "Latest of this subject" now names the version just registered: the same body is
            // another schema (the fuzzer's first registry finding, a false alarm).
            return;
        }
        let again = registry.answer(request, body);
        assert_eq!(
            again, answer,
            "registering the same schema again under {subject:?}"
        );
        let lookup = BodyRequest::Lookup {
            subject,
            deleted: false,
        };
        let found = registry.answer(lookup, body);
        assert_eq!(
            found.status, 200,
            "a registered schema is not found: {found:?}"
        );
        assert_eq!(
            found.body["id"], answer.body["id"],
            "lookup finds another id"
        );
    }
}

/// Whether the body references `subject` itself at version -1 (its latest version).
fn references_own_latest(body: &[u8], subject: &str) -> bool {
    let Ok(body) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    body["references"].as_array().is_some_and(|references| {
        references
            .iter()
            .any(|r| r["subject"] == json!(subject) && r["version"] == json!(-1))
    })
}

fn assert_answer_shape(answer: &BodyAnswer, line: &str) {
    assert!(answer.status < 500, "{line}: server error {answer:?}");
    if answer.status == 200 {
        return;
    }
    let code = answer.body["error_code"].as_u64().unwrap_or(0);
    let status = u64::from(answer.status);
    assert!(
        code == status || code / 100 == status,
        "{line}: error code {code} with HTTP {status}"
    );
    assert!(answer.body["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fuzzing::wire::history_text;
    use serde_json::Value;

    #[test]
    fn the_seeded_registry_holds_what_its_doc_says() {
        let mut registry = seeded_registry();
        let probe = |registry: &mut OfflineRegistry, line: &str, body: Value| {
            let request = route(line).unwrap_or_else(|| panic!("no route for {line}"));
            registry.answer(request, body.to_string().as_bytes())
        };
        let latest = probe(
            &mut registry,
            "POST /subjects/users-value",
            json!({ "schema": history_text(2) }),
        );
        assert_eq!(latest.body["version"], json!(2), "{latest:?}");
        let frozen = probe(
            &mut registry,
            "POST /subjects/frozen/versions",
            json!({ "schema": "\"string\"" }),
        );
        assert_eq!(frozen.body["error_code"], json!(42205), "{frozen:?}");
        let person = probe(
            &mut registry,
            "POST /subjects/person",
            json!({ "schema": "\"int\"" }),
        );
        assert_eq!(person.body["error_code"], json!(40403), "{person:?}");
    }
}
