//! Request parsing shared by the REST handlers ([`super::api`], [`super::api_settings`]): the
//! query parameters, JSON bodies and schema requests, and the handlers' answer type.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::Query;
use axum::response::Response;
use serde_json::Value;

use super::error::ApiError;
use super::ops::{check_schema_type, SchemaRequest};

pub type Params = Query<HashMap<String, String>>;
pub type Answer = Result<Response, ApiError>;

/// A boolean query parameter: `true` in any case; anything else (or absence) is false.
pub fn flag(params: &HashMap<String, String>, name: &str) -> bool {
    params
        .get(name)
        .is_some_and(|value| value.trim().eq_ignore_ascii_case("true"))
}

/// The body as JSON, whatever its content type (400 when it is not JSON).
pub fn parse_json(body: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        ApiError::bad_request(format!(
            "The request body is not valid JSON ({error}); send a JSON object such as \
             {{\"schema\": \"...\"}}"
        ))
    })
}

/// A registration/lookup/compatibility body: 400 when not JSON, 42201 when not the right shape.
pub fn schema_request(body: &Bytes) -> Result<SchemaRequest, ApiError> {
    let value = parse_json(body)?;
    let request: SchemaRequest = serde_json::from_value(value).map_err(|error| {
        ApiError::invalid_schema(format!(
            "Invalid schema request: {error}; expected {{\"schema\": \"<schema JSON as a \
             string>\", \"schemaType\"?: \"AVRO\", \"references\"?: [...]}}"
        ))
    })?;
    check_schema_type(request.schema_type.as_deref())?;
    Ok(request)
}
