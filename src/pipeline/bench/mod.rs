//! `eosflow bench`: throughput figures from the real jobs (not a timed test). Runs against the
//! in-process MockCluster (`--broker mock`) or any bootstrap address (e.g. tansu), with the
//! embedded registry, into a fresh topic; prints one line per measurement.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;

use super::{process, produce, PipelineError, Shutdown};
use crate::avro::history::newest_parsed;
use crate::core::processor::BatchPolicy;
use crate::kafka::mock::DemoBroker;
use crate::kafka::producer::DeliveryMode;
use crate::kafka::progress::SideTopics;
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::registry::server::RegistryServer;
use crate::source::generator::Generator;

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// `mock` or a bootstrap address.
    pub broker: String,
    pub records: u64,
    pub page_size: u32,
    pub delivery: DeliveryMode,
    /// Also process into this sink and measure it.
    pub sink: Option<String>,
    pub batch_max: usize,
}

/// Run the benchmark, printing figures to stdout.
pub fn run(opts: &BenchOptions, runtime: &Runtime) -> Result<(), PipelineError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let topic = format!("bench_{}_{}", std::process::id(), nanos % 1_000_000_000);
    let side = SideTopics::for_topic(&topic);
    let mock = if opts.broker == "mock" {
        let broker = DemoBroker::start(1)?;
        for (t, p) in [(&topic, 4), (&side.rejects, 4), (&side.progress, 1)] {
            broker.create_topic(t, p)?;
        }
        Some(broker)
    } else {
        None
    };
    let bootstrap = mock
        .as_ref()
        .map_or(opts.broker.clone(), |b| b.bootstrap().to_string());
    let server = runtime
        .block_on(RegistryServer::start(([127, 0, 0, 1], 0).into(), None))
        .map_err(|e| PipelineError::Other(e.to_string()))?;
    let timeout = Duration::from_secs(60);
    let registry = RegistryClient::new(&server.url(), timeout)?;
    let kafka = KafkaSettings::new(&bootstrap);
    let shutdown = Shutdown::new();
    let broker_name = if mock.is_some() {
        "MockCluster (in-process)".to_string()
    } else {
        bootstrap.clone()
    };

    let job = produce::ProduceJob {
        kafka: kafka.clone(),
        topic: topic.clone(),
        side,
        producer_id: format!("{topic}-producer"),
        delivery: match &opts.delivery {
            DeliveryMode::Transactional { .. } => {
                DeliveryMode::transactional(format!("{topic}-producer"))
            }
            DeliveryMode::Idempotent => DeliveryMode::Idempotent,
        },
        seed: "bench".into(),
        start_page: 1,
        page_size: opts.page_size,
        count: Some(opts.records),
        last_page: None,
        run_for: None,
        every: None,
        create_partitions: mock.is_none().then_some(4),
        schema_version: None,
        faults: super::faults::Faults::none(),
        timeout,
    };
    let p = produce::run(
        &job,
        &mut Generator::new(),
        &registry,
        runtime.handle(),
        &shutdown,
    )?;
    let secs = p.elapsed.as_secs_f64().max(1e-9);
    crate::outln!(
        "produce  broker={broker_name} delivery={} records={} page_size={} chunks={} elapsed={:.2}s rate={:.0} users/s ({:.1} ms per chunk; a 100 ms-per-commit cap would allow {:.0} users/s)",
        if matches!(opts.delivery, DeliveryMode::Idempotent) { "idempotent" } else { "transactional" },
        p.users,
        opts.page_size,
        p.stats.chunks,
        secs,
        p.users as f64 / secs,
        secs * 1000.0 / p.stats.chunks.max(1) as f64,
        f64::from(opts.page_size) * 10.0,
    );
    if let Some(sink_url) = &opts.sink {
        let sink = crate::sink::open(sink_url, &format!("{topic}_users"))?;
        let describe = sink.describe();
        let started = Instant::now();
        let job = process::ProcessJob {
            kafka,
            topic: topic.clone(),
            group: format!("{topic}-group"),
            policy: BatchPolicy {
                max_records: opts.batch_max,
                linger_ms: 200,
            },
            reset_offsets: false,
            exit_when_idle: Some(Duration::from_secs(2)),
            max_records: Some(opts.records),
            dlq_topic: None,
            membership: crate::kafka::consumer::GroupOptions::default(),
            faults: process::ProcessFaults::none(),
            skip_lost_records: false,
            consumer_rebuilds: 0,
            timeout,
        };
        let s = process::run(
            &job,
            sink,
            &registry,
            newest_parsed(),
            runtime.handle(),
            &shutdown,
        )?;
        let wall = started.elapsed().as_secs_f64();
        crate::outln!(
            "process  broker={broker_name} sink={describe} records={} batches={} batch_max={} elapsed={wall:.2}s (incl. group join) rate={:.0} records/s",
            s.records,
            s.batches,
            opts.batch_max,
            s.records as f64 / wall.max(1e-9),
        );
    }
    runtime.block_on(server.stop());
    Ok(())
}
