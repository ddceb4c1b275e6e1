//! The dead-letter record a poison record becomes (what makes a record poison is decided by the
//! record decoder, [`super::decode`]).
//!
//! A record that cannot become a row — not Confluent-framed, an unknown schema id, corrupt or
//! truncated Avro, a schema that does not match the User reader, or a user that fails validation —
//! goes to the dead-letter topic (default `<topic>.dlq`, compacted) with its value untouched, keyed
//! by its source position `topic/partition@offset`, and these headers:
//!
//! | header | value |
//! |---|---|
//! | `eosflow.source.key` | the record's own key (absent when it had none) |
//! | `eosflow.source.value` | `null` when the record had no value (the letter's value is then empty, never a tombstone) |
//! | `eosflow.error.class` | `empty-value`, `bad-magic`, `truncated-header`, `unknown-schema-id`, `invalid-schema`, `corrupt-avro`, `schema-mismatch`, `invalid-user` |
//! | `eosflow.error.message` | the full error text |
//! | `eosflow.source.topic` / `.partition` / `.offset` | where the record was read |
//! | `eosflow.time` | when it was dead-lettered (ms since the Unix epoch) |
//!
//! The dead letter is acknowledged before the batch that moves the offset past the record commits,
//! so a record is never dropped. A crash between the two repeats the letter with the same key, so
//! it replaces the first one (compaction; a reader keyed by it sees one letter) and `verify`
//! counts dead letters by source position.

use std::time::{SystemTime, UNIX_EPOCH};

pub use super::decode::Poison;
use crate::kafka::producer::OutRecord;

/// The dead-letter topic's cleanup policy: compacted, since each letter's key is its source
/// position. Never a tombstone: a poison record without a value gets an empty one.
pub const DLQ_CLEANUP: (&str, &str) = ("cleanup.policy", "compact");

/// The key of the dead letter for the record at `topic/partition@offset`.
pub fn letter_key(topic: &str, partition: i32, offset: i64) -> String {
    format!("{topic}/{partition}@{offset}")
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
    let key_header = key.map(<[u8]>::to_vec);
    let mut letter = OutRecord::raw(
        dlq_topic,
        Some(letter_key(topic, partition, offset).as_bytes()),
        Some(value.unwrap_or_default()),
    );
    if let Some(original) = key_header {
        letter = letter.header("eosflow.source.key", original);
    }
    if value.is_none() {
        letter = letter.header("eosflow.source.value", "null");
    }
    letter
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
    fn headers_and_untouched_payload() {
        let p = Poison {
            class: "bad-magic",
            message: "m".into(),
        };
        let r = dead_letter("t.dlq", ("t", 2, 17), Some(b"k"), Some(b"\x01xyz"), &p);
        assert_eq!(
            (r.key.as_deref(), r.value.as_deref()),
            (Some(&b"t/2@17"[..]), Some(&b"\x01xyz"[..]))
        );
        let null = dead_letter("t.dlq", ("t", 2, 18), None, None, &p);
        assert_eq!(null.value.as_deref(), Some(&b""[..]), "never a tombstone");
        let nh: std::collections::BTreeMap<_, _> = null.headers.into_iter().collect();
        assert_eq!(nh["eosflow.source.value"], b"null");
        assert!(!nh.contains_key("eosflow.source.key"));
        let h: std::collections::BTreeMap<_, _> = r.headers.into_iter().collect();
        assert_eq!(h["eosflow.error.class"], b"bad-magic");
        assert_eq!(h["eosflow.source.partition"], b"2");
        assert_eq!(h["eosflow.source.key"], b"k");
        assert_eq!(h["eosflow.source.offset"], b"17");
        assert!(h.contains_key("eosflow.time"));
    }
}
