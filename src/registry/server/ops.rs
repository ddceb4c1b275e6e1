//! Mutations of [`State`]: registration, deletion, config and mode. Each either changes the
//! state and answers, or leaves it untouched and returns the Confluent error.

use axum::http::StatusCode;

use super::error::ApiError;
use super::level::{CompatibilityLevel, Mode};
use super::schema::{compact_json, Reference};
use super::state::{State, StoredSchema, VersionEntry, VersionSel, AVRO};

/// A reference as submitted: version -1 means "latest", resolved at registration.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ReferenceInput {
    pub name: String,
    pub subject: String,
    pub version: i64,
}

/// The body of a registration, lookup or compatibility request.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaRequest {
    pub schema: String,
    #[serde(default)]
    pub schema_type: Option<String>,
    #[serde(default)]
    pub references: Option<Vec<ReferenceInput>>,
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub version: Option<i64>,
}

/// What a registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    pub id: u32,
    pub version: u32,
    /// False when the subject already had this schema (nothing changed).
    pub created: bool,
}

/// Confluent rejects empty subjects and control characters (42208).
pub fn validate_subject(subject: &str) -> Result<(), ApiError> {
    if subject.is_empty() || subject.chars().any(char::is_control) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42208,
            format!("The specified subject '{subject}' is not valid"),
        ));
    }
    Ok(())
}

/// 42201 unless the schema type is absent or AVRO.
pub fn check_schema_type(schema_type: Option<&str>) -> Result<(), ApiError> {
    match schema_type {
        None => Ok(()),
        Some(t) if t.eq_ignore_ascii_case(AVRO) => Ok(()),
        Some(other) => Err(ApiError::invalid_schema(format!(
            "Invalid schema type '{other}': this registry supports only AVRO schemas"
        ))),
    }
}

fn ensure_writable(state: &State, subject: Option<&str>) -> Result<(), ApiError> {
    let mode = match subject {
        Some(name) => state.effective_mode(name),
        None => state.mode,
    };
    if mode.is_read_only() {
        return Err(ApiError::not_permitted(match subject {
            Some(name) => format!("Subject {name} is in read-only mode"),
            None => "The registry is in read-only mode".to_string(),
        }));
    }
    Ok(())
}

impl State {
    /// Resolves submitted references (-1 = latest live version) to concrete versions.
    pub fn resolve_references(
        &self,
        input: Option<&[ReferenceInput]>,
    ) -> Result<Vec<Reference>, ApiError> {
        let mut resolved = Vec::new();
        for reference in input.unwrap_or_default() {
            let sel = match reference.version {
                -1 => VersionSel::Latest,
                n => VersionSel::Number(u32::try_from(n).ok().filter(|n| *n > 0).ok_or_else(
                    || {
                        ApiError::invalid_schema(format!(
                            "Invalid schema: reference '{}' has version {}; use a positive \
                             version or -1 for the latest",
                            reference.name, n
                        ))
                    },
                )?),
            };
            let entry = self
                .version(&reference.subject, sel, true)
                .map_err(|error| {
                    ApiError::invalid_schema(format!(
                        "Invalid schema: reference '{}' to subject '{}' version {}: {}",
                        reference.name, reference.subject, reference.version, error.message
                    ))
                })?;
            resolved.push(Reference {
                name: reference.name.clone(),
                subject: reference.subject.clone(),
                version: entry.version,
            });
        }
        Ok(resolved)
    }

    /// POST /subjects/{s}/versions.
    pub fn register(
        &mut self,
        subject: &str,
        request: &SchemaRequest,
    ) -> Result<Registered, ApiError> {
        validate_subject(subject)?;
        ensure_writable(self, Some(subject))?;
        check_schema_type(request.schema_type.as_deref())?;
        let import = self.effective_mode(subject) == Mode::Import;
        let references = self.resolve_references(request.references.as_deref())?;
        let parsed = self.parse_submission(&request.schema, &references)?;

        if let Some(entry) = self.find_in_subject(subject, &parsed, &references, false) {
            return Ok(Registered {
                id: entry.id,
                version: entry.version,
                created: false,
            });
        }
        if !import {
            let messages = self.compatibility_messages(subject, &parsed, None)?;
            if !messages.is_empty() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    409,
                    format!(
                        "Schema being registered is incompatible with an earlier schema for \
                         subject \"{subject}\", details: [{}]",
                        messages.join(", ")
                    ),
                ));
            }
        }

        let existing = self.find_schema(&parsed, &references);
        // Java clients of some versions send `id: -1` / `version: 0` for "none".
        let id = match request.id.filter(|id| *id > 0) {
            None => existing.unwrap_or(self.max_id() + 1),
            Some(requested) => {
                let requested = u32::try_from(requested)
                    .ok()
                    .filter(|id| *id > 0 && i32::try_from(*id).is_ok())
                    .ok_or_else(|| {
                        ApiError::invalid_schema(format!("Invalid schema id {requested}"))
                    })?;
                if import {
                    if let Some(stored) = self.schemas.get(&requested) {
                        if stored.identity != parsed.identity || stored.references != references {
                            return Err(ApiError::new(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                42207,
                                format!(
                                    "Overwrite new schema with id {requested} is not permitted: \
                                     the id holds a different schema"
                                ),
                            ));
                        }
                    }
                } else if existing != Some(requested) {
                    return Err(ApiError::not_permitted(format!(
                        "Registering a schema under a chosen id ({requested}) is only allowed in \
                         IMPORT mode"
                    )));
                }
                requested
            }
        };

        let entry = self.subjects.entry(subject.to_string()).or_default();
        let next = entry.versions.iter().map(|e| e.version).max().unwrap_or(0) + 1;
        let version = match request.version.filter(|v| *v > 0) {
            None => next,
            Some(requested) => {
                let requested = u32::try_from(requested)
                    .ok()
                    .filter(|v| *v > 0 && i32::try_from(*v).is_ok())
                    .ok_or_else(|| ApiError::invalid_version(&requested.to_string()))?;
                if entry.versions.iter().any(|e| e.version == requested) {
                    return Err(ApiError::not_permitted(format!(
                        "Version {requested} already exists in subject '{subject}'"
                    )));
                }
                if !import && requested != next {
                    return Err(ApiError::not_permitted(format!(
                        "Registering a chosen version ({requested}) is only allowed in IMPORT \
                         mode; the next version of '{subject}' is {next}"
                    )));
                }
                requested
            }
        };
        entry.versions.push(VersionEntry {
            version,
            id,
            deleted: false,
        });
        entry.versions.sort_by_key(|e| e.version);
        self.schemas.entry(id).or_insert_with(|| StoredSchema {
            schema: compact_json(&request.schema),
            schema_type: AVRO.to_string(),
            references,
            identity: parsed.identity,
        });
        Ok(Registered {
            id,
            version,
            created: true,
        })
    }

    fn ensure_unreferenced(&self, subject: &str, version: u32) -> Result<(), ApiError> {
        let ids = self.referenced_by(subject, version);
        if ids.is_empty() {
            return Ok(());
        }
        Err(ApiError::reference_exists(format!(
            "One or more references exist to the schema {{subject={subject}, version={version}}}: \
             schema ids {ids:?}; delete those first"
        )))
    }

    /// DELETE /subjects/{s}[?permanent=true] → the versions deleted.
    pub fn delete_subject(&mut self, name: &str, permanent: bool) -> Result<Vec<u32>, ApiError> {
        ensure_writable(self, Some(name))?;
        let subject = self.subject(name, true)?;
        let targets: Vec<u32> = if permanent {
            if subject.has_live() {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    40405,
                    format!(
                        "Subject '{name}' was not deleted first before being permanently \
                         deleted: it must be soft-deleted first (DELETE without permanent=true)"
                    ),
                ));
            }
            subject.versions.iter().map(|e| e.version).collect()
        } else {
            subject.live().map(|e| e.version).collect()
        };
        if targets.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40404,
                format!(
                    "Subject '{name}' was soft deleted. Set permanent=true to delete permanently"
                ),
            ));
        }
        for version in &targets {
            self.ensure_unreferenced(name, *version)?;
        }
        if permanent {
            self.subjects.remove(name);
        } else if let Some(subject) = self.subjects.get_mut(name) {
            subject.versions.iter_mut().for_each(|e| e.deleted = true);
        }
        Ok(targets)
    }

    /// DELETE /subjects/{s}/versions/{v}[?permanent=true] → the version deleted.
    pub fn delete_version(
        &mut self,
        name: &str,
        sel: VersionSel,
        permanent: bool,
    ) -> Result<u32, ApiError> {
        ensure_writable(self, Some(name))?;
        // Soft deletes address live versions; permanent ones any version (they must be soft first).
        let entry = self.version(name, sel, permanent || matches!(sel, VersionSel::Number(_)))?;
        let version = entry.version;
        if permanent && !entry.deleted {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40407,
                format!(
                    "Subject '{name}' Version {version} was not deleted first before being \
                     permanently deleted: soft-delete it first (DELETE without permanent=true)"
                ),
            ));
        }
        if !permanent && entry.deleted {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40406,
                format!(
                    "Subject '{name}' Version {version} was soft deleted. Set permanent=true to \
                     delete permanently"
                ),
            ));
        }
        self.ensure_unreferenced(name, version)?;
        if let Some(subject) = self.subjects.get_mut(name) {
            if permanent {
                subject.versions.retain(|e| e.version != version);
                if subject.versions.is_empty()
                    && subject.compatibility.is_none()
                    && subject.mode.is_none()
                {
                    self.subjects.remove(name);
                }
            } else {
                for e in subject.versions.iter_mut().filter(|e| e.version == version) {
                    e.deleted = true;
                }
            }
        }
        Ok(version)
    }

    /// GET /config[/{s}]: 40408 when the subject has no level of its own (unless defaulting).
    pub fn config(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<CompatibilityLevel, ApiError> {
        let Some(name) = subject else {
            return Ok(self.compatibility);
        };
        match self.subjects.get(name).and_then(|s| s.compatibility) {
            Some(level) => Ok(level),
            None if default_to_global => Ok(self.compatibility),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40408,
                format!("Subject '{name}' does not have subject-level compatibility configured"),
            )),
        }
    }

    /// PUT /config[/{s}].
    pub fn set_config(
        &mut self,
        subject: Option<&str>,
        level: CompatibilityLevel,
    ) -> Result<(), ApiError> {
        match subject {
            None => self.compatibility = level,
            Some(name) => {
                validate_subject(name)?;
                self.subjects
                    .entry(name.to_string())
                    .or_default()
                    .compatibility = Some(level);
            }
        }
        Ok(())
    }

    /// DELETE /config/{s} → the level in force before (the subject's own, else the global one).
    pub fn delete_config(&mut self, name: &str) -> Result<CompatibilityLevel, ApiError> {
        let Some(subject) = self.subjects.get_mut(name) else {
            return Err(ApiError::subject_not_found(name));
        };
        let previous = subject.compatibility.take().unwrap_or(self.compatibility);
        self.drop_if_empty(name);
        Ok(previous)
    }

    /// GET /mode[/{s}]: 40409 when the subject has no mode of its own (unless defaulting).
    pub fn get_mode(
        &self,
        subject: Option<&str>,
        default_to_global: bool,
    ) -> Result<Mode, ApiError> {
        let Some(name) = subject else {
            return Ok(self.mode);
        };
        match self.subjects.get(name).and_then(|s| s.mode) {
            Some(mode) => Ok(mode),
            None if default_to_global => Ok(self.mode),
            None => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                40409,
                format!("Subject '{name}' does not have subject-level mode configured"),
            )),
        }
    }

    /// PUT /mode[/{s}]. IMPORT over existing schemas needs `force` (as in Confluent).
    pub fn set_mode(
        &mut self,
        subject: Option<&str>,
        mode: Mode,
        force: bool,
    ) -> Result<(), ApiError> {
        if mode == Mode::Import && !force {
            let has_schemas = match subject {
                None => self.subjects.values().any(|s| !s.versions.is_empty()),
                Some(name) => self
                    .subjects
                    .get(name)
                    .is_some_and(|s| !s.versions.is_empty()),
            };
            if has_schemas {
                return Err(ApiError::not_permitted(
                    "Cannot import since found existing subjects; use force=true to switch to \
                     IMPORT mode anyway",
                ));
            }
        }
        match subject {
            None => self.mode = mode,
            Some(name) => {
                validate_subject(name)?;
                self.subjects.entry(name.to_string()).or_default().mode = Some(mode);
            }
        }
        Ok(())
    }

    /// DELETE /mode/{s} → the subject's previous mode.
    pub fn delete_mode(&mut self, name: &str) -> Result<Mode, ApiError> {
        let previous = self.get_mode(Some(name), false)?;
        if let Some(subject) = self.subjects.get_mut(name) {
            subject.mode = None;
        }
        self.drop_if_empty(name);
        Ok(previous)
    }

    fn drop_if_empty(&mut self, name: &str) {
        if self
            .subjects
            .get(name)
            .is_some_and(|s| s.versions.is_empty() && s.compatibility.is_none() && s.mode.is_none())
        {
            self.subjects.remove(name);
        }
    }
}
