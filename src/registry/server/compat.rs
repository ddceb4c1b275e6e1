//! The one compatibility decision the registry makes: can a reader schema read data written with a
//! writer schema?
//!
//! Everything else (levels, transitivity, which versions to check) lives in [`super::level`]; this
//! file is deliberately tiny and isolated so the engine can be swapped without touching the rest.
//!
//! Engine: [`crate::schema::check`], eosflow's port of Java Avro's `SchemaCompatibility` (the
//! checker Confluent's registry runs). It agrees with Java where apache-avro 0.22's checker does
//! not (enum and union narrowing are incompatible; renames through aliases, moved named-type
//! definitions and decimal precision changes are compatible), and reports every problem with its
//! location in the reader schema and what to change.

use apache_avro::Schema;

use crate::schema::check;

/// Reasons why `reader` cannot read everything written with `writer`; empty means compatible.
/// Each reads `KIND at /json/pointer/in/reader: what is wrong and what to change`.
pub fn reader_can_read_writer(reader: &Schema, writer: &Schema) -> Vec<String> {
    check(reader, writer)
        .iter()
        .map(ToString::to_string)
        .collect()
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
