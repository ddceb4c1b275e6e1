//! Liveness and readiness of a running job, for `GET /healthz` and `GET /readyz` on the
//! metrics port (the Kubernetes probes of `deploy/kubernetes`).
//!
//! - live: the job's loop ran recently. `process` beats on every poll (it polls even when idle),
//!   `produce` on every chunk and while it waits for its next `--every` tick. A loop that has not
//!   run for [`STALE_AFTER`] is stuck (a hung client call): the pod should be restarted.
//! - ready: the job is past its start (connected, topics checked, schema registered, for
//!   `process` the group joined) and not stopping. Readiness never depends on holding partitions:
//!   a member of a group with more members than partitions is idle, not broken.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A loop silent for this long is reported stuck by `/healthz`.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

#[derive(Debug)]
struct Inner {
    started: Instant,
    /// Milliseconds since `started` of the last beat.
    beat_ms: AtomicU64,
    ready: AtomicBool,
}

/// Shared by the job (which beats and says when it is ready) and the HTTP endpoints.
#[derive(Debug, Clone)]
pub struct Health(Arc<Inner>);

impl Default for Health {
    fn default() -> Self {
        Health(Arc::new(Inner {
            started: Instant::now(),
            beat_ms: AtomicU64::new(0),
            ready: AtomicBool::new(false),
        }))
    }
}

impl Health {
    /// The job's loop is running.
    pub fn beat(&self) {
        let ms = self.0.started.elapsed().as_millis() as u64;
        self.0.beat_ms.store(ms, Ordering::Relaxed);
    }

    pub fn set_ready(&self, ready: bool) {
        self.0.ready.store(ready, Ordering::Relaxed);
        self.beat();
    }

    /// How long since the last beat.
    pub fn silent_for(&self) -> Duration {
        let now = self.0.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.0.beat_ms.load(Ordering::Relaxed)))
    }

    /// `Ok` while the loop beats; `Err` says for how long it has not.
    pub fn live(&self, stale_after: Duration) -> Result<(), String> {
        let silent = self.silent_for();
        if silent <= stale_after {
            Ok(())
        } else {
            Err(format!(
                "the job's loop has not run for {} s (more than {} s): it is stuck",
                silent.as_secs(),
                stale_after.as_secs()
            ))
        }
    }

    pub fn ready(&self) -> bool {
        self.0.ready.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_while_beating_ready_only_when_told() {
        let h = Health::default();
        assert!(!h.ready());
        assert!(h.live(Duration::from_secs(1)).is_ok());
        std::thread::sleep(Duration::from_millis(30));
        let e = h.live(Duration::from_millis(10)).expect_err("silent");
        assert!(e.contains("stuck"), "{e}");
        h.beat();
        assert!(h.live(Duration::from_millis(10)).is_ok());
        h.set_ready(true);
        assert!(h.ready());
        h.set_ready(false);
        assert!(!h.ready());
    }
}
