//! The User schema history kept in the repository's `avro/` directory, compiled into the binary.

use std::sync::OnceLock;

use apache_avro::Schema;

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
];

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
    static PARSED: OnceLock<Schema> = OnceLock::new();
    PARSED.get_or_init(|| {
        // The file is compiled in and parsed by a unit test, so failure here is a build defect.
        Schema::parse_str(newest_user_schema().text).unwrap_or(Schema::Null)
    })
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
