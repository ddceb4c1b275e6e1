//! Sources of users. A page — `(seed, page)` — is the unit of replay: asking a source for the same
//! page again must return the same users in the same order, so a retried or replayed page lands on
//! the same UUIDv5 keys.

pub mod generator;

use crate::model::User;

/// What to fetch: one page of `size` users for `seed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub seed: String,
    /// 1-based.
    pub page: u64,
    pub size: u32,
}

/// One fetched page: users in source order; `users[i]` has `source_index == i`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub request: PageRequest,
    pub users: Vec<User>,
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
}

/// A replayable source of users.
pub trait Source: Send {
    /// The name recorded in every user's identity (`source_name`).
    fn name(&self) -> &str;
    /// Fetch one page; the same request always yields the same page.
    fn fetch(&mut self, request: &PageRequest) -> Result<Page, SourceError>;
}
