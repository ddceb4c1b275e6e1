//! `eosflow demo`: the whole pipeline on one machine with zero setup — an in-memory broker
//! (librdkafka's MockCluster), the embedded Schema Registry, the offline generator and SQLite.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;

use super::progress::SideTopics;
use super::{process, produce, verify, PipelineError, Shutdown};
use crate::avro::history::newest_parsed;
use crate::core::processor::BatchPolicy;
use crate::kafka::mock::DemoBroker;
use crate::kafka::producer::DeliveryMode;
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::registry::server::RegistryServer;
use crate::source::generator::Generator;
use crate::source::{PageRequest, Source};

/// Demo options (see `eosflow demo --help`).
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub records: u64,
    pub page_size: u32,
    pub sink: Option<String>,
    pub show: usize,
}

const TOPIC: &str = "users";
const SEED: &str = "demo";

/// Run the demo; true when verify is exact.
pub fn run(
    opts: &DemoOptions,
    runtime: &Runtime,
    shutdown: &Shutdown,
) -> Result<bool, PipelineError> {
    let broker = DemoBroker::start(1)?;
    println!(
        "broker:   {} — an IN-MEMORY DEMO BROKER (librdkafka MockCluster), not a real Kafka: it does not hide aborted transactions or fence zombies; eosflow stays exact anyway (deterministic ids)",
        broker.bootstrap()
    );
    broker.create_topic(TOPIC, 4)?;
    let server = runtime
        .block_on(RegistryServer::start(([127, 0, 0, 1], 0).into(), None))
        .map_err(|e| PipelineError::Other(e.to_string()))?;
    println!("registry: {} (embedded, in memory)", server.url());
    let sink_url = match &opts.sink {
        Some(url) => url.clone(),
        None => format!(
            "sqlite://{}",
            fresh_dir()?.join("eosflow-demo.db").display()
        ),
    };
    println!("sink:     {sink_url}");
    let kafka = KafkaSettings::new(broker.bootstrap());
    let timeout = Duration::from_secs(30);
    let registry = RegistryClient::new(&server.url(), timeout)?;

    let side = SideTopics::for_topic(TOPIC);
    broker.create_topic(&side.rejects, 4)?;
    broker.create_topic(&side.progress, 1)?;
    broker.create_topic(&format!("{TOPIC}.dlq"), 4)?;
    let produce_job = produce::ProduceJob {
        kafka: kafka.clone(),
        topic: TOPIC.into(),
        side,
        delivery: DeliveryMode::Transactional {
            transactional_id: "eosflow-demo-producer".into(),
        },
        producer_id: "eosflow-demo-producer".into(),
        seed: SEED.into(),
        start_page: 1,
        page_size: opts.page_size.max(1),
        count: Some(opts.records),
        last_page: None,
        run_for: None,
        every: None,
        create_partitions: None,
        schema_version: None,
        timeout,
    };
    let mut generator = Generator::new();
    let produced = produce::run(
        &produce_job,
        &mut generator,
        &registry,
        runtime.handle(),
        shutdown,
    )?;
    println!("produce:  {produced}");

    let process_job = process::ProcessJob {
        kafka: kafka.clone(),
        topic: TOPIC.into(),
        group: "eosflow-demo".into(),
        policy: BatchPolicy {
            max_records: 500,
            linger_ms: 200,
        },
        reset_offsets: false,
        exit_when_idle: Some(Duration::from_secs(2)),
        max_records: Some(opts.records),
        dlq_topic: Some(format!("{TOPIC}.dlq")),
        timeout,
    };
    let sink = crate::sink::open(&sink_url, "users")?;
    let reader = newest_parsed();
    let processed = process::run(
        &process_job,
        sink,
        &registry,
        reader,
        runtime.handle(),
        shutdown,
    )?;
    println!("process:  {processed}");

    let mut sink = crate::sink::open(&sink_url, "users")?;
    print_names(&mut generator, sink.as_mut(), opts)?;
    let report = verify::run(
        &kafka,
        TOPIC,
        &format!("{TOPIC}.dlq"),
        sink.as_mut(),
        &registry,
        reader,
        runtime.handle(),
        timeout,
    )?;
    println!(
        "verify:   {}",
        serde_json::to_string(&report).unwrap_or_default()
    );
    println!("{report}");
    runtime.block_on(server.stop());
    Ok(report.exact())
}

/// The first users of the run, read back from the sink by their UUIDv5 keys.
fn print_names(
    generator: &mut Generator,
    sink: &mut dyn crate::sink::Sink,
    opts: &DemoOptions,
) -> Result<(), PipelineError> {
    let show = opts
        .show
        .min(opts.records as usize)
        .min(opts.page_size as usize);
    if show == 0 {
        return Ok(());
    }
    let page = generator.fetch(&PageRequest {
        seed: SEED.into(),
        page: 1,
        size: opts.page_size.max(1),
    })?;
    println!(
        "\n{:<38} {:<16} {:<16} email",
        "id (UUIDv5)", "first_name", "last_name"
    );
    for user in page.users.iter().take(show) {
        match sink.get(user.key())? {
            Some(row) => println!(
                "{:<38} {:<16} {:<16} {}",
                user.key(),
                row.first_name,
                row.last_name,
                row.email
            ),
            None => println!("{:<38} (missing from the sink)", user.key()),
        }
    }
    println!();
    Ok(())
}

fn fresh_dir() -> Result<std::path::PathBuf, PipelineError> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("eosflow-demo-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| {
        PipelineError::Other(format!(
            "cannot create demo directory {}: {e}",
            dir.display()
        ))
    })?;
    Ok(dir)
}
