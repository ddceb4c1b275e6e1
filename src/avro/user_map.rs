//! Reader record → [`User`]: which reader field fills which User field, whether a reader schema
//! can be mapped at all, and the mapping of a projected datum.
//!
//! A reader field fills the User field of its own name, or else the first of its aliases that
//! names a User field: a reader that renames `phone` to `phone_number` with
//! `"aliases": ["phone"]` still fills `User.phone`. User fields the reader lacks come back as
//! `None` when optional (external_id, nat, age, cell) and make the reader unusable when required.

use apache_avro::schema::RecordField;
use apache_avro::types::Value;
use apache_avro::Schema;

use super::codec::CodecError;
use super::project::kind;
use crate::model::{FieldData, FieldError, FieldKind, User, USER_FIELDS};
use crate::schema::Type;

/// The User field a reader field fills: its own name, else its first alias naming one.
pub(super) fn user_field_of(field: &RecordField) -> Option<&'static str> {
    let known = |name: &str| USER_FIELDS.iter().find(|f| f.name == name).map(|f| f.name);
    known(&field.name).or_else(|| field.aliases.iter().find_map(|a| known(a)))
}

/// Every reason `reader` cannot be decoded into a User (empty when it can).
pub fn user_mapping_problems(reader: &Schema) -> Vec<String> {
    let Schema::Record(record) = reader else {
        return vec![format!(
            "it is not a record schema but {}",
            serde_json::to_string(reader).unwrap_or_default()
        )];
    };
    let mut problems = Vec::new();
    for user in &USER_FIELDS {
        let (user_field, required) = (user.name, !user.optional);
        let mapped: Vec<&RecordField> = record
            .fields
            .iter()
            .filter(|f| user_field_of(f) == Some(user_field))
            .collect();
        let field = match mapped.as_slice() {
            [] if required => {
                problems.push(format!(
                    "User.{user_field} is required but no reader field is named {user_field:?} \
                     or has it as an alias"
                ));
                continue;
            }
            [] => continue,
            [one] => *one,
            several => {
                let names: Vec<&str> = several.iter().map(|f| f.name.as_str()).collect();
                problems.push(format!(
                    "reader fields {names:?} all map to User.{user_field}: keep one"
                ));
                continue;
            }
        };
        let branches: Vec<&Schema> = match &field.schema {
            Schema::Union(u) => u.variants().iter().collect(),
            other => vec![other],
        };
        let nullable = branches.iter().any(|b| kind(b) == Some(Type::Null));
        let values: Vec<Option<Type>> = branches
            .iter()
            .map(|b| kind(b))
            .filter(|k| *k != Some(Type::Null))
            .collect();
        let fits = matches!(
            (user.kind, values.as_slice()),
            (FieldKind::Text | FieldKind::Timestamp, [Some(Type::String)])
                | (FieldKind::Int, [Some(Type::Int)])
                | (FieldKind::Long, [Some(Type::Long | Type::Int)])
        );
        let shown = serde_json::to_string(&field.schema).unwrap_or_default();
        if !fits {
            let want = match user.kind {
                FieldKind::Long => "long (or int)",
                kind => kind.avro_type(),
            };
            problems.push(format!(
                "reader field {:?} fills User.{user_field}, a {want}, but its type is {shown}",
                field.name
            ));
        } else if required && nullable {
            problems.push(format!(
                "reader field {:?} fills User.{user_field}, which is required, but its type {shown} \
                 allows null",
                field.name
            ));
        }
    }
    problems
}

/// A datum projected onto `reader` (see [`super::project`]) as a User.
pub fn to_user(reader: &Schema, value: Value) -> Result<User, CodecError> {
    let (Schema::Record(record), Value::Record(values)) = (reader, value) else {
        return Err(CodecError::Mismatch {
            detail: "the reader schema or the datum is not a record".into(),
        });
    };
    let mut fields: Vec<(&'static str, Value)> = record
        .fields
        .iter()
        .zip(values)
        .filter_map(|(field, (_, value))| Some((user_field_of(field)?, value)))
        .collect();
    // A field the reader lacks is null: optional, or the mismatch below names it.
    User::from_fields(|field| {
        let value = match fields.iter().position(|(n, _)| *n == field.name) {
            Some(i) => fields.swap_remove(i).1,
            None => Value::Null,
        };
        field_data(field.name, value)
    })
    .map_err(|e| CodecError::Mismatch {
        detail: e.to_string(),
    })
}

/// A projected Avro value (a union's branch unwrapped) as field data.
fn field_data(name: &'static str, value: Value) -> Result<FieldData, FieldError> {
    Ok(match value {
        Value::Union(_, inner) => return field_data(name, *inner),
        Value::Null => FieldData::Null,
        Value::String(s) => FieldData::Text(s),
        Value::Long(v) => FieldData::Long(v),
        Value::Int(v) => FieldData::Int(v),
        other => {
            return Err(FieldError {
                field: name,
                detail: format!("found {other:?}"),
            })
        }
    })
}
