//! Retry and pacing policy for network sources, as pure functions so tests can pin them.
//!
//! - [`Backoff`]: exponential backoff with *full jitter* (AWS's recommendation): the delay before
//!   retry `n` (0-based) is uniform in `[0, min(max, base · 2ⁿ)]`. The "random" draw is a pure
//!   function of a [`jitter_key`] (seed, page, attempt), so a run is reproducible; different pages
//!   still spread out, which is all jitter is for.
//! - [`parse_retry_after`]: the delta-seconds form of `Retry-After` (the HTTP-date form is ignored
//!   and the normal backoff applies). Callers cap it with [`retry_after_cap`].
//! - [`RateLimiter`]: at most `rate` request starts per second, spaced by `1/rate` (a token bucket
//!   of depth one). The first request never waits.

use std::time::{Duration, Instant};

/// A server-sent `Retry-After` is honoured up to this many times the configured maximum backoff:
/// the server knows better than our schedule, but a stray `Retry-After: 86400` must not park a
/// producer for a day.
pub const RETRY_AFTER_CAP_FACTOR: u32 = 4;

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The ceiling of the first retry's delay.
    pub base: Duration,
    /// The largest ceiling (and so the largest delay).
    pub max: Duration,
}

impl Backoff {
    /// The delay ceiling before retry `retry` (0-based): `min(max, base · 2^retry)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        self.base
            .saturating_mul(2u32.saturating_pow(retry))
            .min(self.max)
    }

    /// The delay before retry `retry`: uniform in `[0, ceiling(retry)]`, drawn from `key`.
    pub fn delay(&self, retry: u32, key: u64) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        // Multiply-high: `key / 2^64` is a fraction in [0, 1); the product fits a u128.
        let nanos = (u128::from(key) * (u128::from(ceiling) + 1)) >> 64;
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

/// The largest `Retry-After` honoured: [`RETRY_AFTER_CAP_FACTOR`] × `max_backoff`.
pub fn retry_after_cap(max_backoff: Duration) -> Duration {
    max_backoff.saturating_mul(RETRY_AFTER_CAP_FACTOR)
}

/// The jitter draw for `attempt` of `(seed, page)`: FNV-1a 64 of the seed, mixed with the page
/// and the attempt through the SplitMix64 finalizer. Pure and stable.
pub fn jitter_key(seed: &str, page: u64, attempt: u32) -> u64 {
    let seed_hash = seed.bytes().fold(0xCBF2_9CE4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3)
    });
    let page_state = mix64(seed_hash ^ mix64(page ^ 0x9E37_79B9_7F4A_7C15));
    mix64(page_state ^ mix64(u64::from(attempt) ^ 0xD6E8_FEB8_6659_FD93))
}

/// The SplitMix64 finalizer.
const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The delta-seconds form of a `Retry-After` value (`"120"`); `None` for anything else
/// (including the HTTP-date form).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || value.len() > 12 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse::<u64>().ok().map(Duration::from_secs)
}

/// Spaces request starts by `1/rate` seconds.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    interval: Option<Duration>,
    next: Option<Instant>,
}

impl RateLimiter {
    /// `None` means unlimited; otherwise `rate` must be a positive, finite number of requests
    /// per second whose interval fits a [`Duration`].
    pub fn new(rate: Option<f64>) -> Result<Self, String> {
        let interval = match rate {
            None => None,
            Some(r) if r.is_finite() && r > 0.0 => Some(
                Duration::try_from_secs_f64(1.0 / r)
                    .map_err(|e| format!("rate {r} requests/s is too small: {e}"))?,
            ),
            Some(r) => {
                return Err(format!(
                    "rate must be a positive number of requests/s, got {r}"
                ))
            }
        };
        Ok(Self {
            interval,
            next: None,
        })
    }

    /// The spacing between request starts (`None`: unlimited).
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Reserves the next request slot at or after `now` and returns how long to wait for it.
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let Some(interval) = self.interval else {
            return Duration::ZERO;
        };
        let start = match self.next {
            Some(next) if next > now => next,
            _ => now,
        };
        // An interval too large to add leaves the limiter at `start`, i.e. still limited.
        self.next = Some(start.checked_add(interval).unwrap_or(start));
        start.saturating_duration_since(now)
    }

    /// Reserves the next slot and sleeps until it; returns the time slept.
    pub fn wait(&mut self) -> Duration {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_doubles_and_caps() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        let ceilings: Vec<u128> = (0..6).map(|n| b.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn full_jitter_stays_within_the_ceiling_and_is_deterministic() {
        let b = Backoff {
            base: Duration::from_millis(50),
            max: Duration::from_secs(2),
        };
        assert_eq!(b.delay(3, 0), Duration::ZERO);
        assert_eq!(b.delay(3, u64::MAX), b.ceiling(3));
        let mut distinct = std::collections::HashSet::new();
        for page in 1..200 {
            for attempt in 0..5 {
                let key = jitter_key("seed", page, attempt);
                assert_eq!(key, jitter_key("seed", page, attempt));
                let d = b.delay(attempt, key);
                assert!(d <= b.ceiling(attempt));
                distinct.insert(d);
            }
        }
        assert!(
            distinct.len() > 900,
            "jitter should spread: {}",
            distinct.len()
        );
        assert_ne!(jitter_key("a", 1, 0), jitter_key("b", 1, 0));
        assert_ne!(jitter_key("a", 1, 0), jitter_key("a", 2, 0));
        assert_ne!(jitter_key("a", 1, 0), jitter_key("a", 1, 1));
    }

    #[test]
    fn retry_after_seconds_only() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after("0"), Some(Duration::ZERO));
        for bad in [
            "",
            "-1",
            "1.5",
            "Wed, 21 Oct 2015 07:28:00 GMT",
            "99999999999999",
        ] {
            assert_eq!(parse_retry_after(bad), None, "{bad}");
        }
        assert_eq!(
            retry_after_cap(Duration::from_millis(250)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn limiter_spaces_request_starts() {
        let mut l = RateLimiter::new(Some(10.0)).expect("valid rate");
        let t0 = Instant::now();
        let step = Duration::from_millis(100);
        assert_eq!(l.reserve(t0), Duration::ZERO);
        assert_eq!(l.reserve(t0), step);
        assert_eq!(l.reserve(t0), step * 2);
        // Time passing frees the slots up again; an idle limiter never makes up for lost time.
        assert_eq!(l.reserve(t0 + step * 10), Duration::ZERO);
        assert_eq!(l.reserve(t0 + step * 10 + step / 2), step / 2);
        let mut unlimited = RateLimiter::new(None).expect("valid");
        assert_eq!(unlimited.reserve(t0), Duration::ZERO);
        assert_eq!(unlimited.reserve(t0), Duration::ZERO);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e-300] {
            assert!(RateLimiter::new(Some(bad)).is_err(), "{bad}");
        }
    }
}
