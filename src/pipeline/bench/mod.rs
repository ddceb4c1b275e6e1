//! `eosflow bench`: every hot path measured against a ceiling taken in the same run, on the
//! same data, and printed as ratios (not a timed test).
//!
//! One run: `produce` (a child process of this binary, so its RSS and CPU are its own) writes
//! the users transactionally, 1,000 and 10,000 (the generator's largest page) per transaction; a raw `read_committed` consumer
//! reads the topic touching every byte, and a raw idempotent producer writes the same bytes
//! (the Kafka ceilings); the records are decoded in-process (the decode row), and each sink's
//! raw writer stores the decoded rows (the sink ceilings); `process` into each sink is compared
//! with the lower of its two ceilings. Then latency with produce paced at 10,000 users/s and
//! process beside it; with `--full`, a 10× larger process run and 2 and 3 group members.

mod child;
mod latency;
mod scale;
mod table;

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;
use tracing::info;

use super::decode::{RecordDecoder, RegistryLookup};
use super::PipelineError;
use crate::avro::history::newest_parsed;
use crate::avro::plan::Plan;
use crate::kafka::mock::DemoBroker;
use crate::kafka::raw;
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::registry::server::RegistryServer;
use crate::sink::{Row, SinkUrl};
use child::{count_after, rate_in};
use table::{Figure, Report};

/// Partitions of every bench topic.
const PARTITIONS: i32 = 6;
/// The seed of the bench's users (the default and the 10x topic).
const BENCH_SEED: &str = "bench";
/// Users per second of the latency run: 1,000-user pages every 100 ms.
const LATENCY_RATE: u64 = 10_000;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `mock` (in-process MockCluster: no isolation, figures not comparable) or a bootstrap.
    pub broker: String,
    pub records: u64,
    /// Sink URLs to process into; none: SQLite in a temporary directory.
    pub sinks: Vec<String>,
    pub batch_max: usize,
    /// The large runs: latency for 60 s instead of 10, 10× the records, 2 and 3 members.
    pub full: bool,
    pub json: Option<PathBuf>,
}

struct Run<'a> {
    opts: &'a BenchOptions,
    kafka: KafkaSettings,
    /// `--bootstrap B --registry R`, given to every child.
    common: Vec<String>,
    name: String,
    dir: PathBuf,
    timeout: Duration,
}

/// Run the benchmark; the table goes to stdout (and JSON to `--json`).
pub fn run(opts: &BenchOptions, runtime: &Runtime) -> Result<(), PipelineError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!("bench_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let dir = std::env::temp_dir().join(&name);
    std::fs::create_dir_all(&dir)
        .map_err(|e| PipelineError::Other(format!("bench: creating {}: {e}", dir.display())))?;
    let mock = (opts.broker == "mock")
        .then(|| DemoBroker::start(1))
        .transpose()?;
    let bootstrap = mock
        .as_ref()
        .map_or(opts.broker.clone(), |b| b.bootstrap().to_string());
    let server = runtime
        .block_on(RegistryServer::start(([127, 0, 0, 1], 0).into(), None))
        .map_err(|e| PipelineError::Other(e.to_string()))?;
    let timeout = Duration::from_secs(60);
    let kafka = KafkaSettings::new(&bootstrap);
    kafka.preflight(timeout)?;
    let run = Run {
        opts,
        common: vec![
            "--bootstrap".into(),
            bootstrap.clone(),
            "--registry".into(),
            server.url(),
        ],
        kafka,
        name,
        dir,
        timeout,
    };
    let registry = RegistryClient::new(&server.url(), timeout)?;
    let mut report = Report {
        broker: if mock.is_some() {
            "librdkafka MockCluster (in-process; no isolation)".into()
        } else {
            bootstrap
        },
        cores: std::thread::available_parallelism().map_or(1, usize::from),
        ..Report::default()
    };
    let result = run.measure(&mut report, &registry, runtime);
    runtime.block_on(server.stop());
    result?;
    crate::out!("{report}");
    if let Some(path) = &opts.json {
        let text = serde_json::to_string_pretty(&report)
            .map_err(|e| PipelineError::Other(format!("bench: JSON: {e}")))?;
        std::fs::write(path, text)
            .map_err(|e| PipelineError::Other(format!("bench: writing {}: {e}", path.display())))?;
    }
    let _ = std::fs::remove_dir_all(&run.dir);
    Ok(())
}

impl Run<'_> {
    fn measure(
        &self,
        report: &mut Report,
        registry: &RegistryClient,
        runtime: &Runtime,
    ) -> Result<(), PipelineError> {
        let n = self.opts.records;
        let topic = format!("{}_users", self.name);
        let produced = self.produce(&topic, n, 1000)?;
        // A transaction is a page: the generator's largest, 10,000 users.
        let largest = crate::source::generator::MAX_PAGE_SIZE;
        let produced_large = self.produce(&format!("{}_users_large_txn", self.name), n, largest)?;

        info!("bench: the raw consumer and producer");
        let (took, records, _) = raw::consume(&self.kafka, &topic, false, self.timeout)?;
        let consume = Figure::new("ceiling: raw read_committed consumer", records, secs(took));
        let (_, _, payloads) = raw::consume(&self.kafka, &topic, true, self.timeout)?;
        let raw_topic = format!("{}_raw", self.name);
        let took = raw::produce(&self.kafka, &raw_topic, PARTITIONS, &payloads, self.timeout)?;
        let producer = Figure::new(
            "ceiling: raw idempotent producer, same bytes",
            payloads.len() as u64,
            secs(took),
        );
        report.figures.push(produced.against(&producer));
        report.figures.push(produced_large.against(&producer));
        report.figures.push(producer);
        report.figures.push(consume.clone());

        info!("bench: decoding");
        let mut decoder = RecordDecoder::new(newest_parsed());
        let mut lookup = RegistryLookup {
            registry,
            handle: runtime.handle(),
            attempts: 3,
        };
        let started = Instant::now();
        let mut rows = Vec::with_capacity(payloads.len());
        for p in &payloads {
            match decoder.decode(Some(&p.value), &mut lookup)? {
                Ok(user) => rows.push(user),
                Err(poison) => {
                    return Err(PipelineError::Other(format!(
                        "bench: a record of {topic} did not decode: {poison:?}"
                    )))
                }
            }
        }
        report.decode_ns_per_user =
            Some(started.elapsed().as_nanos() as f64 / rows.len().max(1) as f64);
        // Decoding alone, like for like: the plan against the Value-tree decoder it replaced.
        let (plan_ns, tree_ns) = decode_alone(&payloads, &mut lookup)?;
        report.plan_decode_ns_per_user = Some(plan_ns);
        report.tree_decode_ns_per_user = Some(tree_ns);
        drop(payloads);
        let rows: Vec<Row> = rows.into_iter().map(Row::new).collect();

        let sinks = self.sinks();
        let large = self.opts.full.then(|| self.produce_large()).transpose()?;
        for (label, url) in &sinks {
            info!(sink = label.as_str(), "bench: the raw sink writer");
            let raw = SinkUrl::parse(url, "bench_raw")?;
            let took = raw.ceiling(&rows, self.opts.batch_max)?;
            let ceiling = Figure::new(
                format!("ceiling: raw {label} writer, same rows"),
                rows.len() as u64,
                secs(took),
            );
            let processed = self.process(&topic, url, label, "")?;
            let lower = if ceiling.per_second < consume.per_second {
                &ceiling
            } else {
                &consume
            };
            report.figures.push(processed.clone().against(lower));
            report.figures.push(ceiling.clone());
            if let Some((large, rows)) = &large {
                self.scale(
                    report,
                    (url, label),
                    (&topic, &processed, &ceiling),
                    (large, rows),
                )?;
            }
        }
        let (label, url) = &sinks[0];
        report.latency = Some(self.latency(url, label)?);
        Ok(())
    }

    /// The sinks to measure, each with a short label.
    fn sinks(&self) -> Vec<(String, String)> {
        if self.opts.sinks.is_empty() {
            let path = self.dir.join("bench.db");
            return vec![("sqlite".into(), format!("sqlite://{}", path.display()))];
        }
        self.opts
            .sinks
            .iter()
            .map(|url| {
                let label = SinkUrl::parse(url, "bench_users").map_or("sink".to_string(), |u| {
                    format!("{:?}", u.scheme()).to_lowercase()
                });
                (label, url.clone())
            })
            .collect()
    }

    /// `eosflow produce` of `n` users, `per_txn` per transaction, into a new topic.
    fn produce(&self, topic: &str, n: u64, per_txn: u32) -> Result<Figure, PipelineError> {
        info!(topic, per_txn, "bench: produce");
        let label = format!("produce transactional, {per_txn} per txn");
        let mut args = self.args("produce", topic);
        args.extend(
            [
                "--seed",
                BENCH_SEED,
                "--count",
                &n.to_string(),
                "--page-size",
                &per_txn.to_string(),
                "--partitions",
                &PARTITIONS.to_string(),
                "--transactional-id",
                &format!("{topic}-producer"),
            ]
            .map(String::from),
        );
        let run = child::spawn(&args, &[], &self.dir, &label)?.wait()?;
        figure(label, &run, "produced", "users/s")
    }

    /// `eosflow process` of `topic` into `url` until idle, in a new group.
    fn process(
        &self,
        topic: &str,
        url: &str,
        label: &str,
        suffix: &str,
    ) -> Result<Figure, PipelineError> {
        info!(topic, sink = label, "bench: process");
        SinkUrl::parse(url, "bench_users")?.emptied()?;
        let row = format!("process -> {label}{suffix}");
        let group = format!("{}_{label}{suffix}", self.name).replace(' ', "_");
        let args = self.process_args(topic, "bench_users", &group, "2s");
        let run = child::spawn(&args, &[("EOSFLOW_SINK", url)], &self.dir, &row)?.wait()?;
        figure(row, &run, "processed", "records/s")
    }

    fn args(&self, command: &str, topic: &str) -> Vec<String> {
        let mut args = vec![command.to_string()];
        args.extend(self.common.iter().cloned());
        args.extend(["--topic".to_string(), topic.to_string()]);
        args
    }

    fn process_args(&self, topic: &str, table: &str, group: &str, idle: &str) -> Vec<String> {
        let mut args = self.args("process", topic);
        args.extend(
            [
                "--table",
                table,
                "--group",
                group,
                "--batch-max",
                &self.opts.batch_max.to_string(),
                "--exit-when-idle",
                idle,
                "--no-dlq",
            ]
            .map(String::from),
        );
        args
    }
}

/// A row from a child's summary line: its count after `word` and its rate before `unit`.
fn figure(
    row: String,
    run: &child::ChildRun,
    word: &str,
    unit: &str,
) -> Result<Figure, PipelineError> {
    let missing = || {
        PipelineError::Other(format!(
            "bench: the {row} row printed no summary ({word} … {unit})"
        ))
    };
    let records = count_after(&run.output, word).ok_or_else(missing)?;
    let rate = rate_in(&run.output, unit).ok_or_else(missing)?;
    let mut f = Figure::new(row.clone(), records, records as f64 / rate.max(1e-9));
    f.peak_rss_mb = Some(run.peak_rss_mb);
    f.cpu_seconds_per_million = Some(run.cpu_seconds * 1e6 / records.max(1) as f64);
    Ok(f)
}

/// Nanoseconds per record to decode the bodies (framing off, writer known) with the plan and
/// with the `Value`-tree decoder.
fn decode_alone(
    payloads: &[raw::Payload],
    lookup: &mut RegistryLookup<'_>,
) -> Result<(f64, f64), PipelineError> {
    let reader = newest_parsed();
    let mut bodies = Vec::with_capacity(payloads.len());
    let mut writers = std::collections::HashMap::new();
    for p in payloads {
        let (id, body) = crate::avro::unframe(&p.value)
            .map_err(|e| PipelineError::Other(format!("bench: a record: {e}")))?;
        if let std::collections::hash_map::Entry::Vacant(new) = writers.entry(id) {
            let writer = crate::pipeline::decode::WriterLookup::writer(lookup, id)?;
            let plan = Plan::compile(&writer, reader);
            new.insert((writer, plan));
        }
        bodies.push((id, body));
    }
    let time = |tree: bool| -> Result<f64, PipelineError> {
        let started = Instant::now();
        for (id, body) in &bodies {
            let Some((writer, plan)) = writers.get(id) else {
                continue;
            };
            let user = if tree {
                crate::avro::decode_user(writer, reader, body)
            } else {
                plan.decode(writer, reader, body)
            };
            std::hint::black_box(user)
                .map_err(|e| PipelineError::Other(format!("bench: a record: {e}")))?;
        }
        Ok(started.elapsed().as_nanos() as f64 / bodies.len().max(1) as f64)
    };
    Ok((time(false)?, time(true)?))
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
