//! Sources of users. A page — `(seed, page)` — is the unit of replay: asking a source for the same
//! page again must return the same users in the same order, so a retried or replayed page lands on
//! the same UUIDv5 keys.

pub mod generator;
pub mod http;
pub mod randomuser;
pub mod retry;

pub use randomuser::Rejection;

use crate::model::User;

/// Where `produce` takes users from, as configured: `generator` or a randomuser-compatible
/// `http(s)://` URL, with the settings of an HTTP source.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceSpec {
    /// `generator` or the URL.
    pub location: String,
    /// The name an HTTP source records in each user's identity (default `randomuser`).
    pub name: Option<String>,
    /// randomuser's `nat=` filter.
    pub nat: Option<String>,
    /// Requests per second (HTTP).
    pub rate: Option<f64>,
}

/// Open the source of `spec`; an unknown location is a [`SourceError::Config`] naming the forms.
pub fn open(spec: &SourceSpec) -> Result<Box<dyn Source>, SourceError> {
    let url = spec.location.as_str();
    if url == "generator" {
        return Ok(Box::new(generator::Generator::new()));
    }
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(SourceError::Config(format!(
            "unknown source {url:?}: use `generator` (offline) or a randomuser-compatible http(s):// URL"
        )));
    }
    // The source's URL is logged and named in errors: scrub any secret it holds.
    crate::secret::register_url(url);
    let defaults = http::HttpSourceConfig::default();
    Ok(Box::new(http::HttpSource::new(http::HttpSourceConfig {
        url: url.to_string(),
        name: spec.name.clone().unwrap_or_else(|| "randomuser".into()),
        nat: spec.nat.clone(),
        rate: spec.rate.or(defaults.rate),
        ..defaults
    })?))
}

/// What to fetch: one page of `size` users for `seed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub seed: String,
    /// 1-based.
    pub page: u64,
    pub size: u32,
}

impl PageRequest {
    /// Checks the request before a source serves it: page in `1..=i64::MAX` (1-based,
    /// `source_page` is an Avro long), size in `1..=max_size` (`limit` names where the
    /// source's maximum comes from: [`http::MAX_PAGE_SIZE`], [`generator::MAX_PAGE_SIZE`]).
    pub fn validate(&self, max_size: u32, limit: &str) -> Result<(), SourceError> {
        if self.page == 0 || i64::try_from(self.page).is_err() {
            return Err(SourceError::BadRequest(format!(
                "page must be between 1 and {} (1-based, an Avro long), got {}",
                i64::MAX,
                self.page
            )));
        }
        if self.size == 0 || self.size > max_size {
            return Err(SourceError::BadRequest(format!(
                "page size must be between 1 and {max_size} ({limit}), got {}",
                self.size
            )));
        }
        Ok(())
    }
}

/// One fetched page, in source order.
///
/// A user's identity is its position in the source page, so users that failed validation are
/// moved to `rejects` without renumbering the others: `users[k].source_index` is the user's
/// position in the page (`>= k`; equal to `k` when nothing was rejected, as for the generator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub request: PageRequest,
    /// The valid users, each keeping its source position as `source_index`.
    pub users: Vec<User>,
    /// The users validation rejected, with the reason and the redacted raw record.
    pub rejects: Vec<Rejection>,
}

/// Errors of fetching a page.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("source {source_name}: page {page} of seed {seed:?}: {detail}")]
    Fetch {
        source_name: String,
        seed: String,
        page: u64,
        detail: String,
    },
    #[error("invalid page request: {0}")]
    BadRequest(String),
    /// A source that cannot be built as configured (bad URL, rate, timeout, …).
    #[error("invalid source configuration: {0}")]
    Config(String),
    /// A status the server will keep answering (4xx other than 408/429): not retried.
    #[error("source {source_name}: GET {url}: HTTP {status} (not retried): {body}")]
    Status {
        source_name: String,
        url: String,
        status: u16,
        /// The first 200 characters of the response body.
        body: String,
    },
    /// A well-formed page that is not the page asked for (`info.seed`/`page`/`results`).
    #[error("source {source_name}: GET {url}: page {page} of seed {seed:?}: the response does not match the request: {detail}")]
    Mismatch {
        source_name: String,
        url: String,
        seed: String,
        page: u64,
        detail: String,
    },
    /// Every attempt failed with a retriable error (5xx, 408, 429, connect error, timeout,
    /// malformed body); `last` says what the last one was.
    #[error("source {source_name}: GET {url}: page {page} of seed {seed:?}: gave up after {attempts} attempts; last error: {last}")]
    Exhausted {
        source_name: String,
        url: String,
        seed: String,
        page: u64,
        attempts: u32,
        last: String,
    },
}

/// A replayable source of users.
pub trait Source: Send {
    /// The name recorded in every user's identity (`source_name`).
    fn name(&self) -> &str;
    /// Fetch one page; the same request always yields the same page.
    fn fetch(&mut self, request: &PageRequest) -> Result<Page, SourceError>;
}
