//! The User schema history kept in the repository's `avro/` directory, compiled into the binary.

use std::sync::OnceLock;

use apache_avro::Schema;

use crate::model::{FieldData, User};

/// One `.avsc` file of the history.
#[derive(Debug, Clone, Copy)]
pub struct SchemaFile {
    /// File name, e.g. `user.v1.avsc`.
    pub name: &'static str,
    /// Version number within the history (1-based).
    pub version: u32,
    /// The schema JSON as written in the file.
    pub text: &'static str,
}

const HISTORY: &[SchemaFile] = &[
    SchemaFile {
        name: "user.v1.avsc",
        version: 1,
        text: include_str!("../../avro/user.v1.avsc"),
    },
    SchemaFile {
        name: "user.v2.avsc",
        version: 2,
        text: include_str!("../../avro/user.v2.avsc"),
    },
    SchemaFile {
        name: "user.v3.avsc",
        version: 3,
        text: include_str!("../../avro/user.v3.avsc"),
    },
];

impl SchemaFile {
    /// The schema, parsed once per version (the files are compiled in and parsed by a unit test,
    /// so `Schema::Null` here would be a build defect).
    pub fn parsed(&self) -> &'static Schema {
        static PARSED: OnceLock<Vec<Schema>> = OnceLock::new();
        let all = PARSED.get_or_init(|| {
            HISTORY
                .iter()
                .map(|f| Schema::parse_str(f.text).unwrap_or(Schema::Null))
                .collect()
        });
        let i = (self.version as usize).saturating_sub(1);
        all.get(i).unwrap_or(&Schema::Null)
    }

    /// Whether the schema's record has a field `name`.
    pub fn has_field(&self, name: &str) -> bool {
        match self.parsed() {
            Schema::Record(r) => r.fields.iter().any(|f| f.name == name),
            _ => false,
        }
    }
}

/// The history's schema `version`, if there is one.
pub fn by_version(version: u32) -> Option<&'static SchemaFile> {
    HISTORY.iter().find(|f| f.version == version)
}

/// `user` as a writer of schema `version` holds it: the fields that version lacks are null
/// (e.g. a v1 writer knows no `nat`, `age`, `cell`).
pub fn as_written_with(version: u32, user: &User) -> User {
    let file = by_version(version);
    let values = user.values();
    let mut i = 0;
    let known = User::from_fields(|field| {
        let value = values[i];
        i += 1;
        Ok(if file.is_some_and(|f| f.has_field(field.name)) {
            value.to_data()
        } else {
            FieldData::Null
        })
    });
    // Only optional fields are ever absent from a version (the strict `lint` of avro/ keeps it
    // so); a required one would fail above and the user comes back unchanged.
    known.unwrap_or_else(|_| user.clone())
}

/// Every User schema, oldest first.
pub fn user_schema_history() -> &'static [SchemaFile] {
    HISTORY
}

/// The newest User schema file (what the producer writes and the processor reads into).
pub fn newest_user_schema() -> &'static SchemaFile {
    // HISTORY is a non-empty constant.
    &HISTORY[HISTORY.len() - 1]
}

/// The newest User schema, parsed once.
pub fn newest_parsed() -> &'static Schema {
    newest_user_schema().parsed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_schema_in_the_history_parses_and_versions_increase() {
        for (i, file) in user_schema_history().iter().enumerate() {
            Schema::parse_str(file.text).unwrap_or_else(|e| panic!("{}: {e}", file.name));
            assert_eq!(file.version as usize, i + 1, "{}", file.name);
            assert!(file.name.contains(&format!(".v{}.", file.version)));
        }
        assert!(matches!(newest_parsed(), Schema::Record(_)));
        assert!(by_version(1).is_some_and(|f| f.has_field("email") && !f.has_field("nat")));
        assert!(by_version(99).is_none());
    }

    #[test]
    fn as_written_with_nulls_the_fields_a_version_lacks() {
        let user = crate::model::sample::user(1);
        assert!(user.nat.is_some() || user.age.is_some() || user.cell.is_some());
        let v1 = as_written_with(1, &user);
        assert_eq!(
            (v1.nat.as_ref(), v1.age, v1.cell.as_ref()),
            (None, None, None)
        );
        assert_eq!(
            (v1.email.as_str(), v1.key()),
            (user.email.as_str(), user.key())
        );
        assert_eq!(as_written_with(2, &user), user);
    }

    #[test]
    fn history_matches_the_avro_directory() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("avro");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .expect("avro/ exists")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("user.") && n.ends_with(".avsc"))
            .collect();
        on_disk.sort();
        let compiled: Vec<&str> = user_schema_history().iter().map(|f| f.name).collect();
        assert_eq!(
            on_disk, compiled,
            "add new avro/user.vN.avsc files to HISTORY"
        );
    }
}
