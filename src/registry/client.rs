//! Registry client over `schema_registry_converter`'s HTTP calls, with eosflow's own caching.
//!
//! We use the converter for the wire calls only, not its encoder/decoder, because (GROUND.md) its
//! encoder caches one schema per subject forever and its decoder caches errors and decodes only
//! with the writer schema. Here: schemas by id are cached once fetched (ids are immutable in a
//! registry); errors are never cached, so a registry that was briefly down recovers.
//!
//! Security: basic auth ([`RegistryAuth`], or `https://USER:PASS@host` in the URL: the
//! credentials are taken out of the URL, which is only ever shown without them), and extra CA
//! certificates for https://. A 401 or 403 is [`RegistryError::Unauthorized`], never retried.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use apache_avro::Schema;
use schema_registry_converter::async_impl::schema_registry::{
    get_all_subjects, get_all_versions, get_schema_by_id, get_schema_by_subject_and_version,
    is_compatible_schema, post_schema, SrSettings,
};
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::{SchemaType, SuppliedSchema};

use crate::secret::{percent_decode, Secret};

/// Credentials and TLS trust for a registry; everything optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryAuth {
    /// Basic-auth user (Confluent Cloud: the registry API key).
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM file of CA certificates to trust beside the system's (https:// only).
    pub ca_location: Option<PathBuf>,
}

/// Errors talking to a Schema Registry.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    #[error("schema registry URL {url:?} is not valid: {detail}")]
    BadUrl { url: String, detail: String },
    #[error("schema registry at {url} is unreachable or failed: {detail} (is `eosflow registry serve` or Confluent Schema Registry running there?)")]
    Unavailable { url: String, detail: String },
    #[error("schema registry at {url} refused the request: {detail}. {hint}")]
    Unauthorized {
        url: String,
        detail: String,
        hint: &'static str,
    },
    #[error("cannot use {} as CA certificates for the schema registry at {url}: {detail}", path.display())]
    BadCa {
        url: String,
        path: PathBuf,
        detail: String,
    },
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

    /// Whether the error is about the record's schema id (unknown, or not a valid schema), as
    /// opposed to the registry or eosflow's access to it.
    pub fn is_about_the_record(&self) -> bool {
        matches!(
            self,
            RegistryError::UnknownSchemaId { .. } | RegistryError::InvalidSchema { .. }
        )
    }
}

/// A registry's verdict on a candidate schema for a subject.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Compatible,
    Incompatible,
    /// The subject has no version: nothing to be compatible with (`known`: the subjects there).
    NoSuchSubject {
        known: Vec<String>,
    },
}

/// A cached client for one registry URL.
pub struct RegistryClient {
    url: String,
    settings: SrSettings,
    with_credentials: bool,
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
        Self::connect(url, timeout, &RegistryAuth::default())
    }

    /// A client for `url` with credentials and CA certificates (see [`settings`]).
    pub fn connect(
        url: &str,
        timeout: Duration,
        auth: &RegistryAuth,
    ) -> Result<Self, RegistryError> {
        let c = settings(url, timeout, auth)?;
        Ok(RegistryClient {
            url: c.url,
            settings: c.settings,
            with_credentials: c.with_credentials,
            by_id: Mutex::new(HashMap::new()),
        })
    }

    /// The registry's URL, without credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Register (or find) an Avro schema under `subject`; returns its global id.
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RegistryError> {
        let supplied = SuppliedSchema::new(None, SchemaType::Avro, schema.to_string());
        match post_schema(&self.settings, subject.to_string(), supplied).await {
            Ok(registered) => Ok(registered.id),
            Err(e) if auth_status(&e).is_some() => Err(self.unauthorized(&e)),
            Err(e) if is_http_status(&e) => Err(RegistryError::Rejected {
                url: self.url.clone(),
                subject: subject.to_string(),
                detail: detail(&e),
            }),
            Err(e) => Err(self.unavailable(detail(&e))),
        }
    }

    /// Is `schema` compatible with `subject` under the subject's level
    /// (`POST /compatibility/subjects/{subject}/versions`)? A subject without versions is said
    /// to be so, not compatible: a typo in its name must not pass a check.
    pub async fn check_compatible(
        &self,
        subject: &str,
        schema: &str,
    ) -> Result<Verdict, RegistryError> {
        let known = get_all_subjects(&self.settings)
            .await
            .map_err(|e| self.failed(&e))?;
        if !known.iter().any(|s| s == subject) {
            return Ok(Verdict::NoSuchSubject { known });
        }
        let supplied = SuppliedSchema::new(None, SchemaType::Avro, schema.to_string());
        match is_compatible_schema(&self.settings, subject.to_string(), supplied).await {
            Ok(true) => Ok(Verdict::Compatible),
            Ok(false) => Ok(Verdict::Incompatible),
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// The versions of `subject` whose schema parses, oldest first.
    pub async fn subject_versions(
        &self,
        subject: &str,
    ) -> Result<Vec<(u32, Schema)>, RegistryError> {
        let mut versions = get_all_versions(&self.settings, subject.to_string())
            .await
            .map_err(|e| self.failed(&e))?;
        versions.sort_unstable();
        let mut schemas = Vec::new();
        for version in versions {
            let registered =
                get_schema_by_subject_and_version(&self.settings, subject, Some(version))
                    .await
                    .map_err(|e| self.failed(&e))?;
            if let Ok(schema) = Schema::parse_str(&registered.schema) {
                schemas.push((version, schema));
            }
        }
        Ok(schemas)
    }

    /// A failed request as the error that says what to do: refused (401/403), or unavailable.
    fn failed(&self, e: &SRCError) -> RegistryError {
        if auth_status(e).is_some() {
            return self.unauthorized(e);
        }
        self.unavailable(detail(e))
    }

    /// Unavailable, with the cause the HTTP client keeps to itself ("error sending request"):
    /// a request that got no answer is followed by a TCP look at the registry's address, which
    /// tells a name that does not resolve, a port where nothing listens and silence apart.
    fn unavailable(&self, detail: String) -> RegistryError {
        let cause = detail
            .contains("error sending request")
            .then(|| transport_cause(&self.url))
            .flatten();
        RegistryError::Unavailable {
            url: self.url.clone(),
            detail: match cause {
                Some(cause) => format!("{detail}: {cause}"),
                None => detail,
            },
        }
    }

    /// The schema with global id `id`, fetched once and cached.
    pub async fn schema(&self, id: u32) -> Result<Arc<Schema>, RegistryError> {
        if let Some(schema) = self.cached(id) {
            return Ok(schema);
        }
        let registered = get_schema_by_id(id, &self.settings).await.map_err(|e| {
            let text = detail(&e);
            if auth_status(&e).is_some() {
                self.unauthorized(&e)
            } else if text.contains("40403") || text.contains("404") {
                RegistryError::UnknownSchemaId {
                    id,
                    url: self.url.clone(),
                }
            } else {
                self.unavailable(text)
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

    fn unauthorized(&self, e: &SRCError) -> RegistryError {
        unauthorized(&self.url, e, self.with_credentials)
    }
}

/// The error for a 401/403 answer, with what to do about it.
pub fn unauthorized(url: &str, e: &SRCError, with_credentials: bool) -> RegistryError {
    let hint = match (auth_status(e), with_credentials) {
        (Some(403), _) => "The credentials were accepted but are not allowed this operation: check the account's permissions on the subject",
        (_, true) => "Check the user (--registry-username, EOSFLOW_REGISTRY_USERNAME) and password (EOSFLOW_REGISTRY_PASSWORD, or USER:PASS@ in the URL)",
        (_, false) => "The registry requires authentication: give --registry-username with EOSFLOW_REGISTRY_PASSWORD, or USER:PASS@ in the URL",
    };
    RegistryError::Unauthorized {
        url: url.to_string(),
        detail: detail(e),
        hint,
    }
}

/// 401 or 403, when the converter reports one of those statuses.
pub fn auth_status(e: &SRCError) -> Option<u16> {
    let text = detail(e);
    [401, 403]
        .into_iter()
        .find(|code| text.contains(&format!("failed with status {code}")))
}

/// The converter's settings for one registry.
pub struct Connection {
    /// The URL without credentials (for messages).
    pub url: String,
    pub settings: SrSettings,
    /// Whether basic-auth credentials are sent.
    pub with_credentials: bool,
}

/// A registry address taken apart: the URL without credentials, the basic-auth credentials (from
/// the URL or from `auth`, not both) and an HTTP client builder that trusts `auth`'s CA
/// certificates beside the system's. Both the converter's client and `doctor`'s probe start here.
pub struct Resolved {
    /// The URL without credentials (for messages and requests).
    pub base: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub http: reqwest::ClientBuilder,
}

/// Resolve `url` (`http://…` or `https://…`, optionally with `USER:PASS@`, percent-encoded) and
/// `auth`; see [`Resolved`].
pub fn resolve(url: &str, auth: &RegistryAuth) -> Result<Resolved, RegistryError> {
    let shown = crate::secret::redact_url(url);
    let bad = |detail: &str| RegistryError::BadUrl {
        url: shown.clone(),
        detail: detail.to_string(),
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(bad("must start with http:// or https://"));
    }
    let mut parsed = url::Url::parse(url).map_err(|e| bad(&e.to_string()))?;
    let url_user = Some(percent_decode(parsed.username())).filter(|u| !u.is_empty());
    let url_password = parsed.password().map(|p| Secret::new(percent_decode(p)));
    let in_url = url_user.is_some() || url_password.is_some();
    if in_url && (auth.username.is_some() || auth.password.is_some()) {
        return Err(bad("credentials are given both in the URL and with --registry-username/--registry-password; give them in one place"));
    }
    let (username, password) = if in_url {
        (url_user, url_password)
    } else {
        (auth.username.clone(), auth.password.clone())
    };
    if password.is_some() && username.is_none() {
        return Err(bad(
            "a registry password needs a user (--registry-username, or USER:PASS@ in the URL)",
        ));
    }
    parsed
        .set_password(None)
        .and_then(|()| parsed.set_username(""))
        .map_err(|()| bad("cannot take the credentials out of the URL"))?;
    let base = parsed.as_str().trim_end_matches('/').to_string();
    if username.is_some() && parsed.scheme() == "http" {
        tracing::warn!(registry = %base, "registry credentials are sent over plain http://; use https:// outside a trusted network");
    }
    let mut http = reqwest::Client::builder();
    if let Some(path) = &auth.ca_location {
        let ca_error = |detail: String| RegistryError::BadCa {
            url: base.clone(),
            path: path.clone(),
            detail,
        };
        if parsed.scheme() != "https" {
            return Err(ca_error(
                "CA certificates need an https:// registry URL".into(),
            ));
        }
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ca_error(format!("not PEM certificates: {e}")))?;
        if certs.is_empty() {
            return Err(ca_error("no PEM certificate in the file".into()));
        }
        for cert in certs {
            http = http.add_root_certificate(cert);
        }
    }
    Ok(Resolved {
        base,
        username,
        password,
        http,
    })
}

/// The converter's settings for `url` and `auth` (see [`resolve`]).
pub fn settings(
    url: &str,
    timeout: Duration,
    auth: &RegistryAuth,
) -> Result<Connection, RegistryError> {
    let Resolved {
        base,
        username,
        password,
        http,
    } = resolve(url, auth)?;
    let mut builder = SrSettings::new_builder(base.clone());
    builder.set_timeout(timeout);
    if let Some(user) = &username {
        builder.set_basic_authorization(user, password.as_ref().map(Secret::expose));
    }
    let settings = builder
        .build_with(http)
        .map_err(|e| RegistryError::BadUrl {
            url: base.clone(),
            detail: detail(&e),
        })?;
    Ok(Connection {
        url: base,
        settings,
        with_credentials: username.is_some(),
    })
}

/// Why the registry's `host:port` takes no connection, if it does not.
fn transport_cause(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let addr = format!("{}:{}", parsed.host_str()?, parsed.port_or_known_default()?);
    crate::net::diagnose(&addr, Duration::from_secs(2)).map(|why| format!("{addr}: {why}"))
}

/// The converter reports HTTP error statuses as non-retryable errors naming the status.
fn is_http_status(e: &SRCError) -> bool {
    !e.retriable && detail(e).contains("failed with status")
}
