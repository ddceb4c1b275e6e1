//! What the bench measured: one [`Figure`] per row, printed as a table and, with `--json`,
//! written machine-readable.

use serde::Serialize;

/// One measured row.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    /// What ran, e.g. `process -> sqlite` or `ceiling: raw read_committed consumer`.
    pub row: String,
    pub records: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// The ceiling row this one is compared with, and the ratio `per_second / ceiling`.
    pub against: Option<String>,
    pub ratio: Option<f64>,
    /// Of the child process that ran the row (eosflow rows only).
    pub peak_rss_mb: Option<f64>,
    pub cpu_seconds_per_million: Option<f64>,
}

impl Figure {
    pub fn new(row: impl Into<String>, records: u64, seconds: f64) -> Self {
        Figure {
            row: row.into(),
            records,
            seconds,
            per_second: records as f64 / seconds.max(1e-9),
            against: None,
            ratio: None,
            peak_rss_mb: None,
            cpu_seconds_per_million: None,
        }
    }

    /// Compare with a ceiling row.
    pub fn against(mut self, ceiling: &Figure) -> Self {
        self.ratio = Some(self.per_second / ceiling.per_second.max(1e-9));
        self.against = Some(ceiling.row.clone());
        self
    }
}

/// End-to-end latency: a record's first sight by a `read_committed` observer (its transaction
/// committed) to the sink commit that holds its offset.
#[derive(Debug, Clone, Serialize)]
pub struct LatencyFigure {
    pub sink: String,
    pub target_users_per_second: u64,
    pub seconds: f64,
    pub records: usize,
    /// Records the observer saw that no sink commit covered by the end (must be 0).
    pub never_committed: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Report {
    pub broker: String,
    pub cores: usize,
    pub figures: Vec<Figure>,
    /// What `process` does per record: unframe, decode through the plan, validate.
    pub decode_ns_per_user: Option<f64>,
    /// Decoding alone (framing off, writer known): through the compiled plan, and through
    /// apache-avro's `Value` tree and the projection (the decoder before the plan).
    pub plan_decode_ns_per_user: Option<f64>,
    pub tree_decode_ns_per_user: Option<f64>,
    pub latency: Option<LatencyFigure>,
    /// Per sink (`--full`): how the cost per record grows from the default run to 10x the
    /// records.
    pub cost_growth: Vec<CostGrowth>,
}

/// The cost per record of a sink's 10x runs against its default ones, in percent.
#[derive(Debug, Clone, Serialize)]
pub struct CostGrowth {
    pub sink: String,
    /// `process`'s CPU seconds per record.
    pub process_cpu_percent: f64,
    /// The sink's raw writer's wall time per row (the database's own growth).
    pub raw_writer_time_percent: f64,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "broker {}, {} cores", self.broker, self.cores)?;
        writeln!(
            f,
            "{:<52} {:>9} {:>8} {:>10} {:>6}  {:>8} {:>9}  against",
            "row", "records", "seconds", "per s", "ratio", "RSS MB", "CPU s/M"
        )?;
        let opt =
            |v: Option<f64>, digits: usize| v.map_or("-".to_string(), |v| format!("{v:.digits$}"));
        for r in &self.figures {
            writeln!(
                f,
                "{:<52} {:>9} {:>8.2} {:>10.0} {:>6}  {:>8} {:>9}  {}",
                r.row,
                r.records,
                r.seconds,
                r.per_second,
                opt(r.ratio, 2),
                opt(r.peak_rss_mb, 1),
                opt(r.cpu_seconds_per_million, 2),
                r.against.as_deref().unwrap_or("")
            )?;
        }
        if let Some(ns) = self.decode_ns_per_user {
            writeln!(
                f,
                "decode + validate one user (as process does): {ns:.0} ns"
            )?;
        }
        if let (Some(plan), Some(tree)) =
            (self.plan_decode_ns_per_user, self.tree_decode_ns_per_user)
        {
            writeln!(f, "decode one user alone: {plan:.0} ns through the plan, {tree:.0} ns through the Value tree")?;
        }
        if let Some(l) = &self.latency {
            writeln!(
                f,
                "latency into {} at {} users/s for {:.0} s: {} records, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms, {} never committed",
                l.sink, l.target_users_per_second, l.seconds, l.records, l.p50_ms, l.p99_ms, l.max_ms, l.never_committed
            )?;
        }
        for g in &self.cost_growth {
            writeln!(
                f,
                "cost per record, 10x records against the default run, {}: process CPU {:+.1} %, raw writer time {:+.1} %",
                g.sink, g.process_cpu_percent, g.raw_writer_time_percent
            )?;
        }
        Ok(())
    }
}

/// The `q` quantile (0..=1) of sorted values.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_quantiles() {
        let ceiling = Figure::new("ceiling", 1000, 1.0);
        let row = Figure::new("row", 900, 1.0).against(&ceiling);
        assert_eq!(row.ratio.map(|r| (r * 100.0).round()), Some(90.0));
        assert_eq!(row.against.as_deref(), Some("ceiling"));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 51.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&[], 0.5), 0.0);
        let text = Report {
            figures: vec![row],
            ..Report::default()
        }
        .to_string();
        assert!(text.contains("0.90"), "{text}");
    }
}
