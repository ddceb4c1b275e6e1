//! Every metric eosflow exports, in one place: names (prefixed `eosflow_`), help, labels, types.
//! The jobs hold these handles and update them; nothing here does I/O.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Counter, CounterVec, Gauge, GaugeVec, Histogram, Registry, LATENCY_BUCKETS};

/// How often the processor asks librdkafka for statistics (its consumer lag source) when its
/// metrics are served.
pub const LAG_INTERVAL: Duration = Duration::from_secs(1);

/// `eosflow_build_info` and `eosflow_start_time_seconds`, exported by every job.
fn common(registry: &Registry, command: &str) {
    registry
        .gauge_vec(
            "eosflow_build_info",
            "Always 1; the labels name the eosflow version and the running command.",
            &["command", "version"],
        )
        .with(&[command, env!("CARGO_PKG_VERSION")])
        .set(1.0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    registry
        .gauge(
            "eosflow_start_time_seconds",
            "When the job started, in seconds since the Unix epoch.",
        )
        .set(now);
}

/// What `eosflow process` exports.
#[derive(Debug, Clone)]
pub struct ProcessMetrics {
    pub consumed: Counter,
    pub redelivered: Counter,
    pub rows: Counter,
    pub dead_letters: CounterVec,
    pub batches: Counter,
    pub batch_seconds: Histogram,
    pub lag: GaugeVec,
    pub rebalances: CounterVec,
    pub assigned: Gauge,
    /// librdkafka statistics interval for the lag gauges and the status page's partitions, which
    /// also asks the broker to describe the group (None: metrics nobody reads).
    pub lag_interval: Option<Duration>,
    /// `/healthz` and `/readyz`.
    pub health: super::health::Health,
    /// The status page.
    pub status: super::status::Status,
}

impl ProcessMetrics {
    pub fn new(registry: &Registry) -> Self {
        common(registry, "process");
        let r = registry;
        ProcessMetrics {
            consumed: r.counter(
                "eosflow_process_records_consumed_total",
                "Records polled from the topic (rows, dead letters and redeliveries).",
            ),
            redelivered: r.counter(
                "eosflow_process_records_redelivered_total",
                "Polled records already applied (below the stored offset), skipped.",
            ),
            rows: r.counter(
                "eosflow_process_rows_written_total",
                "Rows committed to the sink.",
            ),
            dead_letters: r.counter_vec(
                "eosflow_process_dead_letters_total",
                "Poison records sent to the dead-letter topic, by error class.",
                &["class"],
            ),
            batches: r.counter(
                "eosflow_process_batches_committed_total",
                "Sink transactions committed (rows and next offsets together).",
            ),
            batch_seconds: r.histogram(
                "eosflow_process_batch_commit_seconds",
                "Time to commit one batch to the sink: rows and offsets in one transaction, retries included.",
                LATENCY_BUCKETS,
            ),
            lag: r.gauge_vec(
                "eosflow_process_consumer_lag",
                "Records behind the end of each assigned partition (last stable offset, or high watermark, minus the consumer position), from librdkafka statistics.",
                &["topic", "partition"],
            ),
            rebalances: r.counter_vec(
                "eosflow_process_rebalances_total",
                "Group rebalance events seen by this member, by kind (assign, revoke).",
                &["kind"],
            ),
            assigned: r.gauge(
                "eosflow_process_assigned_partitions",
                "Partitions currently assigned to this member.",
            ),
            lag_interval: Some(LAG_INTERVAL),
            health: r.health().clone(),
            status: r.status().clone(),
        }
    }

    /// Metrics that no one reads (library callers without a server): no statistics requested.
    pub fn detached() -> Self {
        ProcessMetrics {
            lag_interval: None,
            ..ProcessMetrics::new(&Registry::new())
        }
    }
}

/// What `eosflow produce` exports.
#[derive(Debug, Clone)]
pub struct ProduceMetrics {
    pub users: Counter,
    pub replayed: Counter,
    pub rejects: Counter,
    pub pages: Counter,
    pub chunks: Counter,
    pub transactions: Counter,
    pub aborts: Counter,
    pub resends: Counter,
    pub commit_seconds: Histogram,
    /// `/healthz` and `/readyz`.
    pub health: super::health::Health,
    /// The status page.
    pub status: super::status::Status,
}

impl ProduceMetrics {
    pub fn new(registry: &Registry) -> Self {
        common(registry, "produce");
        let r = registry;
        ProduceMetrics {
            users: r.counter(
                "eosflow_produce_users_total",
                "New users written in committed chunks, valid and rejected (replays not counted).",
            ),
            replayed: r.counter(
                "eosflow_produce_users_replayed_total",
                "Users re-sent by the replay of the last recorded chunk on resume.",
            ),
            rejects: r.counter(
                "eosflow_produce_rejects_total",
                "Users that failed validation, written to the rejects topic.",
            ),
            pages: r.counter(
                "eosflow_produce_pages_total",
                "Pages fetched from the source.",
            ),
            chunks: r.counter(
                "eosflow_produce_chunks_total",
                "Chunks written: committed transactions, or acknowledged chunks with idempotent delivery.",
            ),
            transactions: r.counter(
                "eosflow_produce_transactions_committed_total",
                "Kafka transactions committed (0 with idempotent delivery).",
            ),
            aborts: r.counter(
                "eosflow_produce_transaction_aborts_total",
                "Kafka transactions aborted (the chunk is then sent again).",
            ),
            resends: r.counter(
                "eosflow_produce_chunk_retries_total",
                "Chunks sent again after a failed attempt.",
            ),
            commit_seconds: r.histogram(
                "eosflow_produce_transaction_commit_seconds",
                "Time of the successful commit_transaction call of each committed transaction.",
                LATENCY_BUCKETS,
            ),
            health: r.health().clone(),
            status: r.status().clone(),
        }
    }

    pub fn detached() -> Self {
        ProduceMetrics::new(&Registry::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{valid_label_name, valid_metric_name};

    /// Every line of a registry holding both jobs' metrics is well formed, names are unique and
    /// prefixed, and counters end in `_total`.
    #[test]
    fn the_catalogue_is_well_formed() {
        let process = Registry::new();
        let m = ProcessMetrics::new(&process);
        m.dead_letters.with(&["bad-magic"]).inc();
        m.lag.with(&["users", "0"]).set(3.0);
        m.rebalances.with(&["assign"]).inc();
        let produce = Registry::new();
        ProduceMetrics::new(&produce);
        for text in [process.encode(), produce.encode()] {
            let mut names = std::collections::BTreeSet::new();
            for line in text.lines() {
                if let Some(rest) = line.strip_prefix("# TYPE ") {
                    let (name, kind) = rest.split_once(' ').expect("name and kind");
                    assert!(names.insert(name.to_string()), "{name} twice");
                    assert!(name.starts_with("eosflow_") && valid_metric_name(name));
                    assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
                } else if !line.starts_with("# HELP ") {
                    let name = line.split(['{', ' ']).next().unwrap_or_default();
                    assert!(valid_metric_name(name), "{line}");
                    if let Some(labels) = line.split_once('{').map(|(_, l)| l) {
                        for pair in labels.split(',') {
                            let label = pair.split('=').next().unwrap_or_default();
                            assert!(valid_label_name(label), "{line}");
                        }
                    }
                }
            }
        }
        let text = process.encode();
        assert!(text.contains(&format!(
            "eosflow_build_info{{command=\"process\",version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(text.contains("eosflow_process_batch_commit_seconds_bucket{le=\"+Inf\"} 0\n"));
    }
}
