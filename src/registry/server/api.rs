//! The REST surface: routes, request parsing, JSON answers. Schemas and subjects live here; config,
//! mode and compatibility in [`super::api_settings`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State as Shared};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use super::api_settings;
use super::error::{json_response, raw_json_response, ApiError};
use super::ops::SchemaRequest;
use super::request::{flag, schema_request, Answer, Params};
use super::state::{State, StoredSchema, VersionEntry, VersionSel, AVRO};
use super::store::Store;

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/", get(|| async { json_response(&json!({})) }))
        .route("/schemas", get(list_schemas))
        .route(
            "/schemas/types",
            get(|| async { json_response(&json!([AVRO])) }),
        )
        .route("/schemas/ids/{id}", get(schema_by_id))
        .route("/schemas/ids/{id}/schema", get(raw_schema_by_id))
        .route("/schemas/ids/{id}/subjects", get(subjects_by_id))
        .route("/schemas/ids/{id}/versions", get(versions_by_id))
        .route("/subjects", get(list_subjects))
        .route("/subjects/{subject}", post(lookup).delete(delete_subject))
        .route(
            "/subjects/{subject}/versions",
            get(list_versions).post(register),
        )
        .route(
            "/subjects/{subject}/versions/{version}",
            get(get_version).delete(delete_version),
        )
        .route(
            "/subjects/{subject}/versions/{version}/schema",
            get(get_version_schema),
        )
        .route(
            "/subjects/{subject}/versions/{version}/referencedby",
            get(referenced_by),
        )
        .route("/associations", any(associations))
        .route("/associations/{*rest}", any(associations))
        .merge(api_settings::routes())
        .fallback(|| async { ApiError::not_found("HTTP 404 Not Found: no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                axum::http::StatusCode::METHOD_NOT_ALLOWED,
                405,
                "HTTP 405 Method Not Allowed on this endpoint",
            )
        })
        .layer(middleware::from_fn(log_request))
        .with_state(store)
}

async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let uri = request.uri().clone();
    let response = next.run(request).await;
    tracing::debug!(%method, %uri, status = response.status().as_u16(), "registry request");
    response
}

fn parse_id(text: &str) -> Result<u32, ApiError> {
    text.parse::<u32>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::schema_not_found(format!("Schema {text} not found")))
}

/// Applies `offset` and `limit` (negative or absent limit = everything).
fn paginate<T>(items: Vec<T>, params: &HashMap<String, String>) -> Vec<T> {
    let offset = params
        .get("offset")
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let limit = params
        .get("limit")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(|l| usize::try_from(l).ok());
    let rest = items.into_iter().skip(offset);
    match limit {
        Some(limit) => rest.take(limit).collect(),
        None => rest.collect(),
    }
}

fn deleted_only(params: &HashMap<String, String>) -> bool {
    flag(params, "deletedOnly") || flag(params, "deleted_only")
}

/// Adds `schemaType` (only when not AVRO) and `references` (only when there are some).
fn decorate(map: &mut Map<String, Value>, stored: &StoredSchema) {
    if stored.schema_type != AVRO {
        map.insert("schemaType".into(), json!(stored.schema_type));
    }
    if !stored.references.is_empty() {
        map.insert("references".into(), json!(stored.references));
    }
}

fn version_body(subject: &str, entry: &VersionEntry, stored: &StoredSchema) -> Value {
    let mut map = Map::new();
    map.insert("subject".into(), json!(subject));
    map.insert("version".into(), json!(entry.version));
    map.insert("id".into(), json!(entry.id));
    map.insert("schema".into(), json!(stored.schema));
    decorate(&mut map, stored);
    Value::Object(map)
}

async fn list_schemas(Shared(store): Shared<Arc<Store>>, Query(q): Params) -> Answer {
    let prefix = q.get("subjectPrefix").cloned().unwrap_or_default();
    let deleted = flag(&q, "deleted");
    let latest_only = flag(&q, "latestOnly");
    let items = store
        .read(|state| {
            let mut items = Vec::new();
            for (name, subject) in &state.subjects {
                if !name.starts_with(&prefix) {
                    continue;
                }
                let visible: Vec<&VersionEntry> = subject
                    .versions
                    .iter()
                    .filter(|e| deleted || !e.deleted)
                    .collect();
                let chosen = if latest_only {
                    visible.last().copied().into_iter().collect()
                } else {
                    visible
                };
                for entry in chosen {
                    items.push(version_body(name, entry, state.schema(entry.id)?));
                }
            }
            Ok(items)
        })
        .await?;
    Ok(json_response(&Value::Array(paginate(items, &q))))
}

async fn schema_by_id(
    Shared(store): Shared<Arc<Store>>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Answer {
    let id = parse_id(&id)?;
    let body = store
        .read(|state| {
            let stored = state.schema(id)?;
            let mut map = Map::new();
            map.insert("schema".into(), json!(stored.schema));
            decorate(&mut map, stored);
            if flag(&q, "fetchMaxId") {
                map.insert("maxId".into(), json!(state.max_id()));
            }
            Ok(Value::Object(map))
        })
        .await?;
    Ok(json_response(&body))
}

async fn raw_schema_by_id(Shared(store): Shared<Arc<Store>>, Path(id): Path<String>) -> Answer {
    let id = parse_id(&id)?;
    let schema = store
        .read(|state| Ok(state.schema(id)?.schema.clone()))
        .await?;
    Ok(raw_json_response(schema))
}

async fn subjects_by_id(
    Shared(store): Shared<Arc<Store>>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Answer {
    let id = parse_id(&id)?;
    let mut names: Vec<String> = store
        .read(|state| state.subjects_of(id, flag(&q, "deleted")))
        .await?
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.dedup();
    Ok(json_response(&json!(paginate(names, &q))))
}

async fn versions_by_id(
    Shared(store): Shared<Arc<Store>>,
    Path(id): Path<String>,
    Query(q): Params,
) -> Answer {
    let id = parse_id(&id)?;
    let pairs = store
        .read(|state| state.subjects_of(id, flag(&q, "deleted")))
        .await?;
    let items: Vec<Value> = pairs
        .into_iter()
        .map(|(subject, version)| json!({ "subject": subject, "version": version }))
        .collect();
    Ok(json_response(&Value::Array(paginate(items, &q))))
}

async fn list_subjects(Shared(store): Shared<Arc<Store>>, Query(q): Params) -> Answer {
    let prefix = q.get("subjectPrefix").cloned().unwrap_or_default();
    let names = store
        .read(|state| Ok(state.subject_names(&prefix, flag(&q, "deleted"), deleted_only(&q))))
        .await?;
    Ok(json_response(&json!(paginate(names, &q))))
}

async fn list_versions(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    let versions = store
        .read(|state| state.version_numbers(&subject, flag(&q, "deleted"), deleted_only(&q)))
        .await?;
    Ok(json_response(&json!(paginate(versions, &q))))
}

async fn register(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answer {
    let request = schema_request(&body)?;
    let registered = store
        .mutate(|state| state.register(&subject, &request))
        .await;
    let registered = registered.inspect_err(|error| {
        tracing::info!(%subject, %error, "schema registration refused");
    })?;
    if registered.created {
        tracing::info!(%subject, id = registered.id, version = registered.version, "schema registered");
    } else {
        tracing::debug!(%subject, id = registered.id, version = registered.version, "schema already registered");
    }
    Ok(json_response(&json!({ "id": registered.id })))
}

async fn lookup(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Answer {
    let request = schema_request(&body)?;
    let deleted = flag(&q, "deleted");
    let body = store
        .read(|state| lookup_in(state, &subject, &request, deleted))
        .await?;
    Ok(json_response(&body))
}

/// POST /subjects/{s} on the state: the subject's version holding the submitted schema.
pub fn lookup_in(
    state: &State,
    subject: &str,
    request: &SchemaRequest,
    deleted: bool,
) -> Result<Value, ApiError> {
    state.subject(subject, deleted)?;
    let references = state.resolve_references(request.references.as_deref())?;
    let parsed = state.parse_submission(&request.schema, &references)?;
    let entry = state
        .find_in_subject(subject, &parsed, &references, deleted)
        .ok_or_else(|| {
            ApiError::schema_not_found(format!("Schema not found under subject '{subject}'"))
        })?;
    Ok(version_body(subject, entry, state.schema(entry.id)?))
}

async fn delete_subject(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    let permanent = flag(&q, "permanent");
    let versions = store
        .mutate(|state| state.delete_subject(&subject, permanent))
        .await?;
    tracing::info!(%subject, ?versions, permanent, "subject deleted");
    Ok(json_response(&json!(versions)))
}

async fn get_version(
    Shared(store): Shared<Arc<Store>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Answer {
    let sel = VersionSel::parse(&version)?;
    let body = store
        .read(|state| {
            let entry = state.version(&subject, sel, flag(&q, "deleted"))?;
            Ok(version_body(&subject, entry, state.schema(entry.id)?))
        })
        .await?;
    Ok(json_response(&body))
}

async fn get_version_schema(
    Shared(store): Shared<Arc<Store>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Answer {
    let sel = VersionSel::parse(&version)?;
    let schema = store
        .read(|state| {
            let entry = state.version(&subject, sel, flag(&q, "deleted"))?;
            Ok(state.schema(entry.id)?.schema.clone())
        })
        .await?;
    Ok(raw_json_response(schema))
}

async fn referenced_by(
    Shared(store): Shared<Arc<Store>>,
    Path((subject, version)): Path<(String, String)>,
) -> Answer {
    let sel = VersionSel::parse(&version)?;
    let ids = store
        .read(|state| {
            let entry = state.version(&subject, sel, true)?;
            Ok(state.referenced_by(&subject, entry.version))
        })
        .await?;
    Ok(json_response(&json!(ids)))
}

async fn delete_version(
    Shared(store): Shared<Arc<Store>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
) -> Answer {
    let sel = VersionSel::parse(&version)?;
    let permanent = flag(&q, "permanent");
    let deleted = store
        .mutate(|state| state.delete_version(&subject, sel, permanent))
        .await?;
    tracing::info!(%subject, version = deleted, permanent, "subject version deleted");
    Ok(json_response(&json!(deleted)))
}

/// Schema associations (Confluent 8) are not supported. Python's serializer asks first and falls
/// back to the topic name strategy on a 404.
async fn associations() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        40401,
        "No associations found: this registry does not support schema associations",
    )
}
