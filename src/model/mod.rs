//! The domain record, its field table and its identity.
//!
//! - [`User`] and [`USER_FIELDS`], generated together from one list (see [`fields`]);
//! - [`SourceIdentity`] and the row key below;
//! - [`sample`]: the one sample-user builder of the tests and fuzz seeds.
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

pub mod fields;
pub mod instant;
pub mod sample;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use fields::user_record;
pub use fields::{
    instant_companion, Field, FieldData, FieldError, FieldKind, FieldType, FieldValue,
    INSTANT_SUFFIX,
};

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

user_record! {
    /// A formatted, validated user: the fields of the User schema, in order (`avro/user.v3.avsc`
    /// also carries each timestamp as a `timestamp-millis` companion, filled from the field). The
    /// v2 fields (`nat`, `age`, `cell`) are optional: `None` when the source does not know them
    /// or the record was written with v1. They never take part in the identity or the
    /// key.
    ///
    /// This list is the User field table ([`USER_FIELDS`]): the Avro codec and every sink's
    /// columns derive from it. Adding a field is a line here, a new schema version in `avro/`,
    /// and the sources that fill it (`source::generator`, `source::randomuser`).
    pub struct User {
        source_name: String,
        source_seed: String,
        source_page: i64,
        source_index: i32,
        external_id: Option<String>,
        first_name: String,
        last_name: String,
        gender: String,
        address: String,
        post_code: String,
        email: String,
        username: String,
        /// Date of birth: canonical ISO-8601 UTC (see [`instant`]).
        dob: String as Timestamp,
        /// Registration time: canonical ISO-8601 UTC.
        registered_date: String as Timestamp,
        phone: String,
        picture: String,
        /// v2: nationality code as randomuser gives it (e.g. `"GB"`).
        nat: Option<String>,
        /// v2: age in years (randomuser `dob.age`; the generator's at 2026-01-01).
        age: Option<i32>,
        /// v2: mobile phone number.
        cell: Option<String>,
    }
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

    #[test]
    fn the_field_table_follows_the_struct_and_round_trips() {
        let names: Vec<&str> = USER_FIELDS.iter().map(|f| f.name).collect();
        assert_eq!(names.len(), USER_FIELD_COUNT);
        assert_eq!(
            names[..4],
            ["source_name", "source_seed", "source_page", "source_index"]
        );
        let optional: Vec<&str> = USER_FIELDS
            .iter()
            .filter(|f| f.optional)
            .map(|f| f.name)
            .collect();
        assert_eq!(optional, ["external_id", "nat", "age", "cell"]);
        assert_eq!(USER_FIELDS[2].kind, FieldKind::Long);
        assert_eq!(USER_FIELDS[17].kind, FieldKind::Int);
        let user = sample::user(1);
        let values = user.values();
        let back = User::from_fields(|f| {
            let i = USER_FIELDS
                .iter()
                .position(|g| g.name == f.name)
                .unwrap_or(0);
            Ok(values[i].to_data())
        })
        .expect("round trip");
        assert_eq!(back, user);
        let err = User::from_fields(|f| {
            Ok(if f.name == "email" {
                FieldData::Null
            } else {
                FieldData::Text(String::new())
            })
        })
        .expect_err("wrong kinds");
        assert_eq!(err.field, "source_page", "the first misfit is named: {err}");
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
