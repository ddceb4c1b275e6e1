//! The bench's longer rows: latency with produce paced beside process, and (`--full`) the
//! process row at 10× the records and with 2 and 3 members of one group.

use super::child::{self, ChildRun};
use super::latency::Watch;
use super::table::{Figure, LatencyFigure, Report};
use super::{figure, Run, LATENCY_RATE, PARTITIONS};
use crate::kafka::admin::ensure_topic;
use crate::pipeline::PipelineError;
use crate::sink::SinkUrl;

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

    /// 10× the records through the same sink (cost per record must stay flat), then 2 and 3
    /// members sharing the default topic's 6 partitions.
    pub(super) fn scale(
        &self,
        report: &mut Report,
        url: &str,
        label: &str,
        topic: &str,
        base: &Figure,
    ) -> Result<(), PipelineError> {
        let large = format!("{}_large", self.name);
        self.produce(
            &large,
            self.opts.records * 10,
            crate::source::generator::MAX_PAGE_SIZE,
        )?;
        let big = self.process(&large, url, label, " (10x records)")?;
        if let (Some(b), Some(l)) = (base.cpu_seconds_per_million, big.cpu_seconds_per_million) {
            report.cost_growth_percent = Some((l / b.max(1e-9) - 1.0) * 100.0);
        }
        report.figures.push(big.against(base));
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
