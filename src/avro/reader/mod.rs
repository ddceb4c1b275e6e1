//! The processor's ONE reader schema: choosing and validating it, checking each writer schema
//! against it once, and decoding a record into a [`User`] through it.
//!
//! Decoding reads the body with the writer schema alone, projects the datum onto the reader
//! with eosflow's resolver ([`super::project`]: reader field aliases honoured, logical types
//! ignored as Java ignores them), then maps the reader record onto the User
//! ([`super::user_map`]: by field name or alias).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::Schema;

use super::codec::CodecError;
use super::history::{newest_parsed, newest_user_schema};
use super::nesting::check_nesting;
use super::project::project;
use super::user_map::{to_user, user_mapping_problems};
use crate::model::User;
use crate::schema::{parse_strict, SchemaError};

/// Why a reader schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ReaderSchemaError {
    #[error("cannot read the reader schema {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reader schema {path} is not a valid Avro schema: {source}")]
    Invalid { path: PathBuf, source: SchemaError },
    #[error("reader schema {name} cannot be decoded into a User: {}", .problems.join("; "))]
    NotUser { name: String, problems: Vec<String> },
}

/// The reader schema in `path` (parsed as strictly as Java parses, and mappable onto a User), or
/// the newest schema of the history when there is no path.
pub fn load_reader_schema(path: Option<&Path>) -> Result<Schema, ReaderSchemaError> {
    let Some(path) = path else {
        let schema = newest_parsed().clone();
        validate_reader(&schema, newest_user_schema().name)?;
        return Ok(schema);
    };
    let text = std::fs::read_to_string(path).map_err(|source| ReaderSchemaError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let schema = parse_strict(&text).map_err(|source| ReaderSchemaError::Invalid {
        path: path.to_path_buf(),
        source,
    })?;
    validate_reader(&schema, &path.display().to_string())?;
    Ok(schema)
}

/// Whether the codec can decode into `reader` and map it onto a User; `name` is for the error.
pub fn validate_reader(reader: &Schema, name: &str) -> Result<(), ReaderSchemaError> {
    let problems = user_mapping_problems(reader);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ReaderSchemaError::NotUser {
            name: name.to_string(),
            problems,
        })
    }
}

/// Each writer schema id checked once against the reader with eosflow's compatibility engine
/// (Java Avro's rules); an incompatible writer makes its records `schema-mismatch` poison.
#[derive(Debug, Default)]
pub struct WriterChecks {
    /// Per schema id: None when compatible, else the engine's reasons.
    verdicts: HashMap<u32, Option<String>>,
}

impl WriterChecks {
    pub fn new() -> Self {
        WriterChecks::default()
    }

    /// Ok when `writer` (schema id `id`) is readable by `reader`; the check runs on the first
    /// call for each id.
    pub fn check(&mut self, id: u32, reader: &Schema, writer: &Schema) -> Result<(), CodecError> {
        let verdict = self.verdicts.entry(id).or_insert_with(|| {
            let found = crate::schema::check(reader, writer);
            if found.is_empty() {
                tracing::info!(schema_id = id, "writer schema is readable by the reader schema");
                None
            } else {
                let reasons: Vec<String> = found.iter().map(ToString::to_string).collect();
                tracing::warn!(schema_id = id, reasons = %reasons.join("; "), "writer schema is NOT readable by the reader schema: its records are poison");
                Some(reasons.join("; "))
            }
        });
        match verdict {
            None => Ok(()),
            Some(reasons) => Err(CodecError::Incompatible {
                id,
                reasons: reasons.clone(),
            }),
        }
    }
}

/// Decode an Avro body written with `writer` into a user, projected through `reader`.
pub fn decode_user(writer: &Schema, reader: &Schema, body: &[u8]) -> Result<User, CodecError> {
    // Three steps, so the error says which went wrong: the bytes do not decode with their own
    // writer schema (corrupt), the datum does not project onto the reader, or the reader record
    // does not map onto a User (both mismatches).
    let datum_reader =
        GenericDatumReader::builder(writer)
            .build()
            .map_err(|e| CodecError::Mismatch {
                detail: e.to_string(),
            })?;
    // apache-avro recurses without a depth limit: refuse what would overflow the stack first.
    check_nesting(writer, body).map_err(|e| CodecError::Corrupt {
        len: body.len(),
        detail: e.to_string(),
    })?;
    let mut cursor = body;
    let value = datum_reader
        .read_value(&mut cursor)
        .map_err(|e| CodecError::Corrupt {
            len: body.len(),
            detail: e.to_string(),
        })?;
    if !cursor.is_empty() {
        return Err(CodecError::Trailing {
            trailing: cursor.len(),
        });
    }
    let value = project(writer, reader, value).map_err(|e| CodecError::Mismatch {
        detail: e.to_string(),
    })?;
    to_user(reader, value)
}

#[cfg(test)]
mod tests;
