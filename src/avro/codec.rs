//! User ⇄ Avro datum. Decoding reads with the writer's schema and projects into the reader's,
//! so a processor with one reader schema reads every compatible writer version.

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::types::Value;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;

use crate::model::User;

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
}

/// Encode a user as an Avro binary datum of `schema` (any User version: fields the user does not
/// have take their defaults).
pub fn encode_user(schema: &Schema, user: &User) -> Result<Vec<u8>, CodecError> {
    let err = |detail: String| CodecError::Encode {
        key: user.key().to_string(),
        detail,
    };
    let mut value = to_value(user);
    if !value.validate(schema) {
        value = value.resolve(schema).map_err(|e| err(e.to_string()))?;
    }
    GenericDatumWriter::builder(schema)
        .build()
        .and_then(|w| w.write_value_to_vec(value))
        .map_err(|e| err(e.to_string()))
}

/// Decode an Avro body written with `writer` into a user, projected through `reader`.
pub fn decode_user(writer: &Schema, reader: &Schema, body: &[u8]) -> Result<User, CodecError> {
    let datum_reader = GenericDatumReader::builder(writer)
        .reader_schema(reader)
        .build()
        .map_err(|e| CodecError::Mismatch {
            detail: e.to_string(),
        })?;
    let mut cursor = body;
    let value = datum_reader
        .read_value(&mut cursor)
        .map_err(|e| CodecError::Corrupt {
            len: body.len(),
            detail: e.to_string(),
        })?;
    if !cursor.is_empty() {
        return Err(CodecError::Trailing {
            trailing: cursor.len(),
        });
    }
    from_value(value)
}

fn to_value(u: &User) -> Value {
    let s = |v: &str| Value::String(v.to_string());
    Value::Record(vec![
        ("source_name".into(), s(&u.source_name)),
        ("source_seed".into(), s(&u.source_seed)),
        ("source_page".into(), Value::Long(u.source_page)),
        ("source_index".into(), Value::Int(u.source_index)),
        (
            "external_id".into(),
            match &u.external_id {
                None => Value::Union(0, Box::new(Value::Null)),
                Some(id) => Value::Union(1, Box::new(s(id))),
            },
        ),
        ("first_name".into(), s(&u.first_name)),
        ("last_name".into(), s(&u.last_name)),
        ("gender".into(), s(&u.gender)),
        ("address".into(), s(&u.address)),
        ("post_code".into(), s(&u.post_code)),
        ("email".into(), s(&u.email)),
        ("username".into(), s(&u.username)),
        ("dob".into(), s(&u.dob)),
        ("registered_date".into(), s(&u.registered_date)),
        ("phone".into(), s(&u.phone)),
        ("picture".into(), s(&u.picture)),
    ])
}

/// Fields of a decoded record, looked up by name.
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn take(&mut self, name: &str) -> Result<Value, CodecError> {
        let i = self
            .0
            .iter()
            .position(|(n, _)| n == name)
            .ok_or_else(|| CodecError::Mismatch {
                detail: format!("field {name:?} is missing"),
            })?;
        Ok(self.0.swap_remove(i).1)
    }

    fn string(&mut self, name: &str) -> Result<String, CodecError> {
        match self.take(name)? {
            Value::String(s) => Ok(s),
            other => Err(wrong_type(name, "string", &other)),
        }
    }

    fn long(&mut self, name: &str) -> Result<i64, CodecError> {
        match self.take(name)? {
            Value::Long(v) => Ok(v),
            Value::Int(v) => Ok(i64::from(v)),
            other => Err(wrong_type(name, "long", &other)),
        }
    }

    fn int(&mut self, name: &str) -> Result<i32, CodecError> {
        match self.take(name)? {
            Value::Int(v) => Ok(v),
            other => Err(wrong_type(name, "int", &other)),
        }
    }

    fn optional_string(&mut self, name: &str) -> Result<Option<String>, CodecError> {
        match self.take(name)? {
            Value::Union(_, inner) => match *inner {
                Value::Null => Ok(None),
                Value::String(s) => Ok(Some(s)),
                other => Err(wrong_type(name, "null or string", &other)),
            },
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(wrong_type(name, "null or string", &other)),
        }
    }
}

fn wrong_type(name: &str, want: &str, got: &Value) -> CodecError {
    CodecError::Mismatch {
        detail: format!("field {name:?} should be {want}, found {got:?}"),
    }
}

fn from_value(value: Value) -> Result<User, CodecError> {
    let Value::Record(fields) = value else {
        return Err(CodecError::Mismatch {
            detail: format!("expected a record, found {value:?}"),
        });
    };
    let mut f = Fields(fields);
    Ok(User {
        source_name: f.string("source_name")?,
        source_seed: f.string("source_seed")?,
        source_page: f.long("source_page")?,
        source_index: f.int("source_index")?,
        external_id: f.optional_string("external_id")?,
        first_name: f.string("first_name")?,
        last_name: f.string("last_name")?,
        gender: f.string("gender")?,
        address: f.string("address")?,
        post_code: f.string("post_code")?,
        email: f.string("email")?,
        username: f.string("username")?,
        dob: f.string("dob")?,
        registered_date: f.string("registered_date")?,
        phone: f.string("phone")?,
        picture: f.string("picture")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::avro::history::newest_parsed;

    pub(crate) fn sample() -> User {
        User {
            source_name: "generator".into(),
            source_seed: "s".into(),
            source_page: 3,
            source_index: 7,
            external_id: Some("0b4f6a0e-3d55-4c0e-9f3b-0d6f1d0b8b11".into()),
            first_name: "Jennie".into(),
            last_name: "Nichols".into(),
            gender: "female".into(),
            address: "8929 Valwood Pkwy, Billings, Michigan, United States".into(),
            post_code: "63104".into(),
            email: "jennie.nichols@example.com".into(),
            username: "yellowpeacock117".into(),
            dob: "1992-03-08T15:13:16.688Z".into(),
            registered_date: "2007-07-09T05:51:59.390Z".into(),
            phone: "(272) 790-0888".into(),
            picture: "https://randomuser.me/api/portraits/med/women/75.jpg".into(),
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

    #[test]
    fn a_writer_with_fewer_fields_and_a_reader_with_more_defaults_project() {
        let writer = Schema::parse_str(
            r#"{"type":"record","name":"User","namespace":"dev.eosflow.users","fields":[
            {"name":"source_name","type":"string"}]}"#,
        )
        .expect("writer");
        let body = GenericDatumWriter::builder(&writer)
            .build()
            .and_then(|w| {
                w.write_value_to_vec(Value::Record(vec![(
                    "source_name".into(),
                    Value::String("g".into()),
                )]))
            })
            .expect("datum");
        // The real reader needs fields the writer lacks and that have no defaults: a mismatch.
        let err = decode_user(&writer, newest_parsed(), &body).expect_err("no defaults");
        assert!(
            matches!(
                err,
                CodecError::Mismatch { .. } | CodecError::Corrupt { .. }
            ),
            "{err:?}"
        );
    }
}
