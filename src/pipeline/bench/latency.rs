//! Produce-commit → sink-commit latency, measured from outside both processes: a
//! `read_committed` observer ([`Observer`]) notes when each record first becomes visible (its transaction
//! committed), and a poller of the sink's stored offsets (every 10 ms) notes when a sink commit
//! first covers it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::table::{quantile, LatencyFigure};
use crate::kafka::raw::{Observer, Sightings};
use crate::kafka::KafkaSettings;
use crate::pipeline::PipelineError;
use crate::sink::SinkUrl;

/// The two watchers, running until [`Watch::finish`].
pub struct Watch {
    observer: Observer,
    stop: Arc<AtomicBool>,
    stored: JoinHandle<Sightings>,
    started: Instant,
}

impl Watch {
    /// Start watching `topic` (it must exist) and the offsets `group` stores in `sink`.
    pub fn start(
        kafka: &KafkaSettings,
        topic: &str,
        sink: &SinkUrl,
        group: &str,
        timeout: Duration,
    ) -> Result<Watch, PipelineError> {
        let observer = Observer::start(kafka, topic, timeout)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let (sink, group, topic) = (sink.clone(), group.to_string(), topic.to_string());
        let stored = std::thread::spawn(move || {
            let mut stored = Vec::new();
            let mut last: BTreeMap<i32, i64> = BTreeMap::new();
            let mut open = None;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(10));
                // The processor creates the tables; until then there is nothing to read.
                if open.is_none() {
                    open = sink.open().ok();
                }
                let Some(s) = open.as_mut() else { continue };
                let Ok(offsets) = s.load_offsets(&group, &topic) else {
                    continue;
                };
                let now = Instant::now();
                for (p, next) in offsets {
                    if last.get(&p).is_none_or(|n| *n < next) {
                        last.insert(p, next);
                        stored.push((p, next, now));
                    }
                }
            }
            stored
        });
        Ok(Watch {
            observer,
            stop,
            stored,
            started: Instant::now(),
        })
    }

    /// Stop both watchers and match each seen record with the first sink commit covering it.
    pub fn finish(self, sink: String, target: u64) -> Result<LatencyFigure, PipelineError> {
        self.stop.store(true, Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        let seen = self.observer.finish()?;
        let stored = self
            .stored
            .join()
            .map_err(|_| PipelineError::Other("bench: the sink offset poller panicked".into()))?;
        let mut commits: BTreeMap<i32, Vec<(i64, Instant)>> = BTreeMap::new();
        for (p, next, at) in stored {
            commits.entry(p).or_default().push((next, at));
        }
        let mut latencies = Vec::with_capacity(seen.len());
        let mut never_committed = 0;
        for (p, offset, visible) in &seen {
            let covering = commits.get(p).and_then(|c| {
                let i = c.partition_point(|(next, _)| *next <= *offset);
                c.get(i)
            });
            match covering {
                Some((_, at)) => {
                    latencies.push(at.saturating_duration_since(*visible).as_secs_f64() * 1e3)
                }
                None => never_committed += 1,
            }
        }
        latencies.sort_by(f64::total_cmp);
        Ok(LatencyFigure {
            sink,
            target_users_per_second: target,
            seconds,
            records: seen.len(),
            never_committed,
            p50_ms: quantile(&latencies, 0.5),
            p99_ms: quantile(&latencies, 0.99),
            max_ms: latencies.last().copied().unwrap_or(0.0),
        })
    }
}
