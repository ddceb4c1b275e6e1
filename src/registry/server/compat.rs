//! The one compatibility decision the registry makes: can a reader schema read data written with a
//! writer schema?
//!
//! Everything else (levels, transitivity, which versions to check) lives in [`super::level`]; this
//! file is deliberately tiny and isolated so the engine can be swapped for an exact port of Java
//! Avro's `SchemaCompatibility` (the one Confluent's registry runs) without touching the rest.
//!
//! Current engine: `apache_avro::schema_compatibility::SchemaCompatibility::can_read` (0.22). Only
//! `Ok(Compatibility::Full)` counts as compatible: `Ok(Partial)` is what it answers for cases Java
//! rejects (an enum symbol the reader lacks without a reader default, a narrowed union). Known
//! differences from Java (see GROUND.md): it rejects renames through aliases, is stricter on decimal
//! precision, and stops at the first problem without a location.

use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use apache_avro::Schema;

/// Reasons why `reader` cannot read everything written with `writer`; empty means compatible.
pub fn reader_can_read_writer(reader: &Schema, writer: &Schema) -> Vec<String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => Vec::new(),
        Ok(Compatibility::Partial) => vec![
            "the reader can read only part of what the writer may write (for example an enum \
             symbol or a union branch the reader does not have, with no default to fall back on)"
                .to_string(),
        ],
        Err(error) => vec![error_chain(&error)],
    }
}

/// The error's message followed by its causes (a field mismatch wraps the inner mismatch).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Schema {
        match Schema::parse_str(json) {
            Ok(schema) => schema,
            Err(error) => panic!("test schema does not parse: {error}"),
        }
    }

    const V1: &str = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"string"}]}"#;
    const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"U","fields":[
        {"name":"a","type":"string"},{"name":"b","type":"int"}]}"#;
    const V2_DEFAULT: &str = r#"{"type":"record","name":"U","fields":[
        {"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}"#;

    #[test]
    fn identical_schemas_are_compatible() {
        assert!(reader_can_read_writer(&parse(V1), &parse(V1)).is_empty());
    }

    #[test]
    fn added_field_needs_a_default_for_new_readers() {
        let reasons = reader_can_read_writer(&parse(V2_NO_DEFAULT), &parse(V1));
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains('b'), "{reasons:?}");
        assert!(reader_can_read_writer(&parse(V2_DEFAULT), &parse(V1)).is_empty());
        // Old readers simply skip the new field.
        assert!(reader_can_read_writer(&parse(V1), &parse(V2_NO_DEFAULT)).is_empty());
    }

    #[test]
    fn type_change_is_reported_with_its_cause() {
        let int_field = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int"}]}"#;
        let reasons = reader_can_read_writer(&parse(int_field), &parse(V1));
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("'a'"), "{reasons:?}");
    }

    #[test]
    fn partial_enum_compatibility_is_incompatible() {
        let writer = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let reader = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
        assert_eq!(
            reader_can_read_writer(&parse(reader), &parse(writer)).len(),
            1
        );
        assert!(reader_can_read_writer(&parse(writer), &parse(reader)).is_empty());
    }

    #[test]
    fn promotion_int_to_long_is_one_way() {
        assert!(reader_can_read_writer(&parse(r#""long""#), &parse(r#""int""#)).is_empty());
        assert_eq!(
            reader_can_read_writer(&parse(r#""int""#), &parse(r#""long""#)).len(),
            1
        );
    }
}
