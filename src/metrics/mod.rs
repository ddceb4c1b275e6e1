//! Prometheus metrics, sans-I/O: a small registry of counters, gauges and fixed-bucket histograms
//! updated with atomics, and the text exposition format (version 0.0.4) it encodes to.
//!
//! | file | what lives there |
//! |---|---|
//! | `mod.rs` | the registry, the metric handles, the text encoder |
//! | [`catalog`] | every metric eosflow exports: names, help, labels ([`ProcessMetrics`], [`ProduceMetrics`]) |
//! | [`health`] | liveness and readiness of the running job (`/healthz`, `/readyz`) |
//! | [`status`] | the live status behind the status page: partitions, throughput, dead letters, producer, group, config |
//! | [`serve`] | the adapter: `GET /metrics`, `/healthz`, `/readyz`, the status page `/` and `/status.json` over HTTP (axum) for as long as a job runs |
//!
//! Handles are cheap clones of shared atomics: the jobs update them on their own threads without
//! locks (labelled families lock only to find or create a series), and a scrape reads them. A
//! family is exported in registration order, its series sorted by label values.

pub mod catalog;
pub mod health;
pub mod serve;
pub mod status;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use catalog::{ProcessMetrics, ProduceMetrics};
pub use serve::{serve_while, MetricsServer, MetricsServerError};

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Latency buckets in seconds, 1 ms to 10 s (a sink or Kafka transaction).
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The kind of a metric family, as the `# TYPE` line names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A monotonically increasing count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down (stored as f64 bits).
#[derive(Debug, Clone, Default)]
pub struct Gauge(Arc<AtomicU64>);

impl Gauge {
    pub fn set(&self, value: f64) {
        self.0.store(value.to_bits(), Ordering::Relaxed);
    }

    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

/// Observations counted into fixed buckets (upper bounds, inclusive), with their sum.
#[derive(Debug, Clone)]
pub struct Histogram(Arc<HistogramCore>);

#[derive(Debug)]
struct HistogramCore {
    bounds: Vec<f64>,
    /// Per bucket (not cumulative), plus one for values above the last bound.
    counts: Vec<AtomicU64>,
    /// f64 bits.
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &[f64]) -> Self {
        let mut bounds: Vec<f64> = bounds.iter().copied().filter(|b| b.is_finite()).collect();
        bounds.sort_by(f64::total_cmp);
        bounds.dedup();
        let counts = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        Histogram(Arc::new(HistogramCore {
            bounds,
            counts,
            sum: AtomicU64::new(0f64.to_bits()),
        }))
    }

    pub fn observe(&self, value: f64) {
        let core = &self.0;
        let slot = core
            .bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(core.bounds.len());
        if let Some(count) = core.counts.get(slot) {
            count.fetch_add(1, Ordering::Relaxed);
        }
        let mut current = core.sum.load(Ordering::Relaxed);
        loop {
            let next = (f64::from_bits(current) + value).to_bits();
            match core.sum.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(seen) => current = seen,
            }
        }
    }

    pub fn observe_duration(&self, d: Duration) {
        self.observe(d.as_secs_f64());
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.0
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    pub fn sum(&self) -> f64 {
        f64::from_bits(self.0.sum.load(Ordering::Relaxed))
    }
}

/// One time series of a family.
#[derive(Debug, Clone)]
enum Series {
    Counter(Counter),
    Gauge(Gauge),
    Histogram(Histogram),
}

/// Series of one family, keyed by their label values (in the family's label order).
type SeriesMap = Arc<Mutex<BTreeMap<Vec<String>, Series>>>;

#[derive(Debug)]
struct Family {
    name: &'static str,
    help: &'static str,
    kind: Kind,
    labels: &'static [&'static str],
    series: SeriesMap,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Metric state stays meaningful after a panic elsewhere: keep using it.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A counter family with labels; [`CounterVec::with`] finds or creates one series.
#[derive(Debug, Clone)]
pub struct CounterVec {
    arity: usize,
    series: SeriesMap,
}

impl CounterVec {
    /// The series for these label values (one per label name, in order).
    pub fn with(&self, values: &[&str]) -> Counter {
        debug_assert_eq!(values.len(), self.arity, "label values");
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut series = locked(&self.series);
        match series
            .entry(key)
            .or_insert_with(|| Series::Counter(Counter::default()))
        {
            Series::Counter(c) => c.clone(),
            _ => Counter::default(),
        }
    }
}

/// A gauge family with labels; series come and go (a revoked partition's lag is removed).
#[derive(Debug, Clone)]
pub struct GaugeVec {
    arity: usize,
    series: SeriesMap,
}

impl GaugeVec {
    pub fn with(&self, values: &[&str]) -> Gauge {
        debug_assert_eq!(values.len(), self.arity, "label values");
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        let mut series = locked(&self.series);
        match series
            .entry(key)
            .or_insert_with(|| Series::Gauge(Gauge::default()))
        {
            Series::Gauge(g) => g.clone(),
            _ => Gauge::default(),
        }
    }

    pub fn remove(&self, values: &[&str]) {
        let key: Vec<String> = values.iter().map(|v| v.to_string()).collect();
        locked(&self.series).remove(&key);
    }
}

/// The set of metric families one process exports.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    families: Arc<Mutex<Vec<Family>>>,
    health: health::Health,
    status: status::Status,
}

impl Registry {
    pub fn new() -> Self {
        Registry::default()
    }

    /// The liveness and readiness of the job this registry belongs to.
    pub fn health(&self) -> &health::Health {
        &self.health
    }

    /// The live status of the job this registry belongs to (the status page).
    pub fn status(&self) -> &status::Status {
        &self.status
    }

    fn register(
        &self,
        name: &'static str,
        help: &'static str,
        kind: Kind,
        labels: &'static [&'static str],
        first: Option<Series>,
    ) -> SeriesMap {
        debug_assert!(valid_metric_name(name), "metric name {name:?}");
        debug_assert!(
            labels.iter().all(|l| valid_label_name(l)),
            "labels {labels:?}"
        );
        let series: SeriesMap = Arc::new(Mutex::new(BTreeMap::new()));
        if let Some(first) = first {
            locked(&series).insert(Vec::new(), first);
        }
        let mut families = locked(&self.families);
        debug_assert!(
            families.iter().all(|f| f.name != name),
            "metric {name} registered twice"
        );
        families.push(Family {
            name,
            help,
            kind,
            labels,
            series: series.clone(),
        });
        series
    }

    pub fn counter(&self, name: &'static str, help: &'static str) -> Counter {
        let c = Counter::default();
        self.register(
            name,
            help,
            Kind::Counter,
            &[],
            Some(Series::Counter(c.clone())),
        );
        c
    }

    pub fn gauge(&self, name: &'static str, help: &'static str) -> Gauge {
        let g = Gauge::default();
        self.register(name, help, Kind::Gauge, &[], Some(Series::Gauge(g.clone())));
        g
    }

    /// A histogram with these bucket upper bounds (`+Inf` is implied).
    pub fn histogram(&self, name: &'static str, help: &'static str, buckets: &[f64]) -> Histogram {
        let h = Histogram::new(buckets);
        let first = Some(Series::Histogram(h.clone()));
        self.register(name, help, Kind::Histogram, &[], first);
        h
    }

    pub fn counter_vec(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> CounterVec {
        let series = self.register(name, help, Kind::Counter, labels, None);
        CounterVec {
            arity: labels.len(),
            series,
        }
    }

    pub fn gauge_vec(
        &self,
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> GaugeVec {
        let series = self.register(name, help, Kind::Gauge, labels, None);
        GaugeVec {
            arity: labels.len(),
            series,
        }
    }

    /// Every family in the text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for family in locked(&self.families).iter() {
            encode_family(&mut out, family);
        }
        out
    }
}

fn encode_family(out: &mut String, family: &Family) {
    let name = family.name;
    let _ = writeln!(out, "# HELP {name} {}", escape_help(family.help));
    let _ = writeln!(out, "# TYPE {name} {}", family.kind.as_str());
    for (values, series) in locked(&family.series).iter() {
        let labels: Vec<(&str, String)> = family
            .labels
            .iter()
            .copied()
            .zip(values.iter().cloned())
            .collect();
        match series {
            Series::Counter(c) => sample(out, name, "", &labels, &c.get().to_string()),
            Series::Gauge(g) => sample(out, name, "", &labels, &number(g.get())),
            Series::Histogram(h) => {
                let core = &h.0;
                let mut cumulative = 0u64;
                for (i, count) in core.counts.iter().enumerate() {
                    cumulative += count.load(Ordering::Relaxed);
                    let le = core
                        .bounds
                        .get(i)
                        .map_or("+Inf".to_string(), |&b| number(b));
                    let mut with_le = labels.clone();
                    with_le.push(("le", le));
                    sample(out, name, "_bucket", &with_le, &cumulative.to_string());
                }
                sample(out, name, "_sum", &labels, &number(h.sum()));
                sample(out, name, "_count", &labels, &cumulative.to_string());
            }
        }
    }
}

fn sample(out: &mut String, name: &str, suffix: &str, labels: &[(&str, String)], value: &str) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        for (i, (label, v)) in labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{label}=\"{}\"", escape_label_value(v));
        }
        out.push('}');
    }
    out.push(' ');
    out.push_str(value);
    out.push('\n');
}

/// A sample value or bucket bound: integers without a fraction, `+Inf`, `-Inf`, `NaN`.
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// `# HELP` text: backslash and newline escaped.
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A label value: backslash, double quote and newline escaped.
pub fn escape_label_value(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn valid_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
pub fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_exactly() {
        let r = Registry::new();
        let c = r.counter("eosflow_things_total", "Things done.");
        c.inc();
        c.add(41);
        assert_eq!(
            r.encode(),
            "# HELP eosflow_things_total Things done.\n\
             # TYPE eosflow_things_total counter\n\
             eosflow_things_total 42\n"
        );
    }

    #[test]
    fn a_labelled_gauge_exactly_with_escaping_and_sorted_series() {
        let r = Registry::new();
        let g = r.gauge_vec(
            "eosflow_lag",
            "Lag per partition.\nSecond line \\ backslash.",
            &["topic", "partition"],
        );
        g.with(&["users", "1"]).set(7.0);
        g.with(&["users", "0"]).set(0.5);
        g.with(&["we\"ird\\to\npic", "0"]).set(-3.0);
        g.with(&["gone", "9"]).set(1.0);
        g.remove(&["gone", "9"]);
        assert_eq!(
            r.encode(),
            "# HELP eosflow_lag Lag per partition.\\nSecond line \\\\ backslash.\n\
             # TYPE eosflow_lag gauge\n\
             eosflow_lag{topic=\"users\",partition=\"0\"} 0.5\n\
             eosflow_lag{topic=\"users\",partition=\"1\"} 7\n\
             eosflow_lag{topic=\"we\\\"ird\\\\to\\npic\",partition=\"0\"} -3\n"
        );
    }

    #[test]
    fn a_histogram_exactly() {
        let r = Registry::new();
        let h = r.histogram(
            "eosflow_commit_seconds",
            "Commit latency.",
            &[0.125, 1.0, 0.5],
        );
        // Binary fractions: the sum is exact.
        for v in [0.0625, 0.125, 0.25, 0.75, 2.0] {
            h.observe(v);
        }
        assert_eq!(h.count(), 5);
        assert_eq!(
            r.encode(),
            "# HELP eosflow_commit_seconds Commit latency.\n\
             # TYPE eosflow_commit_seconds histogram\n\
             eosflow_commit_seconds_bucket{le=\"0.125\"} 2\n\
             eosflow_commit_seconds_bucket{le=\"0.5\"} 3\n\
             eosflow_commit_seconds_bucket{le=\"1\"} 4\n\
             eosflow_commit_seconds_bucket{le=\"+Inf\"} 5\n\
             eosflow_commit_seconds_sum 3.1875\n\
             eosflow_commit_seconds_count 5\n"
        );
    }

    #[test]
    fn families_in_registration_order_labelled_counters_and_empty_families() {
        let r = Registry::new();
        let letters = r.counter_vec("b_total", "B.", &["class"]);
        r.gauge("a", "A.").set(1.0);
        r.counter_vec("c_total", "C.", &["kind"]);
        letters.with(&["bad-magic"]).inc();
        letters.with(&["bad-magic"]).inc();
        letters.with(&["empty-value"]).inc();
        assert_eq!(
            r.encode(),
            "# HELP b_total B.\n# TYPE b_total counter\n\
             b_total{class=\"bad-magic\"} 2\nb_total{class=\"empty-value\"} 1\n\
             # HELP a A.\n# TYPE a gauge\na 1\n\
             # HELP c_total C.\n# TYPE c_total counter\n"
        );
    }

    #[test]
    fn numbers_and_names() {
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(0.0025), "0.0025");
        assert_eq!(number(1_700_000_000.25), "1700000000.25");
        assert!(valid_metric_name("eosflow_x:y_total") && !valid_metric_name("1x"));
        assert!(!valid_metric_name("a-b") && !valid_metric_name(""));
        assert!(valid_label_name("le") && !valid_label_name("__name") && !valid_label_name("a:b"));
    }

    #[test]
    fn histogram_sum_survives_concurrent_observers() {
        let h = Histogram::new(LATENCY_BUCKETS);
        std::thread::scope(|s| {
            for _ in 0..4 {
                let h = h.clone();
                s.spawn(move || (0..1000).for_each(|_| h.observe(0.5)));
            }
        });
        assert_eq!((h.count(), h.sum()), (4000, 2000.0));
    }
}
