//! REST routes for compatibility tests, `/config` and `/mode`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State as Shared};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};

use super::error::{json_response, ApiError};
use super::level::{CompatibilityLevel, Mode};
use super::ops::SchemaRequest;
use super::request::{flag, parse_json, schema_request, Answer, Params};
use super::state::{State, VersionSel};
use super::store::Store;

pub fn routes() -> Router<Arc<Store>> {
    Router::new()
        .route(
            "/compatibility/subjects/{subject}/versions",
            post(compat_all),
        )
        .route(
            "/compatibility/subjects/{subject}/versions/{version}",
            post(compat_version),
        )
        .route("/config", get(get_global_config).put(put_global_config))
        .route(
            "/config/{subject}",
            get(get_subject_config)
                .put(put_subject_config)
                .delete(delete_subject_config),
        )
        .route("/mode", get(get_global_mode).put(put_global_mode))
        .route(
            "/mode/{subject}",
            get(get_subject_mode)
                .put(put_subject_mode)
                .delete(delete_subject_mode),
        )
}

fn compat_answer(messages: Vec<String>, verbose: bool) -> Answer {
    Ok(json_response(&compat_body(messages, verbose)))
}

/// `{"is_compatible": bool, "messages"?: [...]}`.
pub fn compat_body(messages: Vec<String>, verbose: bool) -> Value {
    let mut body = json!({ "is_compatible": messages.is_empty() });
    if verbose {
        body["messages"] = json!(messages);
    }
    body
}

/// POST /compatibility/subjects/{s}/versions: against the versions the subject's level names.
async fn compat_all(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Answer {
    let request = schema_request(&body)?;
    let messages = store
        .read(|state| compat_messages_in(state, &subject, None, &request))
        .await?;
    compat_answer(messages, flag(&q, "verbose"))
}

/// The compatibility messages (empty = compatible) of a submitted schema against the versions
/// the subject's level names (`version` None) or against one version.
pub fn compat_messages_in(
    state: &State,
    subject: &str,
    version: Option<VersionSel>,
    request: &SchemaRequest,
) -> Result<Vec<String>, ApiError> {
    let references = state.resolve_references(request.references.as_deref())?;
    let parsed = state.parse_submission(&request.schema, &references)?;
    let Some(sel) = version else {
        return state.compatibility_messages(subject, &parsed, None);
    };
    if state.subject(subject, false).is_err() && sel == VersionSel::Latest {
        // Nothing registered yet: nothing to be incompatible with.
        return Ok(Vec::new());
    }
    let entry = state.version(subject, sel, false)?;
    state.compatibility_messages(subject, &parsed, Some(entry))
}

/// POST /compatibility/subjects/{s}/versions/{v|latest}: against that one version.
async fn compat_version(
    Shared(store): Shared<Arc<Store>>,
    Path((subject, version)): Path<(String, String)>,
    Query(q): Params,
    body: Bytes,
) -> Answer {
    let sel = VersionSel::parse(&version)?;
    let request = schema_request(&body)?;
    let messages = store
        .read(|state| compat_messages_in(state, &subject, Some(sel), &request))
        .await?;
    compat_answer(messages, flag(&q, "verbose"))
}

/// The level in a PUT /config body (`compatibility`, or `compatibilityLevel`); None if absent.
pub fn level_in(body: &Bytes) -> Result<Option<CompatibilityLevel>, ApiError> {
    let value = parse_json(body)?;
    let text = match value
        .get("compatibility")
        .or_else(|| value.get("compatibilityLevel"))
    {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(text)) => text.clone(),
        Some(other) => return Err(ApiError::invalid_compatibility(&other.to_string())),
    };
    super::level::parse_level(&text)
        .map(Some)
        .ok_or_else(|| ApiError::invalid_compatibility(&text))
}

async fn get_global_config(Shared(store): Shared<Arc<Store>>) -> Answer {
    let level = store.read(|state| state.config(None, false)).await?;
    Ok(json_response(
        &json!({ "compatibilityLevel": level.as_str() }),
    ))
}

async fn get_subject_config(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    let default_to_global = flag(&q, "defaultToGlobal");
    let level = store
        .read(|state| state.config(Some(&subject), default_to_global))
        .await?;
    Ok(json_response(
        &json!({ "compatibilityLevel": level.as_str() }),
    ))
}

async fn put_config(store: &Store, subject: Option<&str>, body: &Bytes) -> Answer {
    let level = level_in(body)?;
    let level = store
        .mutate(|state| put_config_in(state, subject, level))
        .await?;
    tracing::info!(
        subject = subject.unwrap_or("(global)"),
        level = level.as_str(),
        "compatibility level set"
    );
    Ok(json_response(&json!({ "compatibility": level.as_str() })))
}

/// PUT /config[/{s}] on the state, with the level the body names (None: a body with other
/// settings only, nothing of ours changes). Answers the level in force.
pub fn put_config_in(
    state: &mut State,
    subject: Option<&str>,
    level: Option<CompatibilityLevel>,
) -> Result<CompatibilityLevel, ApiError> {
    match level {
        Some(level) => state.set_config(subject, level).map(|()| level),
        None => Ok(match subject {
            Some(name) => state.effective_level(name),
            None => state.compatibility,
        }),
    }
}

async fn put_global_config(Shared(store): Shared<Arc<Store>>, body: Bytes) -> Answer {
    put_config(&store, None, &body).await
}

async fn put_subject_config(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    body: Bytes,
) -> Answer {
    put_config(&store, Some(&subject), &body).await
}

async fn delete_subject_config(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
) -> Answer {
    let previous = store.mutate(|state| state.delete_config(&subject)).await?;
    tracing::info!(%subject, "subject compatibility level removed");
    Ok(json_response(
        &json!({ "compatibilityLevel": previous.as_str() }),
    ))
}

pub fn mode_in(body: &Bytes) -> Result<Mode, ApiError> {
    let value = parse_json(body)?;
    match value.get("mode") {
        Some(Value::String(text)) => Mode::parse(text).ok_or_else(|| ApiError::invalid_mode(text)),
        Some(other) => Err(ApiError::invalid_mode(&other.to_string())),
        None => Err(ApiError::invalid_mode(
            "(missing: send {\"mode\": \"READWRITE\"})",
        )),
    }
}

async fn get_global_mode(Shared(store): Shared<Arc<Store>>) -> Answer {
    let mode = store.read(|state| state.get_mode(None, false)).await?;
    Ok(json_response(&json!({ "mode": mode.as_str() })))
}

async fn get_subject_mode(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
) -> Answer {
    let default_to_global = flag(&q, "defaultToGlobal");
    let mode = store
        .read(|state| state.get_mode(Some(&subject), default_to_global))
        .await?;
    Ok(json_response(&json!({ "mode": mode.as_str() })))
}

async fn put_mode(store: &Store, subject: Option<&str>, force: bool, body: &Bytes) -> Answer {
    let mode = mode_in(body)?;
    store
        .mutate(|state| state.set_mode(subject, mode, force))
        .await?;
    tracing::info!(
        subject = subject.unwrap_or("(global)"),
        mode = mode.as_str(),
        "mode set"
    );
    Ok(json_response(&json!({ "mode": mode.as_str() })))
}

async fn put_global_mode(
    Shared(store): Shared<Arc<Store>>,
    Query(q): Params,
    body: Bytes,
) -> Answer {
    put_mode(&store, None, flag(&q, "force"), &body).await
}

async fn put_subject_mode(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> Answer {
    put_mode(&store, Some(&subject), flag(&q, "force"), &body).await
}

async fn delete_subject_mode(
    Shared(store): Shared<Arc<Store>>,
    Path(subject): Path<String>,
) -> Answer {
    let previous = store.mutate(|state| state.delete_mode(&subject)).await?;
    tracing::info!(%subject, "subject mode removed");
    Ok(json_response(&json!({ "mode": previous.as_str() })))
}
