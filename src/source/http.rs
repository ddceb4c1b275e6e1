//! The randomuser.me [`Source`]: `GET {url}?results={size}&seed={seed}&page={page}[&nat=…]`.
//!
//! randomuser.me returns the same users for the same seed and page, so a page is the unit of
//! replay exactly as for the [`generator`](super::generator). Each raw result goes through
//! [`format_user`]; a user that does not validate lands in [`Page::rejects`] with its position, the
//! others keep theirs (no renumbering: identity is the position in the source page).
//!
//! Failure handling, per request:
//!
//! | what happened | what the source does |
//! |---|---|
//! | connect error, reset, timeout (connect or total), 5xx, 408 | retry with backoff |
//! | 429, 503 | retry; honour `Retry-After: <seconds>` up to [`RETRY_AFTER_CAP_FACTOR`] × `max_backoff`, else backoff |
//! | 200 with a non-JSON body (an HTML error page), `{"error": …}` or a wrong shape | retry (randomuser does serve those transiently), then fail naming URL and problem |
//! | other 4xx (and unfollowed 3xx) | fail at once: [`SourceError::Status`] with the body's first 200 chars |
//! | more than 10 redirects | fail at once: [`SourceError::Fetch`] |
//! | `info.seed`/`info.page`/`info.results` or the result count differ from the request | fail: [`SourceError::Mismatch`] |
//! | a user that does not validate | a [`Rejection`](super::Rejection) in the page; the page succeeds |
//!
//! Backoff is exponential with full jitter ([`Backoff`]), drawn deterministically from
//! `(seed, page, attempt)` so runs are reproducible. All attempts, retries included, pass through
//! the rate limiter ([`RateLimiter`]). After `max_retries` retries the source gives up with
//! [`SourceError::Exhausted`] naming the last failure.

use std::io::Read;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use reqwest::{StatusCode, Url};
use tracing::{debug, warn};

use super::randomuser::{format_user, parse_page, truncate_chars, RawPage};
pub use super::retry::RETRY_AFTER_CAP_FACTOR;
use super::retry::{jitter_key, parse_retry_after, retry_after_cap, Backoff, RateLimiter};
use super::{Page, PageRequest, Source, SourceError};
use crate::model::SourceIdentity;

/// The public randomuser.me endpoint.
pub const DEFAULT_URL: &str = "https://randomuser.me/api/";
/// The name an [`HttpSource`] records in `source_name` unless configured otherwise.
pub const DEFAULT_NAME: &str = "randomuser";
/// The largest page, randomuser.me's `results` maximum.
pub const MAX_PAGE_SIZE: u32 = 5000;
/// Bodies larger than this are not read (a 5000-user page is about 6 MB).
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// How much of an error body is read and quoted.
const ERROR_BODY_CHARS: usize = 200;

/// How to reach and pace an HTTP source.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpSourceConfig {
    /// The API endpoint; a query already in it is kept (its `results`/`seed`/`page`/`nat` are
    /// replaced by the request's). Keep `info` in the response: no `noinfo`.
    pub url: String,
    /// Recorded in every user's `source_name` (and so in its row key).
    pub name: String,
    /// randomuser's `nat` filter, e.g. `"us,gb"`.
    pub nat: Option<String>,
    /// Total time of one request, body included.
    pub timeout: Duration,
    /// Time to establish the connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Retries after the first attempt (`0`: one attempt only).
    pub max_retries: u32,
    /// Ceiling of the first retry's delay; doubles per retry.
    pub base_backoff: Duration,
    /// Largest retry delay; `Retry-After` is honoured up to [`RETRY_AFTER_CAP_FACTOR`] times it.
    pub max_backoff: Duration,
    /// Request starts per second (`None`: unlimited). Retries count.
    pub rate: Option<f64>,
}

impl Default for HttpSourceConfig {
    /// randomuser.me, politely: 1 request/s, 30 s timeout, 5 retries from 0.5 s up to 30 s.
    fn default() -> Self {
        Self {
            url: DEFAULT_URL.into(),
            name: DEFAULT_NAME.into(),
            nat: None,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_retries: 5,
            base_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(30),
            rate: Some(1.0),
        }
    }
}

/// What an [`HttpSource`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpSourceStats {
    /// HTTP requests sent (first attempts and retries).
    pub requests: u64,
    /// Retries (requests after a failed attempt of the same page).
    pub retries: u64,
    /// 429 responses.
    pub throttled: u64,
    /// Pages fetched successfully.
    pub pages: u64,
    /// Valid users returned.
    pub users: u64,
    /// Users rejected by validation.
    pub rejected: u64,
    /// Total delay chosen before retries (backoff or `Retry-After`), as asked of `sleep`.
    pub backoff: Duration,
    /// Total time the rate limiter held requests back.
    pub rate_wait: Duration,
}

/// A randomuser.me-compatible [`Source`] over blocking HTTP.
///
/// Uses `reqwest::blocking`: build, use and drop it outside an async runtime's worker threads
/// (a plain thread, or `spawn_blocking`).
#[derive(Debug)]
pub struct HttpSource {
    config: HttpSourceConfig,
    base: Url,
    client: Client,
    limiter: RateLimiter,
    stats: HttpSourceStats,
}

/// One attempt's outcome.
enum Attempt {
    Done(RawPage),
    Retry {
        detail: String,
        retry_after: Option<Duration>,
    },
    Fail(SourceError),
}

impl HttpSource {
    /// Checks the configuration and builds the HTTP client.
    pub fn new(config: HttpSourceConfig) -> Result<Self, SourceError> {
        let bad = |m: String| SourceError::Config(m);
        let base = Url::parse(&config.url)
            .map_err(|e| bad(format!("source url {:?}: {e}", config.url)))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(bad(format!(
                "source url {:?}: expected an http(s) URL with a host",
                config.url
            )));
        }
        if config.name.trim().is_empty() {
            return Err(bad("source name must not be empty".into()));
        }
        if config.nat.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(bad(
                "nat must not be empty (leave it unset for all nationalities)".into(),
            ));
        }
        if config.timeout.is_zero() || config.connect_timeout.is_zero() {
            return Err(bad("timeouts must be greater than zero".into()));
        }
        let limiter = RateLimiter::new(config.rate).map_err(bad)?;
        let client = Client::builder()
            .user_agent(concat!("eosflow/", env!("CARGO_PKG_VERSION")))
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| bad(format!("HTTP client: {}", error_chain(&e))))?;
        Ok(Self {
            config,
            base,
            client,
            limiter,
            stats: HttpSourceStats::default(),
        })
    }

    /// The configuration this source was built with.
    pub fn config(&self) -> &HttpSourceConfig {
        &self.config
    }

    /// Counters since the source was built.
    pub fn stats(&self) -> HttpSourceStats {
        self.stats
    }

    /// The URL fetched for `request`: the configured URL (its own query kept verbatim, minus any
    /// `results`/`seed`/`page`/`nat`) plus `results`, `seed`, `page` and `nat`, form-encoded.
    pub fn page_url(&self, request: &PageRequest) -> Url {
        let mut url = self.base.clone();
        url.set_fragment(None);
        let kept: Vec<String> = url
            .query()
            .unwrap_or_default()
            .split('&')
            .filter(|pair| {
                let key = pair.split('=').next().unwrap_or_default();
                !pair.is_empty() && !matches!(key, "results" | "seed" | "page" | "nat")
            })
            .map(str::to_owned)
            .collect();
        url.set_query((!kept.is_empty()).then(|| kept.join("&")).as_deref());
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("results", &request.size.to_string())
                .append_pair("seed", &request.seed)
                .append_pair("page", &request.page.to_string());
            if let Some(nat) = &self.config.nat {
                query.append_pair("nat", nat);
            }
        }
        url
    }

    fn attempt(&mut self, url: &Url, request: &PageRequest) -> Attempt {
        self.stats.rate_wait += self.limiter.wait();
        self.stats.requests += 1;
        let response = match self
            .client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
        {
            Ok(response) => response,
            // A redirect loop or an unbuildable request will not fix itself.
            Err(e) if e.is_redirect() || e.is_builder() => {
                return Attempt::Fail(SourceError::Fetch {
                    source_name: self.config.name.clone(),
                    seed: request.seed.clone(),
                    page: request.page,
                    detail: format!("GET {url}: {}", error_chain(&e)),
                })
            }
            Err(e) => {
                return Attempt::Retry {
                    detail: error_chain(&e),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let limit = if status.is_success() {
            MAX_BODY_BYTES
        } else {
            4 * ERROR_BODY_CHARS as u64
        };
        let body = match read_body(response, limit) {
            Ok(body) => body,
            Err(detail) => {
                return Attempt::Retry {
                    detail: format!("HTTP {status}, then {detail}"),
                    retry_after: None,
                }
            }
        };
        if status.is_success() {
            if body.len() as u64 > MAX_BODY_BYTES {
                return Attempt::Retry {
                    detail: format!("malformed page: body larger than {MAX_BODY_BYTES} bytes"),
                    retry_after: None,
                };
            }
            return match parse_page(&body) {
                Ok(page) => Attempt::Done(page),
                Err(problem) => Attempt::Retry {
                    detail: format!("malformed page (HTTP {status}): {problem}"),
                    retry_after: None,
                },
            };
        }
        let text = String::from_utf8_lossy(&body);
        let quoted = truncate_chars(text.trim(), ERROR_BODY_CHARS).to_owned();
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.stats.throttled += 1;
        }
        match status {
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => Attempt::Retry {
                detail: format!("HTTP {status}: {quoted:?}"),
                retry_after,
            },
            s if s.is_server_error() || s == StatusCode::REQUEST_TIMEOUT => Attempt::Retry {
                detail: format!("HTTP {status}: {quoted:?}"),
                retry_after: None,
            },
            s => Attempt::Fail(SourceError::Status {
                source_name: self.config.name.clone(),
                url: url.to_string(),
                status: s.as_u16(),
                body: quoted,
            }),
        }
    }

    /// The delay before retry `retry` (0-based) of `request`.
    fn delay(&self, request: &PageRequest, retry: u32, retry_after: Option<Duration>) -> Duration {
        match retry_after {
            Some(wait) => wait.min(retry_after_cap(self.config.max_backoff)),
            None => Backoff {
                base: self.config.base_backoff,
                max: self.config.max_backoff,
            }
            .delay(retry, jitter_key(&request.seed, request.page, retry)),
        }
    }

    /// Turns a parsed page into users and rejects, after checking it is the page asked for.
    fn assemble(
        &mut self,
        url: &Url,
        request: &PageRequest,
        raw: RawPage,
    ) -> Result<Page, SourceError> {
        let mut wrong = Vec::new();
        if raw.info.seed != request.seed {
            wrong.push(format!(
                "info.seed is {:?}, asked for {:?}",
                raw.info.seed, request.seed
            ));
        }
        if raw.info.page != request.page {
            wrong.push(format!(
                "info.page is {}, asked for {}",
                raw.info.page, request.page
            ));
        }
        if raw.info.results != u64::from(request.size) {
            wrong.push(format!(
                "info.results is {}, asked for {}",
                raw.info.results, request.size
            ));
        }
        if raw.results.len() as u64 != u64::from(request.size) {
            wrong.push(format!(
                "results holds {} users, asked for {}",
                raw.results.len(),
                request.size
            ));
        }
        if !wrong.is_empty() {
            return Err(SourceError::Mismatch {
                source_name: self.config.name.clone(),
                url: url.to_string(),
                seed: request.seed.clone(),
                page: request.page,
                detail: wrong.join("; "),
            });
        }
        let mut users = Vec::with_capacity(raw.results.len());
        let mut rejects = Vec::new();
        for (index, user) in (0u32..).zip(&raw.results) {
            let identity = SourceIdentity {
                source: self.config.name.clone(),
                seed: request.seed.clone(),
                page: request.page,
                index,
            };
            match format_user(user, &identity) {
                Ok(user) => users.push(user),
                Err(rejection) => {
                    warn!(user = %identity.canonical(), reason = %rejection.reason, "user rejected");
                    rejects.push(rejection);
                }
            }
        }
        self.stats.pages += 1;
        self.stats.users += users.len() as u64;
        self.stats.rejected += rejects.len() as u64;
        Ok(Page {
            request: request.clone(),
            users,
            rejects,
        })
    }
}

impl Source for HttpSource {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn fetch(&mut self, request: &PageRequest) -> Result<Page, SourceError> {
        request.validate(MAX_PAGE_SIZE, "randomuser's max results")?;
        let url = self.page_url(request);
        let attempts = self.config.max_retries.saturating_add(1);
        let mut last = String::new();
        for attempt in 0..attempts {
            match self.attempt(&url, request) {
                Attempt::Done(raw) => {
                    debug!(%url, attempt, "page fetched");
                    return self.assemble(&url, request, raw);
                }
                Attempt::Fail(e) => return Err(e),
                Attempt::Retry {
                    detail,
                    retry_after,
                } => {
                    if attempt + 1 < attempts {
                        let delay = self.delay(request, attempt, retry_after);
                        warn!(%url, attempt = attempt + 1, of = attempts, ?delay, problem = %detail, "retrying");
                        self.stats.backoff += delay;
                        self.stats.retries += 1;
                        std::thread::sleep(delay);
                    }
                    last = detail;
                }
            }
        }
        Err(SourceError::Exhausted {
            source_name: self.config.name.clone(),
            url: url.to_string(),
            seed: request.seed.clone(),
            page: request.page,
            attempts,
            last,
        })
    }
}

/// Reads at most `limit + 1` bytes of the body (one more than allowed reveals an oversize body).
fn read_body(response: Response, limit: u64) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    response
        .take(limit.saturating_add(1))
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the body failed: {}", error_chain(&e)))?;
    Ok(body)
}

/// An error and its causes, `a: b: c`, with the kind of a reqwest failure up front.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = String::new();
    if let Some(r) = e.downcast_ref::<reqwest::Error>() {
        if r.is_timeout() {
            text.push_str("timed out: ");
        } else if r.is_connect() {
            text.push_str("connection failed: ");
        }
    }
    text.push_str(&e.to_string());
    let mut cause = e.source();
    let mut depth = 0;
    while let (Some(c), true) = (cause, depth < 8) {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
        depth += 1;
    }
    text
}
