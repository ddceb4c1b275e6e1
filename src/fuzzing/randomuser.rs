//! `randomuser_json`: a randomuser page body, parsed and formatted as the HTTP source does.

use serde_json::Value;

use super::wire::{assert_round_trip, avro};
use crate::model::SourceIdentity;
use crate::pipeline::decode::invalid_user;
use crate::source::randomuser::{format_user, parse_page, redact, SECRET_FIELDS};

/// A randomuser page body, parsed and formatted as the HTTP source does.
pub fn randomuser_json(data: &[u8]) {
    let Ok(page) = parse_page(data) else {
        return;
    };
    for (index, raw) in (0u32..).zip(&page.results) {
        // The HTTP source only takes pages it asked for, and it asks for pages ≥ 1.
        let identity = SourceIdentity {
            source: "randomuser".into(),
            seed: page.info.seed.clone(),
            page: page.info.page.max(1),
            index,
        };
        let formatted = format_user(raw, &identity);
        // Secrets are never read: the same user without them formats exactly the same, so no
        // reason (nor anything else) can depend on them.
        assert_eq!(
            format_user(&redact(raw), &identity),
            formatted,
            "the outcome depends on login secrets"
        );
        match formatted {
            Ok(user) => {
                if let Some(poison) = invalid_user(&user) {
                    panic!("the source accepted a user the processor rejects: {poison:?}");
                }
                assert_round_trip(&avro().v2, &user);
            }
            Err(rejection) => {
                assert!(
                    !rejection.reason.trim().is_empty(),
                    "a rejection without reason"
                );
                let kept: Value = match serde_json::from_str(&rejection.raw) {
                    Ok(kept) => kept,
                    Err(error) => panic!("a rejection's raw user is not JSON ({error})"),
                };
                assert!(!has_secret_key(&kept), "a rejection keeps a secret: {kept}");
            }
        }
    }
}

/// Whether any object in `value` has one of the [`SECRET_FIELDS`] as a key.
fn has_secret_key(value: &Value) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(key, inner)| SECRET_FIELDS.contains(&key.as_str()) || has_secret_key(inner)),
        Value::Array(items) => items.iter().any(has_secret_key),
        _ => false,
    }
}
