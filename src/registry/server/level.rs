//! Compatibility levels and modes, and how a level turns into reader/writer checks.

use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use super::compat::reader_can_read_writer;

/// Confluent's compatibility levels. Non-transitive levels check the latest version only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    None,
    #[default]
    Backward,
    BackwardTransitive,
    Forward,
    ForwardTransitive,
    Full,
    FullTransitive,
}

impl CompatibilityLevel {
    pub const ALL: [CompatibilityLevel; 7] = [
        CompatibilityLevel::None,
        CompatibilityLevel::Backward,
        CompatibilityLevel::BackwardTransitive,
        CompatibilityLevel::Forward,
        CompatibilityLevel::ForwardTransitive,
        CompatibilityLevel::Full,
        CompatibilityLevel::FullTransitive,
    ];

    /// Case-insensitive, like Confluent's (Python's client upper-cases anyway).
    pub fn parse(text: &str) -> Option<CompatibilityLevel> {
        Self::ALL
            .into_iter()
            .find(|level| level.as_str().eq_ignore_ascii_case(text.trim()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CompatibilityLevel::None => "NONE",
            CompatibilityLevel::Backward => "BACKWARD",
            CompatibilityLevel::BackwardTransitive => "BACKWARD_TRANSITIVE",
            CompatibilityLevel::Forward => "FORWARD",
            CompatibilityLevel::ForwardTransitive => "FORWARD_TRANSITIVE",
            CompatibilityLevel::Full => "FULL",
            CompatibilityLevel::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::FullTransitive
        )
    }

    /// New schema as reader of old data.
    fn backward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Backward
                | CompatibilityLevel::BackwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }

    /// Old schemas as readers of new data.
    fn forward(self) -> bool {
        matches!(
            self,
            CompatibilityLevel::Forward
                | CompatibilityLevel::ForwardTransitive
                | CompatibilityLevel::Full
                | CompatibilityLevel::FullTransitive
        )
    }

    /// Checks `new` against `previous` (oldest first, as `(version, schema)`) under this level:
    /// the latest only, or all of them when transitive. Returns human-readable messages, empty when
    /// compatible. Each incompatible version contributes its reasons, then
    /// `{oldSchemaVersion: N}` and `{compatibility: 'LEVEL'}` (the shape of Confluent's messages).
    pub fn check(self, new: &Schema, previous: &[(u32, Schema)]) -> Vec<String> {
        if self == CompatibilityLevel::None {
            return Vec::new();
        }
        let against: &[(u32, Schema)] = if self.transitive() {
            previous
        } else {
            match previous.split_last() {
                Some((last, _)) => std::slice::from_ref(last),
                None => &[],
            }
        };
        let mut messages = Vec::new();
        // Newest first: the most relevant problem leads.
        for (version, old) in against.iter().rev() {
            let mut reasons = Vec::new();
            if self.backward() {
                reasons.extend(reader_can_read_writer(new, old).into_iter().map(|reason| {
                    format!(
                        "{{errorType:'READER_CANNOT_READ_WRITER', description:'The new schema \
                         (reader) cannot read data written with version {version} (writer): \
                         {reason}'}}"
                    )
                }));
            }
            if self.forward() {
                reasons.extend(reader_can_read_writer(old, new).into_iter().map(|reason| {
                    format!(
                        "{{errorType:'READER_CANNOT_READ_WRITER', description:'Version {version} \
                         (reader) cannot read data written with the new schema (writer): \
                         {reason}'}}"
                    )
                }));
            }
            if !reasons.is_empty() {
                messages.extend(reasons);
                messages.push(format!("{{oldSchemaVersion: {version}}}"));
                messages.push(format!("{{compatibility: '{}'}}", self.as_str()));
            }
        }
        messages
    }
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
            assert_eq!(CompatibilityLevel::parse(level.as_str()), Some(level));
            let lower = level.as_str().to_lowercase();
            assert_eq!(CompatibilityLevel::parse(&lower), Some(level));
        }
        assert_eq!(CompatibilityLevel::parse("SIDEWAYS"), None);
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
        assert!(!CompatibilityLevel::Backward
            .check(&needs_a, &previous)
            .is_empty());
        let previous = vec![(1, b.clone()), (2, ab)];
        assert!(CompatibilityLevel::Backward
            .check(&needs_a, &previous)
            .is_empty());
        assert!(!CompatibilityLevel::BackwardTransitive
            .check(&needs_a, &previous)
            .is_empty());
        assert!(CompatibilityLevel::None
            .check(&needs_a, &[(1, b)])
            .is_empty());
    }

    #[test]
    fn forward_and_full_directions() {
        let v1 = record(r#"{"name":"a","type":"string"}"#);
        let v2 = record(r#"{"name":"a","type":"string"},{"name":"b","type":"int"}"#);
        let previous = vec![(1, v1)];
        // Adding a field without default: old readers are fine (FORWARD), new readers are not.
        assert!(CompatibilityLevel::Forward.check(&v2, &previous).is_empty());
        let messages = CompatibilityLevel::Full.check(&v2, &previous);
        assert!(
            messages.iter().any(|m| m.contains("version 1")),
            "{messages:?}"
        );
        assert!(messages.iter().any(|m| m == "{oldSchemaVersion: 1}"));
        assert!(messages.iter().any(|m| m == "{compatibility: 'FULL'}"));
        assert!(CompatibilityLevel::Backward.check(&v2, &[]).is_empty());
    }
}
