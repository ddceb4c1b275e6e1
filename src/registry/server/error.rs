//! Errors: the server's own (start-up, state file) and the REST API's Confluent-shaped ones.

use std::net::SocketAddr;
use std::path::PathBuf;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The content type Confluent's registry answers with (errors and successes alike).
pub const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

/// What can go wrong starting or running [`super::RegistryServer`].
#[derive(Debug, thiserror::Error)]
pub enum RegistryServerError {
    #[error(
        "schema registry cannot listen on {addr}: {source}. Another process may be using the port; \
         pick another address (port 0 picks a free one)"
    )]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("schema registry bound {addr} but cannot read its local address: {source}")]
    LocalAddr {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot create the schema registry data directory {}: {source}. Check the path and its \
         permissions, or pass another data directory", path.display()
    )]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "cannot read the schema registry state file {}: {source}. Check its permissions",
        path.display()
    )]
    ReadState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the schema registry state file {} is corrupt: {reason}. Refusing to start over it: restore \
         it from a backup, or move it away to start an empty registry (schema ids would then be \
         reassigned and existing Kafka records would point at unknown ids)", path.display()
    )]
    CorruptState { path: PathBuf, reason: String },
    #[error(
        "cannot use the basic-auth file {}: {detail}. Expected USER:PASSWORD lines ('#' starts a comment)",
        path.display()
    )]
    AuthFile { path: PathBuf, detail: String },
    #[error(
        "cannot write the schema registry state file {}: {source}. Check free disk space and the \
         directory's permissions", path.display()
    )]
    WriteState {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A REST error: HTTP status plus Confluent's `{"error_code", "message"}` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: u32,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: u32, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, 400, message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, 404, message)
    }

    pub fn subject_not_found(subject: &str) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            40401,
            format!("Subject '{subject}' not found."),
        )
    }

    pub fn version_not_found(subject: &str, version: impl std::fmt::Display) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            40402,
            format!("Version {version} not found in subject '{subject}'."),
        )
    }

    pub fn schema_not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, 40403, message)
    }

    pub fn invalid_schema(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, 42201, message)
    }

    pub fn invalid_version(version: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42202,
            format!(
                "The specified version '{version}' is not a valid version id. Allowed values are \
                 between [1, 2^31-1] and the string \"latest\""
            ),
        )
    }

    pub fn invalid_compatibility(level: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42203,
            format!(
                "Invalid compatibility level '{level}'. Valid values are: NONE, BACKWARD, \
                 BACKWARD_TRANSITIVE, FORWARD, FORWARD_TRANSITIVE, FULL, FULL_TRANSITIVE"
            ),
        )
    }

    pub fn invalid_mode(mode: &str) -> ApiError {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            42204,
            format!(
                "Invalid mode '{mode}'. Valid values are: READWRITE, READONLY, \
                 READONLY_OVERRIDE, IMPORT"
            ),
        )
    }

    pub fn not_permitted(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, 42205, message)
    }

    pub fn reference_exists(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, 42206, message)
    }

    pub fn store(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 50001, message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, 50000, message)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (error code {})", self.message, self.code)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error_code": self.code, "message": self.message });
        let mut response = (self.status, body.to_string()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        response
    }
}

/// A successful JSON answer with Confluent's content type.
pub fn json_response(value: &serde_json::Value) -> Response {
    raw_json_response(value.to_string())
}

/// A body that already is JSON text (e.g. a stored schema), with Confluent's content type.
pub fn raw_json_response(body: String) -> Response {
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}
