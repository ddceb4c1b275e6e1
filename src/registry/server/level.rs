//! Compatibility levels and modes, and how a level turns into reader/writer checks.

use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use crate::schema::{check_level, Direction};

/// Confluent's compatibility levels: the schema engine's own [`Level`], which also decides which
/// versions a level checks and in which direction ([`check_level`]).
pub use crate::schema::Level as CompatibilityLevel;

/// A level as the registry's API accepts it: Confluent's names, case-insensitive (Python's client
/// upper-cases anyway). Unlike `eosflow schema`, no `-` for `_`: Confluent refuses those.
pub fn parse_level(text: &str) -> Option<CompatibilityLevel> {
    if text.contains('-') {
        return None;
    }
    text.parse().ok()
}

/// Checks `new` against `previous` (oldest first, as `(version, schema)`) under `level`: the
/// latest only, or all of them when transitive. Returns human-readable messages, empty when
/// compatible. Each incompatible version contributes its reasons (newest version first, backward
/// before forward), then `{oldSchemaVersion: N}` and `{compatibility: 'LEVEL'}` (the shape of
/// Confluent's messages).
pub fn check(level: CompatibilityLevel, new: &Schema, previous: &[(u32, Schema)]) -> Vec<String> {
    // Registration is rare: a copy of the history is cheaper than a second level engine.
    let schemas: Vec<Schema> = previous.iter().map(|(_, schema)| schema.clone()).collect();
    let mut messages = Vec::new();
    let mut found = check_level(level, new, &schemas).into_iter().peekable();
    while let Some(problem) = found.next() {
        let version = previous[problem.previous].0;
        let reason = &problem.incompatibility;
        messages.push(match problem.direction {
            Direction::CandidateReadsPrevious => format!(
                "{{errorType:'READER_CANNOT_READ_WRITER', description:'The new schema (reader) \
                 cannot read data written with version {version} (writer): {reason}'}}"
            ),
            Direction::PreviousReadsCandidate => format!(
                "{{errorType:'READER_CANNOT_READ_WRITER', description:'Version {version} \
                 (reader) cannot read data written with the new schema (writer): {reason}'}}"
            ),
        });
        if found
            .peek()
            .is_none_or(|next| next.previous != problem.previous)
        {
            messages.push(format!("{{oldSchemaVersion: {version}}}"));
            messages.push(format!("{{compatibility: '{}'}}", level.as_str()));
        }
    }
    messages
}

/// Registry modes. READONLY (and READONLY_OVERRIDE) refuse writes; IMPORT allows registering with
/// explicit ids and skips compatibility checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Mode {
    #[default]
    Readwrite,
    Readonly,
    ReadonlyOverride,
    Import,
}

impl Mode {
    pub fn parse(text: &str) -> Option<Mode> {
        [
            Mode::Readwrite,
            Mode::Readonly,
            Mode::ReadonlyOverride,
            Mode::Import,
        ]
        .into_iter()
        .find(|mode| mode.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Readwrite => "READWRITE",
            Mode::Readonly => "READONLY",
            Mode::ReadonlyOverride => "READONLY_OVERRIDE",
            Mode::Import => "IMPORT",
        }
    }

    pub fn is_read_only(self) -> bool {
        matches!(self, Mode::Readonly | Mode::ReadonlyOverride)
    }
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

    fn record(fields: &str) -> Schema {
        parse(&format!(
            r#"{{"type":"record","name":"U","fields":[{fields}]}}"#
        ))
    }

    #[test]
    fn levels_parse_case_insensitively_and_round_trip() {
        for level in CompatibilityLevel::ALL {
            assert_eq!(parse_level(level.as_str()), Some(level));
            let lower = level.as_str().to_lowercase();
            assert_eq!(parse_level(&lower), Some(level));
        }
        assert_eq!(parse_level("SIDEWAYS"), None);
        assert_eq!(Mode::parse("readonly"), Some(Mode::Readonly));
        assert_eq!(Mode::parse("WRITEONLY"), None);
    }

    #[test]
    fn non_transitive_checks_only_the_latest() {
        let ab = record(r#"{"name":"a","type":"string"},{"name":"b","type":"int","default":1}"#);
        let b = record(r#"{"name":"b","type":"int","default":1}"#);
        // A reader needing `a` (no default) reads data written with `ab`, not with `b`.
        let needs_a = record(r#"{"name":"a","type":"string"}"#);
        let previous = vec![(1, ab.clone()), (2, b.clone())];
        assert!(!check(CompatibilityLevel::Backward, &needs_a, &previous).is_empty());
        let previous = vec![(1, b.clone()), (2, ab)];
        assert!(check(CompatibilityLevel::Backward, &needs_a, &previous).is_empty());
        assert!(!check(CompatibilityLevel::BackwardTransitive, &needs_a, &previous).is_empty());
        assert!(check(CompatibilityLevel::None, &needs_a, &[(1, b)]).is_empty());
    }

    #[test]
    fn forward_and_full_directions() {
        let v1 = record(r#"{"name":"a","type":"string"}"#);
        let v2 = record(r#"{"name":"a","type":"string"},{"name":"b","type":"int"}"#);
        let previous = vec![(1, v1)];
        // Adding a field without default: old readers are fine (FORWARD), new readers are not.
        assert!(check(CompatibilityLevel::Forward, &v2, &previous).is_empty());
        let messages = check(CompatibilityLevel::Full, &v2, &previous);
        assert!(
            messages.iter().any(|m| m.contains("version 1")),
            "{messages:?}"
        );
        assert!(messages.iter().any(|m| m == "{oldSchemaVersion: 1}"));
        assert!(messages.iter().any(|m| m == "{compatibility: 'FULL'}"));
        assert!(check(CompatibilityLevel::Backward, &v2, &[]).is_empty());
    }

    /// The reasons `reader` cannot read data written with `writer` (BACKWARD against one version).
    fn backward_reasons(reader: &Schema, writer: &Schema) -> Vec<String> {
        check(CompatibilityLevel::Backward, reader, &[(1, writer.clone())])
            .into_iter()
            .filter(|m| m.starts_with("{errorType"))
            .collect()
    }

    const V1: &str = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"string"}]}"#;
    const V2_NO_DEFAULT: &str = r#"{"type":"record","name":"U","fields":[
        {"name":"a","type":"string"},{"name":"b","type":"int"}]}"#;
    const V2_DEFAULT: &str = r#"{"type":"record","name":"U","fields":[
        {"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}"#;

    #[test]
    fn identical_schemas_are_compatible() {
        assert!(backward_reasons(&parse(V1), &parse(V1)).is_empty());
    }

    #[test]
    fn added_field_needs_a_default_for_new_readers() {
        let reasons = backward_reasons(&parse(V2_NO_DEFAULT), &parse(V1));
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains('b'), "{reasons:?}");
        assert!(backward_reasons(&parse(V2_DEFAULT), &parse(V1)).is_empty());
        // Old readers simply skip the new field.
        assert!(backward_reasons(&parse(V1), &parse(V2_NO_DEFAULT)).is_empty());
    }

    #[test]
    fn type_change_is_reported_with_its_cause() {
        let int_field = r#"{"type":"record","name":"U","fields":[{"name":"a","type":"int"}]}"#;
        let reasons = backward_reasons(&parse(int_field), &parse(V1));
        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("'a'"), "{reasons:?}");
    }

    #[test]
    fn partial_enum_compatibility_is_incompatible() {
        let writer = r#"{"type":"enum","name":"E","symbols":["A","B"]}"#;
        let reader = r#"{"type":"enum","name":"E","symbols":["A"]}"#;
        assert_eq!(backward_reasons(&parse(reader), &parse(writer)).len(), 1);
        assert!(backward_reasons(&parse(writer), &parse(reader)).is_empty());
    }

    #[test]
    fn promotion_int_to_long_is_one_way() {
        assert!(backward_reasons(&parse(r#""long""#), &parse(r#""int""#)).is_empty());
        assert_eq!(
            backward_reasons(&parse(r#""int""#), &parse(r#""long""#)).len(),
            1
        );
    }
}
