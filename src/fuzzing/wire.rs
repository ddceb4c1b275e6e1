//! `wire_avro_decode`: a Kafka record value decoded as `eosflow process` decodes it.

use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use apache_avro::Schema;
use serde_json::{json, Value};

use crate::avro::history::{as_written_with, by_version};
use crate::avro::{decode_user, encode_user};
use crate::model::User;
use crate::pipeline::decode::RecordDecoder;
use crate::registry::client::RegistryError;
use crate::schema::parse_strict;

/// The schemas the decode target works with, parsed once.
pub(super) struct Avro {
    /// (schema id, writer schema) as the registry would answer them.
    writers: Vec<(u32, Arc<Schema>)>,
    v1: Schema,
    pub(super) v2: Schema,
    renaming: Schema,
    /// The processor's decoder for each reader (v2, v1, renaming), kept across inputs: as in the
    /// processor, each writer id is checked once.
    decoders: [Mutex<RecordDecoder>; 3],
}

pub(super) fn history_text(version: u32) -> &'static str {
    by_version(version).map_or("null", |file| file.text)
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

/// The reader schemas of [`wire_avro_decode`], named.
pub fn wire_reader_schemas() -> Vec<(&'static str, String)> {
    vec![
        ("v1", history_text(1).to_string()),
        ("v2", history_text(2).to_string()),
        ("v2 renaming", reader_renaming()),
    ]
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
        let (v1, v2, renaming) = (
            strict(history_text(1)),
            strict(history_text(2)),
            strict(&reader_renaming()),
        );
        Avro {
            writers: wire_writer_schemas()
                .into_iter()
                .map(|(id, text)| (id, Arc::new(parse(&text))))
                .collect(),
            decoders: [&v2, &v1, &renaming].map(|r| Mutex::new(RecordDecoder::new(r))),
            v1,
            v2,
            renaming,
        }
    })
}

/// A Confluent-framed record value, decoded as `eosflow process` decodes it (the same
/// [`RecordDecoder`]), into three readers that must agree.
pub fn wire_avro_decode(data: &[u8]) {
    let avro = avro();
    // Any id but the fixtures' is `unknown-schema-id`, as the registry would say.
    let mut lookup = |id: u32| {
        avro.writers
            .iter()
            .find(|(known, _)| *known == id)
            .map(|(_, writer)| writer.clone())
            .ok_or(RegistryError::UnknownSchemaId {
                id,
                url: "fuzz".into(),
            })
    };
    let mut decode = |i: usize| -> Option<User> {
        let mut decoder = avro.decoders[i]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match decoder.decode(Some(data), &mut lookup) {
            Ok(Ok(user)) => Some(user),
            // Poison (any class) is a normal outcome; the registry cannot be unavailable here.
            Ok(Err(_)) | Err(_) => None,
        }
    };
    let (by_v2, by_v1, by_renaming) = (decode(0), decode(1), decode(2));
    // The decode plan against the Value-tree decoder, for the record's writer and each reader.
    if let Ok((id, body)) = crate::avro::unframe(data) {
        if let Ok(writer) = lookup(id) {
            for reader in [&avro.v2, &avro.v1, &avro.renaming] {
                if let Some(why) = crate::avro::plan::disagreement(&writer, reader, body) {
                    panic!("writer {id}: {why}");
                }
            }
        }
    }
    assert_eq!(by_renaming, by_v2, "the renaming reader disagrees with v2");
    let without_v2_fields = by_v2.as_ref().map(|user| as_written_with(1, user));
    assert_eq!(by_v1, without_v2_fields, "the v1 reader disagrees with v2");
    for (reader, user) in [(&avro.v1, by_v1), (&avro.v2, by_v2)] {
        if let Some(user) = user {
            assert_round_trip(reader, &user);
        }
    }
}

/// `user` encoded with `schema` decodes back to itself, and `produce`'s planned encoder writes
/// the same bytes as the general one.
pub(super) fn assert_round_trip(schema: &Schema, user: &User) {
    let encoded = encode_user(schema, user);
    let bytes = match encoded {
        Ok(bytes) => bytes,
        Err(error) => panic!("a decoded user does not encode: {error}\n{user:?}"),
    };
    let planned = crate::avro::UserEncoder::new(schema, 0).framed(user);
    assert_eq!(
        planned.as_deref().ok(),
        Some(crate::avro::frame(0, &bytes).as_slice()),
        "the planned encoder disagrees with the general one"
    );
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
        let renaming = parse_strict(&reader_renaming()).expect("renaming reader");
        for reader in [&avro.v1, &avro.v2, &renaming] {
            assert!(matches!(reader, Schema::Record(_)));
            assert!(validate_reader(reader, "fixture").is_ok());
            for (id, writer) in &avro.writers {
                assert!(matches!(**writer, Schema::Record(_)), "writer {id}");
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
