//! The registry's state (what `registry.json` holds) and its read-only queries. Mutations live in
//! [`super::ops`]. Pure data: no I/O, no HTTP.

use std::collections::BTreeMap;

use apache_avro::Schema;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::level::{CompatibilityLevel, Mode};
use super::schema::{parse_avro, Parsed, Reference};

/// Version of the `registry.json` layout.
pub const FORMAT: u32 = 1;
/// The only schema type this registry understands.
pub const AVRO: &str = "AVRO";

/// A schema by global id. Ids are never reused; a schema stays resolvable by id even after every
/// subject version using it is deleted (old Kafka records still carry the id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredSchema {
    /// Compact JSON, as first submitted.
    pub schema: String,
    pub schema_type: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub references: Vec<Reference>,
    /// [`Parsed::identity`]: equal identity (and references) = the same schema.
    pub identity: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionEntry {
    pub version: u32,
    pub id: u32,
    #[serde(default)]
    pub deleted: bool,
}

/// A subject: its versions (ascending, soft-deleted ones flagged) and its own settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Subject {
    #[serde(default)]
    pub versions: Vec<VersionEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compatibility: Option<CompatibilityLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
}

impl Subject {
    pub fn live(&self) -> impl Iterator<Item = &VersionEntry> {
        self.versions.iter().filter(|entry| !entry.deleted)
    }

    pub fn has_live(&self) -> bool {
        self.live().next().is_some()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub format: u32,
    #[serde(default)]
    pub compatibility: CompatibilityLevel,
    #[serde(default)]
    pub mode: Mode,
    #[serde(default)]
    pub schemas: BTreeMap<u32, StoredSchema>,
    #[serde(default)]
    pub subjects: BTreeMap<String, Subject>,
}

impl Default for State {
    fn default() -> State {
        State {
            format: FORMAT,
            compatibility: CompatibilityLevel::default(),
            mode: Mode::default(),
            schemas: BTreeMap::new(),
            subjects: BTreeMap::new(),
        }
    }
}

/// A version as named in a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSel {
    Latest,
    Number(u32),
}

impl VersionSel {
    /// `latest`, `-1` (= latest) or 1..=2^31-1; anything else is 42202.
    pub fn parse(text: &str) -> Result<VersionSel, ApiError> {
        if text.eq_ignore_ascii_case("latest") {
            return Ok(VersionSel::Latest);
        }
        match text.parse::<i64>() {
            Ok(-1) => Ok(VersionSel::Latest),
            Ok(n) if (1..=i64::from(i32::MAX)).contains(&n) => u32::try_from(n)
                .map(VersionSel::Number)
                .map_err(|_| ApiError::invalid_version(text)),
            _ => Err(ApiError::invalid_version(text)),
        }
    }
}

impl State {
    /// Checks what serde cannot: the layout version and that every version points at a schema.
    pub fn validate(&mut self) -> Result<(), String> {
        if self.format != FORMAT {
            return Err(format!(
                "unknown format {} (this eosflow understands format {FORMAT})",
                self.format
            ));
        }
        for (name, subject) in &mut self.subjects {
            subject.versions.sort_by_key(|entry| entry.version);
            for pair in subject.versions.windows(2) {
                if pair[0].version == pair[1].version {
                    return Err(format!(
                        "subject '{name}' lists version {} twice",
                        pair[0].version
                    ));
                }
            }
            for entry in &subject.versions {
                if !self.schemas.contains_key(&entry.id) {
                    return Err(format!(
                        "subject '{name}' version {} points at schema id {}, which is missing",
                        entry.version, entry.id
                    ));
                }
            }
        }
        Ok(())
    }

    pub fn effective_mode(&self, subject: &str) -> Mode {
        self.subjects
            .get(subject)
            .and_then(|s| s.mode)
            .unwrap_or(self.mode)
    }

    pub fn effective_level(&self, subject: &str) -> CompatibilityLevel {
        self.subjects
            .get(subject)
            .and_then(|s| s.compatibility)
            .unwrap_or(self.compatibility)
    }

    pub fn max_id(&self) -> u32 {
        self.schemas.keys().next_back().copied().unwrap_or(0)
    }

    pub fn schema(&self, id: u32) -> Result<&StoredSchema, ApiError> {
        self.schemas
            .get(&id)
            .ok_or_else(|| ApiError::schema_not_found(format!("Schema {id} not found")))
    }

    /// A subject with at least one version (live, or any when `include_deleted`); else 40401.
    pub fn subject(&self, name: &str, include_deleted: bool) -> Result<&Subject, ApiError> {
        match self.subjects.get(name) {
            Some(subject) if subject.has_live() => Ok(subject),
            Some(subject) if include_deleted && !subject.versions.is_empty() => Ok(subject),
            _ => Err(ApiError::subject_not_found(name)),
        }
    }

    /// Subject names, sorted: live ones; with `deleted` also soft-deleted ones; with
    /// `deleted_only` only those whose every version is soft-deleted.
    pub fn subject_names(&self, prefix: &str, deleted: bool, deleted_only: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .filter(|(_, s)| {
                let live = s.has_live();
                let any = !s.versions.is_empty();
                if deleted_only {
                    any && !live
                } else if deleted {
                    any
                } else {
                    live
                }
            })
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The subject's version numbers (404 40401 when it has none visible).
    pub fn version_numbers(
        &self,
        name: &str,
        deleted: bool,
        deleted_only: bool,
    ) -> Result<Vec<u32>, ApiError> {
        let subject = self.subject(name, deleted || deleted_only)?;
        Ok(subject
            .versions
            .iter()
            .filter(|e| {
                if deleted_only {
                    e.deleted
                } else {
                    deleted || !e.deleted
                }
            })
            .map(|e| e.version)
            .collect())
    }

    /// Resolves a version of a subject: 40401 unknown subject, 40402 unknown version.
    pub fn version(
        &self,
        name: &str,
        sel: VersionSel,
        include_deleted: bool,
    ) -> Result<&VersionEntry, ApiError> {
        let subject = self.subject(name, include_deleted)?;
        let mut visible = subject
            .versions
            .iter()
            .filter(|e| include_deleted || !e.deleted);
        let found = match sel {
            VersionSel::Latest => visible.next_back(),
            VersionSel::Number(n) => visible.find(|e| e.version == n),
        };
        found.ok_or_else(|| match sel {
            VersionSel::Latest => ApiError::subject_not_found(name),
            VersionSel::Number(n) => ApiError::version_not_found(name, n),
        })
    }

    /// Subjects holding a version with schema `id` (40403 unknown id).
    pub fn subjects_of(&self, id: u32, deleted: bool) -> Result<Vec<(String, u32)>, ApiError> {
        self.schema(id)?;
        let mut found = Vec::new();
        for (name, subject) in &self.subjects {
            for entry in &subject.versions {
                if entry.id == id && (deleted || !entry.deleted) {
                    found.push((name.clone(), entry.version));
                }
            }
        }
        Ok(found)
    }

    /// Ids of schemas, used by some live version, that reference `subject` version `version`.
    pub fn referenced_by(&self, subject: &str, version: u32) -> Vec<u32> {
        let mut ids: Vec<u32> = self
            .subjects
            .values()
            .flat_map(|s| s.live())
            .map(|entry| entry.id)
            .filter(|id| {
                self.schemas.get(id).is_some_and(|stored| {
                    stored
                        .references
                        .iter()
                        .any(|r| r.subject == subject && r.version == version)
                })
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The JSON of every schema `references` point at, transitively (dependencies first).
    pub fn referenced_sources(&self, references: &[Reference]) -> Result<Vec<String>, ApiError> {
        let mut seen = Vec::new();
        let mut sources = Vec::new();
        self.collect_sources(references, &mut seen, &mut sources, 0)?;
        Ok(sources)
    }

    fn collect_sources(
        &self,
        references: &[Reference],
        seen: &mut Vec<u32>,
        sources: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), ApiError> {
        if depth > 32 {
            return Err(ApiError::invalid_schema(
                "Invalid schema: references nest deeper than 32 levels (a reference cycle?)",
            ));
        }
        for reference in references {
            let entry = self
                .version(
                    &reference.subject,
                    VersionSel::Number(reference.version),
                    true,
                )
                .map_err(|_| {
                    ApiError::invalid_schema(format!(
                        "Invalid schema: reference '{}' points at subject '{}' version {}, which \
                         does not exist; register the referenced schema first",
                        reference.name, reference.subject, reference.version
                    ))
                })?;
            if seen.contains(&entry.id) {
                continue;
            }
            seen.push(entry.id);
            let stored = self.schema(entry.id)?;
            self.collect_sources(&stored.references, seen, sources, depth + 1)?;
            sources.push(stored.schema.clone());
        }
        Ok(())
    }

    /// Parses a submitted schema with its references (42201 when invalid).
    pub fn parse_submission(
        &self,
        schema: &str,
        references: &[Reference],
    ) -> Result<Parsed, ApiError> {
        let sources = self.referenced_sources(references)?;
        parse_avro(schema, &sources)
            .map_err(|reason| ApiError::invalid_schema(format!("Invalid Avro schema: {reason}")))
    }

    /// A stored schema, parsed and self-contained, for compatibility checks.
    pub fn resolved(&self, id: u32) -> Result<Schema, ApiError> {
        let stored = self.schema(id)?;
        let sources = self.referenced_sources(&stored.references)?;
        parse_avro(&stored.schema, &sources)
            .map(|parsed| parsed.resolved)
            .map_err(|reason| {
                ApiError::internal(format!("stored schema {id} no longer parses: {reason}"))
            })
    }

    /// The id already holding this exact schema, if any.
    pub fn find_schema(&self, parsed: &Parsed, references: &[Reference]) -> Option<u32> {
        self.schemas
            .iter()
            .find(|(_, s)| {
                s.schema_type == AVRO && s.identity == parsed.identity && s.references == references
            })
            .map(|(id, _)| *id)
    }

    /// The subject's version holding this exact schema (live only unless `include_deleted`).
    pub fn find_in_subject(
        &self,
        name: &str,
        parsed: &Parsed,
        references: &[Reference],
        include_deleted: bool,
    ) -> Option<&VersionEntry> {
        let subject = self.subjects.get(name)?;
        subject
            .versions
            .iter()
            .filter(|e| include_deleted || !e.deleted)
            .rev()
            .find(|e| {
                self.schemas
                    .get(&e.id)
                    .is_some_and(|s| s.identity == parsed.identity && s.references == references)
            })
    }

    /// Compatibility messages (empty = compatible) of `parsed` against the subject's live
    /// versions under the subject's level, or against one version when `only` is given.
    pub fn compatibility_messages(
        &self,
        name: &str,
        parsed: &Parsed,
        only: Option<&VersionEntry>,
    ) -> Result<Vec<String>, ApiError> {
        let level = self.effective_level(name);
        if level == CompatibilityLevel::None {
            return Ok(Vec::new());
        }
        let entries: Vec<&VersionEntry> = match only {
            Some(entry) => vec![entry],
            None => match self.subjects.get(name) {
                Some(subject) => subject.live().collect(),
                None => Vec::new(),
            },
        };
        let mut previous = Vec::with_capacity(entries.len());
        for entry in entries {
            previous.push((entry.version, self.resolved(entry.id)?));
        }
        let messages = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            super::level::check(level, &parsed.resolved, &previous)
        }));
        messages.map_err(|_| ApiError::internal("the compatibility checker failed (panic)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_confluent() {
        assert_eq!(VersionSel::parse("latest"), Ok(VersionSel::Latest));
        assert_eq!(VersionSel::parse("-1"), Ok(VersionSel::Latest));
        assert_eq!(VersionSel::parse("7"), Ok(VersionSel::Number(7)));
        for bad in ["0", "-2", "abc", "2147483648", ""] {
            match VersionSel::parse(bad) {
                Err(error) => assert_eq!(error.code, 42202, "{bad}"),
                Ok(sel) => panic!("{bad} parsed as {sel:?}"),
            }
        }
    }

    #[test]
    fn validate_rejects_dangling_ids_and_unknown_formats() {
        let mut state = State::default();
        state.subjects.insert(
            "s".into(),
            Subject {
                versions: vec![VersionEntry {
                    version: 1,
                    id: 9,
                    deleted: false,
                }],
                ..Subject::default()
            },
        );
        assert!(state.validate().is_err_and(|e| e.contains("id 9")));
        let mut state = State {
            format: 99,
            ..State::default()
        };
        assert!(state.validate().is_err_and(|e| e.contains("99")));
    }
}
