//! Poison records: what makes a record one, and the dead-letter record it becomes.
//!
//! A record that cannot become a row — not Confluent-framed, an unknown schema id, corrupt or
//! truncated Avro, a schema that does not match the User reader, or a user that fails validation —
//! goes to the dead-letter topic (default `<topic>.dlq`) with its key and value untouched and
//! these headers:
//!
//! | header | value |
//! |---|---|
//! | `eosflow.error.class` | `empty-value`, `bad-magic`, `truncated-header`, `unknown-schema-id`, `invalid-schema`, `corrupt-avro`, `schema-mismatch`, `invalid-user` |
//! | `eosflow.error.message` | the full error text |
//! | `eosflow.source.topic` / `.partition` / `.offset` | where the record was read |
//! | `eosflow.time` | when it was dead-lettered (ms since the Unix epoch) |
//!
//! The dead letter is acknowledged before the batch that moves the offset past the record commits,
//! so a record is never dropped; a crash between the two can repeat a dead letter, recognisable
//! by its source coordinates.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::avro::{CodecError, WireError};
use crate::kafka::producer::OutRecord;
use crate::model::User;
use crate::registry::client::RegistryError;
use crate::source::randomuser::{email_problem, parse_timestamp, phone_problem, GENDERS};

/// Why a record cannot become a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    pub class: &'static str,
    pub message: String,
}

impl Poison {
    pub fn wire(e: &WireError) -> Self {
        let class = match e {
            WireError::Empty => "empty-value",
            WireError::BadMagic { .. } => "bad-magic",
            WireError::Truncated { .. } => "truncated-header",
        };
        Poison {
            class,
            message: e.to_string(),
        }
    }

    /// None for transient registry errors: those are retried, never dead-lettered.
    pub fn registry(e: &RegistryError) -> Option<Self> {
        let class = match e {
            RegistryError::UnknownSchemaId { .. } => "unknown-schema-id",
            RegistryError::InvalidSchema { .. } => "invalid-schema",
            _ => return None,
        };
        Some(Poison {
            class,
            message: e.to_string(),
        })
    }

    pub fn codec(e: &CodecError) -> Self {
        let class = match e {
            CodecError::Mismatch { .. } | CodecError::Incompatible { .. } => "schema-mismatch",
            _ => "corrupt-avro",
        };
        Poison {
            class,
            message: e.to_string(),
        }
    }
}

/// The checks the producer's validation applies, on a decoded user (a record from another
/// producer may not have been validated).
pub fn invalid_user(u: &User) -> Option<Poison> {
    let mut problems = Vec::new();
    for (name, value) in [
        ("first_name", &u.first_name),
        ("last_name", &u.last_name),
        ("username", &u.username),
    ] {
        if value.trim().is_empty() {
            problems.push(format!("{name}: empty"));
        }
    }
    if !GENDERS.contains(&u.gender.as_str()) {
        problems.push(format!("gender: {:?} is not one of {GENDERS:?}", u.gender));
    }
    if let Some(p) = email_problem(&u.email) {
        problems.push(format!("email: {p}"));
    }
    if let Some(p) = phone_problem(&u.phone) {
        problems.push(format!("phone: {p}"));
    }
    for (name, value) in [("dob", &u.dob), ("registered_date", &u.registered_date)] {
        if parse_timestamp(value).is_none() {
            problems.push(format!("{name}: {value:?} is not an ISO-8601 timestamp"));
        }
    }
    if u.source_page < 1 || u.source_index < 0 {
        problems.push(format!(
            "identity: page {} index {} out of range",
            u.source_page, u.source_index
        ));
    }
    (!problems.is_empty()).then(|| Poison {
        class: "invalid-user",
        message: problems.join("; "),
    })
}

/// The dead letter for a record read at `topic/partition@offset`.
pub fn dead_letter(
    dlq_topic: &str,
    source: (&str, i32, i64),
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    poison: &Poison,
) -> OutRecord {
    let (topic, partition, offset) = source;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    OutRecord::raw(dlq_topic, key, value)
        .header("eosflow.error.class", poison.class)
        .header("eosflow.error.message", poison.message.as_bytes())
        .header("eosflow.source.topic", topic)
        .header("eosflow.source.partition", partition.to_string())
        .header("eosflow.source.offset", offset.to_string())
        .header("eosflow.time", now.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(
            Poison::wire(&WireError::BadMagic { found: 1 }).class,
            "bad-magic"
        );
        assert_eq!(Poison::wire(&WireError::Empty).class, "empty-value");
        let unknown = RegistryError::UnknownSchemaId {
            id: 9,
            url: "u".into(),
        };
        assert_eq!(
            Poison::registry(&unknown).map(|p| p.class),
            Some("unknown-schema-id")
        );
        let down = RegistryError::Unavailable {
            url: "u".into(),
            detail: "d".into(),
        };
        assert_eq!(
            Poison::registry(&down),
            None,
            "transient: retried, not dead-lettered"
        );
        assert_eq!(
            Poison::codec(&CodecError::Trailing { trailing: 1 }).class,
            "corrupt-avro"
        );
        let incompatible = CodecError::Incompatible {
            id: 3,
            reasons: "TYPE_MISMATCH at /fields/12/type: ...".into(),
        };
        let poison = Poison::codec(&incompatible);
        assert_eq!(poison.class, "schema-mismatch");
        assert!(
            poison.message.contains("TYPE_MISMATCH"),
            "{}",
            poison.message
        );
    }

    #[test]
    fn headers_and_untouched_payload() {
        let p = Poison {
            class: "bad-magic",
            message: "m".into(),
        };
        let r = dead_letter("t.dlq", ("t", 2, 17), None, Some(b"\x01xyz"), &p);
        assert_eq!((r.key, r.value.as_deref()), (None, Some(&b"\x01xyz"[..])));
        let h: std::collections::BTreeMap<_, _> = r.headers.into_iter().collect();
        assert_eq!(h["eosflow.error.class"], b"bad-magic");
        assert_eq!(h["eosflow.source.partition"], b"2");
        assert_eq!(h["eosflow.source.offset"], b"17");
        assert!(h.contains_key("eosflow.time"));
    }
}
