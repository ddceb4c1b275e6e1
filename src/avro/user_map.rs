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
use super::project::{kind, Kind};
use crate::model::User;

/// What a User field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Str,
    Long,
    Int,
}

/// Every User field: its name, its type, whether it is required.
const USER_FIELDS: [(&str, Want, bool); 19] = [
    ("source_name", Want::Str, true),
    ("source_seed", Want::Str, true),
    ("source_page", Want::Long, true),
    ("source_index", Want::Int, true),
    ("external_id", Want::Str, false),
    ("first_name", Want::Str, true),
    ("last_name", Want::Str, true),
    ("gender", Want::Str, true),
    ("address", Want::Str, true),
    ("post_code", Want::Str, true),
    ("email", Want::Str, true),
    ("username", Want::Str, true),
    ("dob", Want::Str, true),
    ("registered_date", Want::Str, true),
    ("phone", Want::Str, true),
    ("picture", Want::Str, true),
    ("nat", Want::Str, false),
    ("age", Want::Int, false),
    ("cell", Want::Str, false),
];

/// The User field a reader field fills: its own name, else its first alias naming one.
fn user_field_of(field: &RecordField) -> Option<&'static str> {
    let known = |name: &str| USER_FIELDS.iter().find(|(n, _, _)| *n == name).map(|f| f.0);
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
    for (user_field, want, required) in USER_FIELDS {
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
        let nullable = branches.iter().any(|b| kind(b) == Kind::Null);
        let values: Vec<Kind> = branches
            .iter()
            .map(|b| kind(b))
            .filter(|k| *k != Kind::Null)
            .collect();
        let fits = matches!(
            (want, values.as_slice()),
            (Want::Str, [Kind::String])
                | (Want::Int, [Kind::Int])
                | (Want::Long, [Kind::Long | Kind::Int])
        );
        let shown = serde_json::to_string(&field.schema).unwrap_or_default();
        if !fits {
            let want = match want {
                Want::Str => "string",
                Want::Long => "long (or int)",
                Want::Int => "int",
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
    let fields = record
        .fields
        .iter()
        .zip(values)
        .filter_map(|(field, (_, value))| Some((user_field_of(field)?, value)))
        .collect();
    from_fields(Fields(fields))
}

/// Fields of a decoded record, by User field name.
struct Fields(Vec<(&'static str, Value)>);

impl Fields {
    fn take(&mut self, name: &str) -> Result<Value, CodecError> {
        self.absent_is_none(name)
            .ok_or_else(|| CodecError::Mismatch {
                detail: format!("field {name:?} is missing"),
            })
            .map(|value| match value {
                Value::Union(_, inner) => *inner,
                other => other,
            })
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

    /// A nullable field that older schemas lack: absent is `None` (e.g. a v1 reader).
    fn absent_is_none(&mut self, name: &str) -> Option<Value> {
        let i = self.0.iter().position(|(n, _)| *n == name)?;
        Some(self.0.swap_remove(i).1)
    }

    fn optional(&mut self, name: &str) -> Option<Value> {
        match self.absent_is_none(name)? {
            Value::Union(_, inner) => Some(*inner),
            other => Some(other),
        }
        .filter(|v| *v != Value::Null)
    }

    fn optional_int(&mut self, name: &str) -> Result<Option<i32>, CodecError> {
        match self.optional(name) {
            None => Ok(None),
            Some(Value::Int(v)) => Ok(Some(v)),
            Some(other) => Err(wrong_type(name, "null or int", &other)),
        }
    }

    fn optional_string(&mut self, name: &str) -> Result<Option<String>, CodecError> {
        match self.optional(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(name, "null or string", &other)),
        }
    }
}

fn wrong_type(name: &str, want: &str, got: &Value) -> CodecError {
    CodecError::Mismatch {
        detail: format!("field {name:?} should be {want}, found {got:?}"),
    }
}

fn from_fields(mut f: Fields) -> Result<User, CodecError> {
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
        nat: f.optional_string("nat")?,
        age: f.optional_int("age")?,
        cell: f.optional_string("cell")?,
    })
}
