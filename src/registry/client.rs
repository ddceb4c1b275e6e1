//! Registry client over `schema_registry_converter`'s HTTP calls, with eosflow's own caching.
//!
//! We use the converter for the wire calls only, not its encoder/decoder, because (GROUND.md) its
//! encoder caches one schema per subject forever and its decoder caches errors and decodes only
//! with the writer schema. Here: schemas by id are cached once fetched (ids are immutable in a
//! registry); errors are never cached, so a registry that was briefly down recovers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apache_avro::Schema;
use schema_registry_converter::async_impl::schema_registry::{
    get_schema_by_id, post_schema, SrSettings,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

/// Errors talking to a Schema Registry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry URL {url:?} is not valid: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("schema registry at {url} is unreachable or failed: {detail} (is `eosflow registry serve` or Confluent Schema Registry running there?)")]
    Unavailable { url: String, detail: String },
    #[error("schema registry at {url} rejected the schema for subject {subject:?}: {detail}")]
    Rejected {
        url: String,
        subject: String,
        detail: String,
    },
    #[error("unknown schema id {id}: the registry at {url} does not have it (was the record written against another registry?)")]
    UnknownSchemaId { id: u32, url: String },
    #[error("schema id {id} from {url} is not a valid Avro schema: {detail}")]
    InvalidSchema {
        id: u32,
        url: String,
        detail: String,
    },
}

impl RegistryError {
    /// Whether a later attempt may succeed (the registry was down or overloaded).
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// A cached client for one registry URL.
pub struct RegistryClient {
    url: String,
    settings: SrSettings,
    by_id: Mutex<HashMap<u32, Arc<Schema>>>,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryClient")
            .field("url", &self.url)
            .finish()
    }
}

fn detail(e: &SRCError) -> String {
    match &e.cause {
        Some(cause) => format!("{}: {cause}", e.error),
        None => e.error.clone(),
    }
}

impl RegistryClient {
    /// A client for `url` (e.g. `http://127.0.0.1:8081`), with a per-request timeout.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, RegistryError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(RegistryError::BadUrl {
                url: url.to_string(),
                detail: "must start with http:// or https://".into(),
            });
        }
        let url = url.trim_end_matches('/').to_string();
        let settings = SrSettings::new_builder(url.clone())
            .set_timeout(timeout)
            .build()
            .map_err(|e| RegistryError::BadUrl {
                url: url.clone(),
                detail: detail(&e),
            })?;
        Ok(RegistryClient {
            url,
            settings,
            by_id: Mutex::new(HashMap::new()),
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Register (or find) an Avro schema under `subject`; returns its global id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let supplied = SuppliedSchema::new(None, SchemaType::Avro, schema.to_string());
        match post_schema(&self.settings, subject.to_string(), supplied).await {
            Ok(registered) => Ok(registered.id),
            Err(e) if is_http_status(&e) => Err(RegistryError::Rejected {
                url: self.url.clone(),
                subject: subject.to_string(),
                detail: detail(&e),
            }),
            Err(e) => Err(RegistryError::Unavailable {
                url: self.url.clone(),
                detail: detail(&e),
            }),
        }
    }

    /// The schema with global id `id`, fetched once and cached.
    pub async fn schema(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        if let Some(schema) = self.cached(id) {
            return Ok(schema);
        }
        let registered = get_schema_by_id(id, &self.settings).await.map_err(|e| {
            let text = detail(&e);
            if text.contains("40403") || text.contains("404") {
                RegistryError::UnknownSchemaId {
                    id,
                    url: self.url.clone(),
                }
            } else {
                RegistryError::Unavailable {
                    url: self.url.clone(),
                    detail: text,
                }
            }
        })?;
        let schema =
            Schema::parse_str(&registered.schema).map_err(|e| RegistryError::InvalidSchema {
                id,
                url: self.url.clone(),
                detail: e.to_string(),
            })?;
        let schema = Arc::new(schema);
        if let Ok(mut cache) = self.by_id.lock() {
            cache.insert(id, schema.clone());
        }
        Ok(schema)
    }

    fn cached(&self, id: u32) -> Option<Arc<Schema>> {
        self.by_id.lock().ok()?.get(&id).cloned()
    }
}

/// The converter reports HTTP error statuses as non-retryable errors naming the status.
fn is_http_status(e: &SRCError) -> bool {
    !e.retriable && detail(e).contains("failed with status")
}
