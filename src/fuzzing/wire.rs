//! `wire_avro_decode`: a Kafka record value decoded as `eosflow process` decodes it.

use std::sync::{Mutex, OnceLock, PoisonError};

use apache_avro::Schema;
use serde_json::{json, Value};

use crate::avro::{decode_user, encode_user, unframe, user_schema_history, WriterChecks};
use crate::model::User;
use crate::pipeline::dlq::{invalid_user, Poison};
use crate::schema::parse_strict;

/// The schemas the decode target works with, parsed once.
pub(super) struct Avro {
    /// (schema id, writer schema) as the registry would answer them.
    writers: Vec<(u32, Schema)>,
    v1: Schema,
    pub(super) v2: Schema,
    renaming: Schema,
    /// One per reader, kept across inputs: as in the processor, each writer id is checked once.
    checks: [Mutex<WriterChecks>; 3],
}

pub(super) fn history_text(version: u32) -> &'static str {
    user_schema_history()
        .iter()
        .find(|file| file.version == version)
        .map_or("null", |file| file.text)
}

fn history_json(version: u32) -> Value {
    serde_json::from_str(history_text(version)).unwrap_or(Value::Null)
}

/// v2's fields, each passed through `edit` (which may drop one by returning None), plus `extra`.
fn v2_with(mut edit: impl FnMut(Value) -> Option<Value>, extra: &[Value]) -> String {
    let mut schema = history_json(2);
    let fields = schema["fields"].as_array().cloned().unwrap_or_default();
    let mut fields: Vec<Value> = fields.into_iter().filter_map(&mut edit).collect();
    fields.extend_from_slice(extra);
    schema["fields"] = Value::Array(fields);
    schema.to_string()
}

/// v2 plus a nullable, recursive record of every other Avro type: the reader skips it.
fn writer_with_extras() -> String {
    let extras = json!({"name": "extras", "type": ["null", {
    "type": "record", "name": "Extras", "fields": [
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "scores", "type": {"type": "map", "values": "double"}},
        {"name": "level", "type": {"type": "enum", "name": "Level", "symbols": ["LOW", "HIGH"]}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "blob", "type": "bytes"},
        {"name": "ratio", "type": "float"},
        {"name": "flag", "type": "boolean"},
        {"name": "seen_ms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "next", "type": ["null", "Extras"]}
    ]}]});
    v2_with(Some, &[extras])
}

/// v2 written with the types Avro promotes (int → long, bytes → string, a branch → its union),
/// fields in reverse order, and external_id left to the reader's default.
fn writer_with_promotions() -> String {
    let mut reversed = v2_with(
        |mut field| {
            let ty = match field["name"].as_str() {
                Some("external_id") => return None,
                Some("source_page") => json!("int"),
                Some("first_name") => json!("bytes"),
                Some("nat") => json!("string"),
                Some("age") => json!("int"),
                Some("cell") => json!(["string", "null"]),
                Some("registered_date") => json!({"type": "string", "logicalType": "iso-8601"}),
                _ => field["type"].clone(),
            };
            if ty != field["type"] {
                // A default of the old type would not match the new one (writers need none).
                if let Some(field) = field.as_object_mut() {
                    field.remove("default");
                }
            }
            field["type"] = ty;
            Some(field)
        },
        &[],
    );
    if let Ok(mut schema) = serde_json::from_str::<Value>(&reversed) {
        if let Some(fields) = schema["fields"].as_array_mut() {
            fields.reverse();
        }
        reversed = schema.to_string();
    }
    reversed
}

/// v2 with `phone` renamed `phone_number` and `cell` renamed `mobile`, the old names as aliases.
fn reader_renaming() -> String {
    v2_with(
        |mut field| {
            match field["name"].as_str() {
                Some("phone") => {
                    field["name"] = json!("phone_number");
                    field["aliases"] = json!(["phone"]);
                }
                Some("cell") => {
                    field["name"] = json!("mobile");
                    field["aliases"] = json!(["cell_phone", "cell"]);
                }
                _ => {}
            }
            Some(field)
        },
        &[],
    )
}

/// The writer schemas of [`wire_avro_decode`] by schema id, as JSON text (for seed corpora).
pub fn wire_writer_schemas() -> Vec<(u32, String)> {
    vec![
        (1, history_text(1).to_string()),
        (2, history_text(2).to_string()),
        (3, writer_with_extras()),
        (4, writer_with_promotions()),
    ]
}

pub(super) fn avro() -> &'static Avro {
    static AVRO: OnceLock<Avro> = OnceLock::new();
    AVRO.get_or_init(|| {
        // The fixtures are constants; a unit test proves they parse, so Null never happens.
        let parse = |text: &str| Schema::parse_str(text).unwrap_or(Schema::Null);
        let strict = |text: &str| parse_strict(text).unwrap_or(Schema::Null);
        Avro {
            writers: wire_writer_schemas()
                .into_iter()
                .map(|(id, text)| (id, parse(&text)))
                .collect(),
            v1: strict(history_text(1)),
            v2: strict(history_text(2)),
            renaming: strict(&reader_renaming()),
            checks: Default::default(),
        }
    })
}

/// A Confluent-framed record value, decoded as `eosflow process` decodes it.
pub fn wire_avro_decode(data: &[u8]) {
    let avro = avro();
    let (id, body) = match unframe(data) {
        Ok(framed) => framed,
        Err(error) => {
            Poison::wire(&error);
            return;
        }
    };
    // Any other id is `unknown-schema-id` in the processor.
    let Some((_, writer)) = avro.writers.iter().find(|(known, _)| *known == id) else {
        return;
    };
    let decode = |reader: &Schema, checks: &Mutex<WriterChecks>| -> Option<User> {
        let verdict = checks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .check(id, reader, writer);
        let decoded = verdict.and_then(|()| decode_user(writer, reader, body));
        match decoded {
            Ok(user) => {
                invalid_user(&user);
                Some(user)
            }
            Err(error) => {
                Poison::codec(&error);
                None
            }
        }
    };
    let by_v2 = decode(&avro.v2, &avro.checks[0]);
    let by_v1 = decode(&avro.v1, &avro.checks[1]);
    let by_renaming = decode(&avro.renaming, &avro.checks[2]);
    assert_eq!(by_renaming, by_v2, "the renaming reader disagrees with v2");
    let without_v2_fields = by_v2.clone().map(|user| User {
        nat: None,
        age: None,
        cell: None,
        ..user
    });
    assert_eq!(by_v1, without_v2_fields, "the v1 reader disagrees with v2");
    for (reader, user) in [(&avro.v1, by_v1), (&avro.v2, by_v2)] {
        if let Some(user) = user {
            assert_round_trip(reader, &user);
        }
    }
}

/// `user` encoded with `schema` decodes back to itself.
pub(super) fn assert_round_trip(schema: &Schema, user: &User) {
    let encoded = encode_user(schema, user);
    let bytes = match encoded {
        Ok(bytes) => bytes,
        Err(error) => panic!("a decoded user does not encode: {error}\n{user:?}"),
    };
    match decode_user(schema, schema, &bytes) {
        Ok(back) => assert_eq!(&back, user, "the Avro round trip changed the user"),
        Err(error) => panic!("an encoded user does not decode: {error}\n{user:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::reader::validate_reader;
    use crate::schema::check;

    #[test]
    fn fixtures_parse_and_every_writer_is_readable_by_every_reader() {
        let avro = avro();
        for reader in [&avro.v1, &avro.v2, &avro.renaming] {
            assert!(matches!(reader, Schema::Record(_)));
            assert!(validate_reader(reader, "fixture").is_ok());
            for (id, writer) in &avro.writers {
                assert!(matches!(writer, Schema::Record(_)), "writer {id}");
                let found = check(reader, writer);
                assert!(found.is_empty(), "writer {id}: {found:?}");
            }
        }
    }

    #[test]
    fn a_broken_property_is_a_panic() {
        // The targets can fail: a user the codec cannot encode is caught by the round trip.
        let user = crate::source::generator::generate_user("fuzz", 1, 0, "generator");
        let result = std::panic::catch_unwind(|| assert_round_trip(&Schema::Null, &user));
        assert!(result.is_err());
    }
}
