//! The domain record and its identity.
//!
//! A [`User`] is what the classic pipeline's `format_data` keeps, plus where it came from
//! ([`SourceIdentity`]). The row key is a pure function of that identity:
//!
//! ```text
//! key = UUIDv5(EOSFLOW_NAMESPACE, canonical)
//! EOSFLOW_NAMESPACE = UUIDv5(NAMESPACE_URL, "urn:eosflow:user-identity")
//!                   = 9d9faead-e24d-588e-8d49-a1bd25871db7
//! canonical = JSON array [source, seed, page, index], e.g. ["generator","demo",1,0]
//! ```
//!
//! The JSON array is unambiguous for any seed text (quotes and separators are escaped), and never
//! includes Kafka offsets, times or anything else that differs between a record and its replay.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The namespace of every eosflow row key: `UUIDv5(NAMESPACE_URL, "urn:eosflow:user-identity")`.
pub fn eosflow_namespace() -> Uuid {
    Uuid::new_v5(&Uuid::NAMESPACE_URL, b"urn:eosflow:user-identity")
}

/// Where a user came from; replaying the same identity yields the same user.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SourceIdentity {
    /// Source name: `generator` or the name of an HTTP source (default `randomuser`).
    pub source: String,
    /// Seed the source was asked with.
    pub seed: String,
    /// 1-based page within the seed.
    pub page: u64,
    /// 0-based index within the page.
    pub index: u32,
}

impl SourceIdentity {
    /// The canonical string: the JSON array `[source, seed, page, index]`.
    pub fn canonical(&self) -> String {
        serde_json::json!([self.source, self.seed, self.page, self.index]).to_string()
    }

    /// The row key: UUIDv5 of the canonical string in the eosflow namespace.
    pub fn key(&self) -> Uuid {
        Uuid::new_v5(&eosflow_namespace(), self.canonical().as_bytes())
    }
}

/// A formatted, validated user: the fields of the newest User schema (`avro/user.v2.avsc`), in
/// order. The v2 fields (`nat`, `age`, `cell`) are optional: `None` when the source does not know
/// them or the record was written with v1. They never take part in the identity or the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub source_name: String,
    pub source_seed: String,
    pub source_page: i64,
    pub source_index: i32,
    pub external_id: Option<String>,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    pub address: String,
    pub post_code: String,
    pub email: String,
    pub username: String,
    pub dob: String,
    pub registered_date: String,
    pub phone: String,
    pub picture: String,
    /// v2: nationality code as randomuser gives it (e.g. `"GB"`).
    pub nat: Option<String>,
    /// v2: age in years (randomuser `dob.age`; the generator's at 2026-01-01).
    pub age: Option<i32>,
    /// v2: mobile phone number.
    pub cell: Option<String>,
}

impl User {
    /// The user's source identity, read back from its fields.
    pub fn identity(&self) -> SourceIdentity {
        SourceIdentity {
            source: self.source_name.clone(),
            seed: self.source_seed.clone(),
            page: u64::try_from(self.source_page).unwrap_or(0),
            index: u32::try_from(self.source_index).unwrap_or(0),
        }
    }

    /// The row key (see the module docs).
    pub fn key(&self) -> Uuid {
        self.identity().key()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_and_key_are_pinned() {
        // Changing either would re-key every row ever written: never change these values.
        // Values computed independently with Python's uuid module:
        // uuid5(uuid5(NAMESPACE_URL, "urn:eosflow:user-identity"), '["generator","demo",1,0]').
        assert_eq!(
            eosflow_namespace().to_string(),
            "9d9faead-e24d-588e-8d49-a1bd25871db7"
        );
        let id = SourceIdentity {
            source: "generator".into(),
            seed: "demo".into(),
            page: 1,
            index: 0,
        };
        assert_eq!(id.canonical(), r#"["generator","demo",1,0]"#);
        assert_eq!(id.key().to_string(), PINNED_KEY);
        assert_eq!(id.key().get_version_num(), 5);
    }

    const PINNED_KEY: &str = "3be17628-9e0f-5883-9e6c-55e40790f31e";

    #[test]
    fn canonical_is_unambiguous() {
        let a = SourceIdentity {
            source: "a".into(),
            seed: "b\",\"c".into(),
            page: 1,
            index: 2,
        };
        let b = SourceIdentity {
            source: "a\",\"b".into(),
            seed: "c".into(),
            page: 1,
            index: 2,
        };
        assert_ne!(a.canonical(), b.canonical());
        assert_ne!(a.key(), b.key());
    }
}
