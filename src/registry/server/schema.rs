//! Parsing submitted Avro schemas: validation, references, identity, compact rendering.

use std::panic::{catch_unwind, AssertUnwindSafe};

use apache_avro::Schema;
use serde::{Deserialize, Serialize};

/// A schema reference as Confluent's API spells it: the referenced type's full name, and the
/// subject/version that holds its schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    pub name: String,
    pub subject: String,
    pub version: u32,
}

/// A submitted schema, parsed.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// Self-contained (references inlined): what compatibility checks compare.
    pub resolved: Schema,
    /// What makes two submissions "the same schema": apache-avro's normalized JSON rendering of the
    /// parsed schema (referenced types by name). Insensitive to whitespace, key order and other
    /// formatting, but - unlike the Parsing Canonical Form, which strips them - it keeps defaults,
    /// logical types, aliases, docs and custom properties, which change how data is read. Confluent
    /// likewise keys schemas by Java Avro's full rendering, not by the canonical form.
    pub identity: String,
}

/// Parses `text` as an Avro schema. `referenced` holds the JSON of every schema it references,
/// directly or transitively. Errors are the parser's reason, for a 42201 answer.
pub fn parse_avro(text: &str, referenced: &[String]) -> Result<Parsed, String> {
    let parsed = catch_unwind(AssertUnwindSafe(|| parse_inner(text, referenced)));
    match parsed {
        Ok(result) => result,
        Err(_) => Err("the Avro parser failed on this schema (internal panic)".to_string()),
    }
}

fn parse_inner(text: &str, referenced: &[String]) -> Result<Parsed, String> {
    let (schema, resolved) = if referenced.is_empty() {
        // As strict as Java's parser (Confluent's), and every problem with where it is: a JSON
        // pointer, or the line and column of a JSON syntax error.
        let schema = crate::schema::parse_strict(text).map_err(|error| match error {
            crate::schema::SchemaError::Invalid(_) => error
                .problems()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        })?;
        (schema.clone(), schema)
    } else {
        let (schema, schemata) =
            Schema::parse_str_with_list(text, referenced).map_err(|error| error.to_string())?;
        let mut resolved = schema.clone();
        resolved
            .denormalize(&schemata)
            .map_err(|error| format!("cannot resolve the schema's references: {error}"))?;
        (schema, resolved)
    };
    let identity = serde_json::to_string(&schema)
        .map_err(|error| format!("cannot render the parsed schema: {error}"))?;
    Ok(Parsed { resolved, identity })
}

/// `text` without the whitespace between JSON tokens (strings untouched, key order kept), the way
/// Confluent hands schemas back. `text` must be valid JSON.
pub fn compact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_strings_and_order() {
        let text = "{ \"type\" : \"record\",\n \"name\": \"A b\", \"doc\": \"x \\\" y\",\t\"fields\": [] }";
        assert_eq!(
            compact_json(text),
            r#"{"type":"record","name":"A b","doc":"x \" y","fields":[]}"#
        );
    }

    #[test]
    fn identity_ignores_formatting_but_not_defaults() {
        let a = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int"}]}"#;
        let b = r#"{ "fields": [ {"type": "int", "name": "a"} ], "name": "U", "type": "record" }"#;
        let c = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int","default":1}]}"#;
        let id = |text: &str| match parse_avro(text, &[]) {
            Ok(parsed) => parsed.identity,
            Err(error) => panic!("{error}"),
        };
        assert_eq!(id(a), id(b));
        assert_ne!(id(a), id(c));
        assert_eq!(id(r#""string""#), id(r#"{"type":"string"}"#));
        assert_ne!(
            id(r#""long""#),
            id(r#"{"type":"long","logicalType":"timestamp-millis"}"#)
        );
    }

    #[test]
    fn invalid_schemas_give_the_parsers_reason() {
        for bad in [r#"{"type":"record","name":"U"}"#, r#""nope""#, "{", "42"] {
            assert!(parse_avro(bad, &[]).is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn invalid_schemas_say_where() {
        let default =
            r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int","default":"x"}]}"#;
        let reason = parse_avro(default, &[]).err().unwrap_or_default();
        assert!(reason.contains("/fields/0/default"), "{reason}");
        let reason = parse_avro("{\n  \"type\": \"record\",\n  oops", &[])
            .err()
            .unwrap_or_default();
        assert!(reason.contains("line 3 column 3"), "{reason}");
    }

    #[test]
    fn references_resolve_for_compatibility() {
        let address = r#"{"type":"record","name":"Address","namespace":"ns","fields":[{"name":"city","type":"string"}]}"#;
        let user = r#"{"type":"record","name":"User","namespace":"ns","fields":[{"name":"home","type":"ns.Address"}]}"#;
        assert!(parse_avro(user, &[]).is_err());
        let parsed = match parse_avro(user, &[address.to_string()]) {
            Ok(parsed) => parsed,
            Err(error) => panic!("{error}"),
        };
        assert!(parsed.identity.contains("ns.Address"));
        let resolved = match serde_json::to_string(&parsed.resolved) {
            Ok(text) => text,
            Err(error) => panic!("{error}"),
        };
        assert!(resolved.contains("city"), "{resolved}");
    }
}
