//! The bench's longer rows: latency with produce paced beside process, and (`--full`) the
//! process row at 10× the records and with 2 and 3 members of one group.

use super::child::{self, ChildRun};
use super::latency::Watch;
use super::table::{CostGrowth, Figure, LatencyFigure, Report};
use super::{figure, Run, BENCH_SEED, LATENCY_RATE, PARTITIONS};
use crate::kafka::admin::ensure_topic;
use crate::pipeline::PipelineError;
use crate::sink::{Row, SinkUrl};
use crate::source::generator::{Generator, MAX_PAGE_SIZE};
use crate::source::{PageRequest, Source};

impl Run<'_> {
    /// Produce at [`LATENCY_RATE`] (1,000-user transactions every 100 ms) for 10 s (60 s with
    /// `--full`) while `process` runs into `url`.
    pub(super) fn latency(&self, url: &str, label: &str) -> Result<LatencyFigure, PipelineError> {
        let topic = format!("{}_latency", self.name);
        ensure_topic(&self.kafka, &topic, PARTITIONS, &[], self.timeout)?;
        let (table, group) = ("bench_latency", format!("{}_latency", self.name));
        let sink = SinkUrl::parse(url, table)?;
        sink.emptied()?;
        let watch = Watch::start(&self.kafka, &topic, &sink, &group, self.timeout)?;
        let seconds = if self.opts.full { 60 } else { 10 };
        tracing::info!(seconds, sink = label, "bench: latency");
        let mut args = self.args("produce", &topic);
        args.extend(
            [
                "--seed",
                "latency",
                "--page-size",
                "1000",
                "--every",
                "100ms",
                "--for",
                &format!("{seconds}s"),
                "--transactional-id",
                &format!("{topic}-producer"),
            ]
            .map(String::from),
        );
        let producer = child::spawn(&args, &[], &self.dir, "latency produce")?;
        let args = self.process_args(&topic, table, &group, "5s");
        let processor = child::spawn(
            &args,
            &[("EOSFLOW_SINK", url)],
            &self.dir,
            "latency process",
        )?;
        let produced = producer.wait();
        let processed = processor.wait();
        let figure = watch.finish(label.to_string(), LATENCY_RATE)?;
        produced?;
        processed?;
        Ok(figure)
    }

    /// The 10x topic (`--full`): the same seed as the default topic, 10x the users; and its
    /// rows, generated again for the sinks' raw writers.
    pub(super) fn produce_large(&self) -> Result<(String, Vec<Row>), PipelineError> {
        let large = format!("{}_large", self.name);
        let (n, size) = (self.opts.records * 10, MAX_PAGE_SIZE);
        self.produce(&large, n, size)?;
        let mut source = Generator::new();
        let mut rows = Vec::with_capacity(usize::try_from(n).unwrap_or(0));
        for page in 1..=n.div_ceil(u64::from(size)) {
            let request = PageRequest {
                seed: BENCH_SEED.into(),
                page,
                size,
            };
            let users = source.fetch(&request)?.users;
            rows.extend(users.into_iter().map(Row::new));
        }
        rows.truncate(usize::try_from(n).unwrap_or(usize::MAX));
        Ok((large, rows))
    }

    /// 10× the records through the same sink, beside its raw writer at 10x the rows (how much
    /// of any growth in cost per record is the database's own), then 2 and 3 members sharing
    /// the default topic's 6 partitions.
    pub(super) fn scale(
        &self,
        report: &mut Report,
        (url, label): (&str, &str),
        (topic, base, base_ceiling): (&str, &Figure, &Figure),
        (large, large_rows): (&str, &[Row]),
    ) -> Result<(), PipelineError> {
        let big = self.process(large, url, label, " (10x records)")?;
        let raw = SinkUrl::parse(url, "bench_raw")?;
        let took = raw.ceiling(large_rows, self.opts.batch_max)?;
        let ceiling = Figure::new(
            format!("ceiling: raw {label} writer, 10x rows"),
            large_rows.len() as u64,
            took.as_secs_f64(),
        );
        if let (Some(b), Some(l)) = (base.cpu_seconds_per_million, big.cpu_seconds_per_million) {
            let per_row = |f: &Figure| f.seconds / f.records.max(1) as f64;
            report.cost_growth.push(CostGrowth {
                sink: label.to_string(),
                process_cpu_percent: (l / b.max(1e-9) - 1.0) * 100.0,
                raw_writer_time_percent: (per_row(&ceiling) / per_row(base_ceiling).max(1e-12)
                    - 1.0)
                    * 100.0,
            });
        }
        report.figures.push(big.against(&ceiling));
        report.figures.push(ceiling);
        for members in [2, 3] {
            SinkUrl::parse(url, "bench_users")?.emptied()?;
            let group = format!("{}_{label}_members_{members}", self.name);
            let args = self.process_args(topic, "bench_users", &group, "2s");
            let running = (0..members)
                .map(|m| {
                    let name = format!("process {label} member {m} of {members}");
                    child::spawn(&args, &[("EOSFLOW_SINK", url)], &self.dir, &name)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let runs = running
                .into_iter()
                .map(child::Running::wait)
                .collect::<Result<Vec<ChildRun>, _>>()?;
            let row = format!("process -> {label}, {members} members");
            let each = runs
                .iter()
                .map(|r| figure(row.clone(), r, "processed", "records/s"))
                .collect::<Result<Vec<_>, _>>()?;
            let records: u64 = each.iter().map(|f| f.records).sum();
            // The members run side by side: the group's time is the longest member's.
            let busiest = each.iter().map(|f| f.seconds).fold(0.0, f64::max);
            let mut f = Figure::new(row, records, busiest).against(base);
            f.peak_rss_mb = runs.iter().map(|r| r.peak_rss_mb).reduce(f64::max);
            let cpu: f64 = runs.iter().map(|r| r.cpu_seconds).sum();
            f.cpu_seconds_per_million = Some(cpu * 1e6 / records.max(1) as f64);
            report.figures.push(f);
        }
        Ok(())
    }
}
