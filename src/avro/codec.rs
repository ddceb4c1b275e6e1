//! User → Avro datum of any User schema version (decoding is in [`super::reader`]).

use apache_avro::schema::SchemaKind;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use crate::model::instant::to_millis;
use crate::model::{instant_companion, FieldValue, User, USER_FIELDS};

/// Errors converting between [`User`] and Avro bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("cannot encode user {key} with the User schema: {detail}")]
    Encode { key: String, detail: String },
    #[error("corrupt or truncated Avro body ({len} bytes) for the writer schema: {detail}")]
    Corrupt { len: usize, detail: String },
    #[error("Avro body has {trailing} trailing bytes after the record: wrong writer schema or corrupt record")]
    Trailing { trailing: usize },
    #[error("record does not match the User reader schema: {detail}")]
    Mismatch { detail: String },
    #[error("writer schema id {id} is not readable by the reader schema (eosflow's Avro compatibility check): {reasons}")]
    Incompatible { id: u32, reasons: String },
}

/// Encode a user as an Avro binary datum of `schema`, which may be any User schema of the
/// history (or a later one).
///
/// The record is built for the target schema explicitly: its fields are walked in order and each
/// is taken from the user by name; a field the user does not have takes the field's default
/// (an error when it has none), and user fields the schema lacks are left out. Values are fitted
/// to the field's type (the right union branch, int → long promotion, …).
pub fn encode_user(schema: &Schema, user: &User) -> Result<Vec<u8>, CodecError> {
    let err = |detail: String| CodecError::Encode {
        key: user.key().to_string(),
        detail,
    };
    let Schema::Record(record) = schema else {
        return Err(err(format!(
            "the target schema is not a record schema: {:?}",
            SchemaKind::from(schema)
        )));
    };
    let mut available = user_fields(user);
    let mut out = Vec::with_capacity(record.fields.len());
    for field in &record.fields {
        let value = match take_field(&mut available, &field.name) {
            Some(value) => fit(value, &field.schema)
                .map_err(|e| err(format!("field {:?}: {e}", field.name)))?,
            None if instant_companion(&field.name).is_some() => fit(
                companion_value(user, &field.name).map_err(&err)?,
                &field.schema,
            )
            .map_err(|e| err(format!("field {:?}: {e}", field.name)))?,
            None => match &field.default {
                Some(default) => default_value(default, &field.schema)
                    .map_err(|e| err(format!("default of field {:?}: {e}", field.name)))?,
                None => {
                    return Err(err(format!(
                        "schema {} has a field {:?} that User does not have and that has no \
                         default",
                        record.name.fullname(None),
                        field.name
                    )))
                }
            },
        };
        out.push((field.name.clone(), value));
    }
    // The record was built field by field for this schema, so a record of primitives (every
    // User version so far) is written directly; anything else goes through the library's
    // validating writer.
    if let Some(bytes) = encode_flat_record(&out) {
        return Ok(bytes);
    }
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(Value::Record(out)))
        .map_err(|e| err(e.to_string()))
}

/// Avro binary of a record whose fields are null, boolean, int, long, string, or a union of
/// those, in schema order and already fitted to their field types (see [`fit`]); `None` for any
/// other value. Byte-identical to the library's writer (pinned by a test) and an order of
/// magnitude faster in debug builds, which matters per record.
fn encode_flat_record(fields: &[(String, Value)]) -> Option<Vec<u8>> {
    fn primitive(value: &Value, out: &mut Vec<u8>) -> Option<()> {
        match value {
            Value::Null => {}
            Value::Boolean(b) => out.push(u8::from(*b)),
            Value::Int(v) => zigzag(i64::from(*v), out),
            Value::Long(v) | Value::TimestampMillis(v) => zigzag(*v, out),
            Value::String(s) => {
                zigzag(i64::try_from(s.len()).ok()?, out);
                out.extend_from_slice(s.as_bytes());
            }
            _ => return None,
        }
        Some(())
    }
    let mut out = Vec::with_capacity(
        fields
            .iter()
            .map(|(_, v)| match v {
                Value::String(s) => s.len() + 2,
                _ => 4,
            })
            .sum(),
    );
    for (_, value) in fields {
        match value {
            Value::Union(branch, inner) => {
                zigzag(i64::from(*branch), &mut out);
                primitive(inner, &mut out)?;
            }
            plain => primitive(plain, &mut out)?,
        }
    }
    Some(out)
}

/// Avro's variable-length zig-zag encoding of an int or long.
pub(crate) fn zigzag(n: i64, out: &mut Vec<u8>) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// Removes and returns the named field (User order first: usually at the front).
fn take_field(fields: &mut Vec<(&'static str, Value)>, name: &str) -> Option<Value> {
    let i = fields.iter().position(|(n, _)| *n == name)?;
    Some(fields.remove(i).1)
}

/// Whether a plain value (never a union) is already of `schema`'s type.
fn same_kind(value: &Value, schema: &Schema) -> bool {
    matches!(
        (value, schema),
        (Value::Null, Schema::Null)
            | (Value::String(_), Schema::String)
            | (Value::Int(_), Schema::Int)
            | (Value::Long(_), Schema::Long)
            | (Value::TimestampMillis(_), Schema::TimestampMillis)
    )
}

/// The value of the `timestamp-millis` companion `name` of a timestamp field (`dob_ms`): the
/// field's instant.
fn companion_value(user: &User, name: &str) -> Result<Value, String> {
    let (slot, field) =
        instant_companion(name).ok_or_else(|| format!("{name} is no timestamp's companion"))?;
    match user.values()[slot] {
        FieldValue::Text(s) => to_millis(s)
            .map(Value::TimestampMillis)
            .map_err(|e| format!("field {}: {}", field.name, e.about(s))),
        other => Err(format!(
            "field {}: {other:?} is not a timestamp",
            field.name
        )),
    }
}

/// `value` as a datum of `schema`: wrapped in the matching union branch, or resolved (promotions).
fn fit(value: Value, schema: &Schema) -> Result<Value, String> {
    if let Schema::Union(union) = schema {
        if let Some(i) = union.variants().iter().position(|v| same_kind(&value, v)) {
            return Ok(Value::Union(i as u32, Box::new(value)));
        }
    } else if same_kind(&value, schema) {
        return Ok(value);
    }
    let shown = format!("{value:?}");
    value
        .resolve(schema)
        .map_err(|e| format!("{shown} does not fit {:?}: {e}", SchemaKind::from(schema)))
}

/// A field's JSON default as a datum of the field's schema (a union's default is of its first
/// branch).
fn default_value(default: &serde_json::Value, schema: &Schema) -> Result<Value, String> {
    let plain = Value::try_from(default.clone()).map_err(|e| e.to_string())?;
    match schema {
        Schema::Union(union) => {
            let first = union
                .variants()
                .first()
                .ok_or_else(|| "empty union".to_string())?;
            let inner = if same_kind(&plain, first) {
                plain
            } else {
                plain.resolve(first).map_err(|e| e.to_string())?
            };
            Ok(Value::Union(0, Box::new(inner)))
        }
        _ => fit(plain, schema),
    }
}

/// The user as a record of the User fields (schema v2's), union branches as `["null", T]`.
#[cfg(test)]
fn to_value(u: &User) -> Value {
    Value::Record(
        USER_FIELDS
            .iter()
            .zip(user_fields(u))
            .map(|(field, (name, value))| {
                let value = match value {
                    Value::Null => Value::Union(0, Box::new(Value::Null)),
                    v if field.optional => Value::Union(1, Box::new(v)),
                    v => v,
                };
                (name.to_string(), value)
            })
            .collect(),
    )
}

/// Every User field by its Avro name, in newest-schema order, as plain values (`None` is
/// [`Value::Null`], never wrapped in a union: [`fit`] picks the branch of the target schema).
fn user_fields(u: &User) -> Vec<(&'static str, Value)> {
    USER_FIELDS
        .iter()
        .zip(u.values())
        .map(|(field, value)| (field.name, avro_value(value)))
        .collect()
}

/// A field value as the Avro value of its kind.
pub(crate) fn avro_value(value: FieldValue<'_>) -> Value {
    match value {
        FieldValue::Null => Value::Null,
        FieldValue::Text(s) => Value::String(s.to_string()),
        FieldValue::Long(v) => Value::Long(v),
        FieldValue::Int(v) => Value::Int(v),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::avro::history::{by_version, newest_parsed};
    use crate::avro::reader::decode_user;
    use apache_avro::reader::datum::GenericDatumReader;

    /// A sample user with every v2 field set (and no external id).
    pub(crate) fn sample() -> User {
        crate::model::sample::user(7)
    }

    fn parsed(version: u32) -> Schema {
        by_version(version)
            .expect("schema version in the history")
            .parsed()
            .clone()
    }

    /// The v1 datum a v1-era producer wrote: the v1 fields only, through the v1 schema.
    fn v1_body(u: &User) -> Vec<u8> {
        let v1 = parsed(1);
        let Value::Record(fields) = to_value(u) else {
            panic!("to_value is a record")
        };
        let kept = fields
            .into_iter()
            .filter(|(n, _)| by_version(1).is_some_and(|f| f.has_field(n)))
            .collect();
        GenericDatumWriter::builder(&v1)
            .build()
            .and_then(|w| w.write_value_to_vec(Value::Record(kept)))
            .expect("v1 datum")
    }

    #[test]
    fn newest_schema_is_v3_and_to_value_fills_v2() {
        assert_eq!(crate::avro::history::newest_user_schema().version, 3);
        let value = to_value(&sample());
        assert!(value.validate(&parsed(2)), "{value:?}");
        let mut none = sample();
        (none.nat, none.age, none.cell, none.external_id) = (None, None, None, None);
        assert!(to_value(&none).validate(&parsed(2)));
    }

    #[test]
    fn v3_carries_each_timestamp_as_timestamp_millis_too() {
        let u = sample();
        let body = encode_user(newest_parsed(), &u).expect("encode v3");
        let value = GenericDatumReader::builder(newest_parsed())
            .build()
            .and_then(|r| r.read_value(&mut body.as_slice()))
            .expect("v3");
        let Value::Record(fields) = value else {
            panic!("a record")
        };
        let ms = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let dob = crate::model::instant::to_millis(&u.dob).expect("sample dob");
        assert_eq!(
            ms("dob_ms"),
            Some(Value::Union(1, Box::new(Value::TimestampMillis(dob))))
        );
        assert_eq!(ms("dob"), Some(Value::String(u.dob.clone())));
        assert_eq!(decode_user(newest_parsed(), newest_parsed(), &body), Ok(u));
    }

    #[test]
    fn v1_written_data_reads_into_v2_with_the_new_fields_none() {
        let u = sample();
        let body = v1_body(&u);
        let got = decode_user(&parsed(1), newest_parsed(), &body).expect("v1 -> v2");
        let want = User {
            nat: None,
            age: None,
            cell: None,
            ..u
        };
        assert_eq!(got, want);
    }

    #[test]
    fn v2_written_data_reads_into_v2() {
        let v2 = parsed(2);
        let mut u = sample();
        let bytes = encode_user(&v2, &u).expect("encode v2");
        assert_eq!(decode_user(&v2, newest_parsed(), &bytes).expect("v2"), u);
        // Every new field independently null.
        u.age = None;
        u.cell = Some("07871 924302".into());
        u.nat = None;
        let bytes = encode_user(&v2, &u).expect("encode v2");
        assert_eq!(decode_user(&v2, &v2, &bytes).expect("v2"), u);
    }

    #[test]
    fn encoding_with_v1_writes_a_v1_datum() {
        let v1 = parsed(1);
        let u = sample();
        let bytes = encode_user(&v1, &u).expect("encode with v1");
        assert_eq!(bytes, v1_body(&u), "exactly what a v1 producer wrote");
        let got = decode_user(&v1, newest_parsed(), &bytes).expect("v1 -> v2");
        assert_eq!((got.nat, got.age, got.cell), (None, None, None));
        assert_eq!(got.email, u.email);
        assert_eq!(got.external_id, u.external_id);
        // And a v1 reader reads it too (the v2 fields are simply absent).
        let back = decode_user(&v1, &v1, &bytes).expect("v1 -> v1");
        assert_eq!(back.key(), u.key());
        assert_eq!(back.nat, None);
    }

    #[test]
    fn a_target_schema_with_unknown_fields_uses_defaults_or_fails_clearly() {
        let with_default = Schema::parse_str(
            r#"{"type":"record","name":"User","namespace":"dev.eosflow.users","fields":[
            {"name":"source_name","type":"string"},
            {"name":"age","type":["null","long"],"default":null},
            {"name":"nat","type":["string","null"]},
            {"name":"tier","type":"int","default":3},
            {"name":"note","type":["string","null"],"default":"none"}]}"#,
        )
        .expect("schema");
        let u = sample();
        assert!(u.age.is_some() && u.nat.is_some());
        let bytes = encode_user(&with_default, &u).expect("defaults fill in");
        let back = GenericDatumReader::builder(&with_default)
            .build()
            .and_then(|r| r.read_value(&mut bytes.as_slice()))
            .expect("read back");
        assert_eq!(
            back,
            Value::Record(vec![
                ("source_name".into(), Value::String(u.source_name.clone())),
                (
                    "age".into(),
                    Value::Union(1, Box::new(Value::Long(u.age.map_or(0, i64::from))))
                ),
                (
                    "nat".into(),
                    Value::Union(
                        0,
                        Box::new(Value::String(u.nat.clone().unwrap_or_default()))
                    )
                ),
                ("tier".into(), Value::Int(3)),
                (
                    "note".into(),
                    Value::Union(0, Box::new(Value::String("none".into())))
                ),
            ])
        );
        let no_default = Schema::parse_str(
            r#"{"type":"record","name":"User","namespace":"dev.eosflow.users","fields":[
            {"name":"source_name","type":"string"},
            {"name":"tier","type":"int"}]}"#,
        )
        .expect("schema");
        let err = encode_user(&no_default, &sample()).expect_err("no default");
        let msg = err.to_string();
        assert!(matches!(err, CodecError::Encode { .. }), "{msg}");
        assert!(
            msg.contains("\"tier\"") && msg.contains("no default"),
            "{msg}"
        );
        let not_a_record = Schema::parse_str(r#""string""#).expect("schema");
        assert!(encode_user(&not_a_record, &sample()).is_err());
        // A None for a non-nullable target field is an error, not a corrupt datum.
        let strict_nat = Schema::parse_str(
            r#"{"type":"record","name":"User","namespace":"dev.eosflow.users","fields":[
            {"name":"nat","type":"string"}]}"#,
        )
        .expect("schema");
        let mut u = sample();
        u.nat = None;
        let msg = encode_user(&strict_nat, &u)
            .expect_err("null nat")
            .to_string();
        assert!(msg.contains("\"nat\""), "{msg}");
    }

    #[test]
    fn the_direct_writer_matches_the_library_byte_for_byte() {
        let v2 = parsed(2);
        let library = |value: Value| {
            GenericDatumWriter::builder(&v2)
                .build()
                .and_then(|w| w.write_value_to_vec(value))
                .expect("library writer")
        };
        let mut u = sample();
        let long_text = "é".repeat(200); // multi-byte length prefix
        let extremes = [
            (i64::MIN, i32::MIN),
            (i64::MAX, i32::MAX),
            (-1, -1),
            (0, 0),
            (63, 64),
            (-65, 8191),
        ];
        for (i, (page, index)) in extremes.into_iter().enumerate() {
            u.source_page = page;
            u.source_index = index;
            u.age = (i % 2 == 0).then_some(index);
            u.nat = (i % 3 != 0).then(|| "GB".into());
            u.cell = (i % 2 == 1).then(|| long_text.clone());
            u.address = long_text[..2 * i].to_string();
            let bytes = encode_user(&v2, &u).expect("encode");
            assert_eq!(bytes, library(to_value(&u)), "{u:?}");
            assert_eq!(decode_user(&v2, &v2, &bytes).expect("decode"), u);
        }
        let mut out = Vec::new();
        for n in [0, -1, 1, -64, 64, i64::MAX, i64::MIN] {
            out.clear();
            zigzag(n, &mut out);
            let reference = GenericDatumWriter::builder(&Schema::Long)
                .build()
                .and_then(|w| w.write_value_to_vec(Value::Long(n)))
                .expect("library long");
            assert_eq!(out, reference, "{n}");
        }
    }

    #[test]
    fn round_trip_with_and_without_external_id() {
        let schema = newest_parsed();
        let mut u = sample();
        for external in [Some("x".to_string()), None] {
            u.external_id = external;
            let bytes = encode_user(schema, &u).expect("encode");
            assert_eq!(decode_user(schema, schema, &bytes).expect("decode"), u);
        }
    }

    #[test]
    fn corrupt_truncated_and_trailing_bodies_are_errors() {
        let schema = newest_parsed();
        let bytes = encode_user(schema, &sample()).expect("encode");
        let truncated = &bytes[..bytes.len() / 2];
        assert!(matches!(
            decode_user(schema, schema, truncated),
            Err(CodecError::Corrupt { .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert_eq!(
            decode_user(schema, schema, &trailing),
            Err(CodecError::Trailing { trailing: 1 })
        );
    }
}
