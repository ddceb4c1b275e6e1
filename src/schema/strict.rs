//! [`parse_strict`]: parse an Avro schema as strictly as Java's `Schema.Parser` (with its default
//! validation on, as since Avro 1.9), then with apache-avro.
//!
//! apache-avro accepts some schemas Java refuses, most visibly a field default that matches a
//! union branch other than the first (the spec and Java require the FIRST branch). The checks
//! here run on the JSON first, so every problem is reported with a JSON pointer to where it is.

use std::panic::{catch_unwind, AssertUnwindSafe};

use apache_avro::Schema;
use serde_json::{Map, Value};

use super::strict_json::{type_name, Problem, Walk, PRIMITIVES};

/// Why a schema text is not a valid Avro schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("not valid JSON: {0}")]
    Json(#[source] serde_json::Error),
    #[error("invalid Avro schema: {}", join(.0))]
    Invalid(Vec<Problem>),
    #[error("invalid Avro schema (apache-avro): {0}")]
    Avro(String),
}

impl SchemaError {
    /// The problems found with their locations (empty for JSON and apache-avro errors).
    pub fn problems(&self) -> &[Problem] {
        match self {
            SchemaError::Invalid(problems) => problems,
            _ => &[],
        }
    }
}

fn join(problems: &[Problem]) -> String {
    let texts: Vec<String> = problems.iter().map(Problem::to_string).collect();
    texts.join("; ")
}

/// Parses `text` as an Avro schema, refusing what Java's parser refuses: field defaults that do
/// not match the field's type (for a union: its first branch), named types defined twice, unknown
/// type names, invalid names, namespaces, aliases and enum symbols, duplicate fields, symbols and
/// union branches, nested unions, enum defaults that are not symbols, missing required attributes.
/// Every problem found is reported, each with its location (e.g. `/fields/2/default`).
pub fn parse_strict(text: &str) -> Result<Schema, SchemaError> {
    let json: Value = serde_json::from_str(text).map_err(SchemaError::Json)?;
    let walk = Walk::run(&json);
    let mut problems = walk.problems.clone();
    for to_check in &walk.defaults {
        let mut validator = Defaults {
            walk: &walk,
            depth: 0,
        };
        if !validator.valid(to_check.ty, to_check.space.as_deref(), to_check.default) {
            problems.push(Problem {
                location: to_check.location.clone(),
                message: default_problem(&to_check.field, to_check.ty, to_check.default),
            });
        }
    }
    if !problems.is_empty() {
        return Err(SchemaError::Invalid(problems));
    }
    // apache-avro may panic on exotic input: never let that take the caller down.
    match catch_unwind(AssertUnwindSafe(|| Schema::parse(&json))) {
        Ok(Ok(schema)) => Ok(schema),
        Ok(Err(error)) => Err(SchemaError::Avro(error.to_string())),
        Err(_) => Err(SchemaError::Avro(
            "the parser failed on this schema (panic)".to_string(),
        )),
    }
}

fn default_problem(field: &str, ty: &Value, default: &Value) -> String {
    if let Value::Array(branches) = ty {
        let first = branches
            .first()
            .map(short)
            .unwrap_or_else(|| "nothing".to_string());
        let null_elsewhere = branches.iter().skip(1).any(|b| b.as_str() == Some("null"));
        let hint = if default.is_null() && null_elsewhere {
            "put \"null\" first in the union to default to null".to_string()
        } else {
            format!("reorder the union so the default's type comes first, or use a {first} default")
        };
        return format!(
            "default {default} of field '{field}' does not match the union's FIRST branch \
             {first} (a union field's default must be a value of its first branch): {hint}"
        );
    }
    format!(
        "default {default} of field '{field}' is not a valid value of its type {}: change the \
         default to a value of that type",
        short(ty)
    )
}

/// A type for a message: its JSON, or its kind and name when long.
fn short(ty: &Value) -> String {
    let text = ty.to_string();
    if text.chars().count() <= 60 {
        return text;
    }
    match ty.as_object() {
        Some(object) => {
            let kind = object.get("type").and_then(Value::as_str).unwrap_or("type");
            match object.get("name").and_then(Value::as_str) {
                Some(name) => format!("{kind} '{name}'"),
                None => kind.to_string(),
            }
        }
        None => text.chars().take(57).chain("...".chars()).collect(),
    }
}

/// Java's `Schema.isValidDefault`.
struct Defaults<'w, 'a> {
    walk: &'w Walk<'a>,
    depth: usize,
}

impl Defaults<'_, '_> {
    fn valid(&mut self, ty: &Value, space: Option<&str>, default: &Value) -> bool {
        // A record default refers to its fields' defaults, which could nest without end.
        if self.depth > 64 {
            return false;
        }
        self.depth += 1;
        let valid = match ty {
            Value::String(name) if PRIMITIVES.contains(&name.as_str()) => primitive(name, default),
            Value::String(name) => match self.walk.resolve(name, space) {
                Some(definition) => {
                    let (value, space) = (definition.value, definition.space.clone());
                    self.complex(value, space.as_deref(), default)
                }
                None => false,
            },
            // A union's default must be a value of its FIRST branch.
            Value::Array(branches) => branches
                .first()
                .is_some_and(|first| self.valid(first, space, default)),
            Value::Object(object) => self.complex(object, space, default),
            _ => false,
        };
        self.depth -= 1;
        valid
    }

    fn complex(
        &mut self,
        object: &Map<String, Value>,
        space: Option<&str>,
        default: &Value,
    ) -> bool {
        let Some(ty) = object.get("type") else {
            return false;
        };
        match ty.as_str() {
            Some("enum" | "fixed") => default.is_string(),
            Some("array") => match (object.get("items"), default.as_array()) {
                (Some(items), Some(elements)) => {
                    elements.iter().all(|e| self.valid(items, space, e))
                }
                _ => false,
            },
            Some("map") => match (object.get("values"), default.as_object()) {
                (Some(values), Some(entries)) => {
                    entries.values().all(|e| self.valid(values, space, e))
                }
                _ => false,
            },
            Some("record" | "error") => {
                let own_space = type_name(object, space).and_then(|(_, space)| space);
                let (Some(fields), Some(given)) = (
                    object.get("fields").and_then(Value::as_array),
                    default.as_object(),
                ) else {
                    return false;
                };
                fields.iter().all(|field| {
                    let Some(field) = field.as_object() else {
                        return false;
                    };
                    let name = field
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let value = given.get(name).or_else(|| field.get("default"));
                    match (field.get("type"), value) {
                        (Some(field_ty), Some(value)) => {
                            self.valid(field_ty, own_space.as_deref(), value)
                        }
                        _ => false,
                    }
                })
            }
            // A primitive with attributes (e.g. a logical type), a reference, or a nested type.
            _ => self.valid(ty, space, default),
        }
    }
}

fn primitive(name: &str, default: &Value) -> bool {
    match name {
        "null" => default.is_null(),
        "boolean" => default.is_boolean(),
        "int" => default.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
        "long" => default.is_i64(),
        "float" | "double" => {
            default.is_number()
                || matches!(default.as_str(), Some("NaN" | "Infinity" | "-Infinity"))
        }
        // string, bytes
        _ => default.is_string(),
    }
}
