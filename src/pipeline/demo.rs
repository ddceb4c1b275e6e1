//! `eosflow demo`: the whole pipeline on one machine with zero setup — an in-memory broker
//! (librdkafka's MockCluster), the embedded Schema Registry, the offline generator and SQLite.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::runtime::Runtime;

use super::{process, produce, verify, PipelineError, Shutdown};
use crate::avro::history::newest_parsed;
use crate::core::processor::BatchPolicy;
use crate::kafka::mock::DemoBroker;
use crate::kafka::producer::DeliveryMode;
use crate::kafka::progress::SideTopics;
use crate::kafka::KafkaSettings;
use crate::registry::client::RegistryClient;
use crate::registry::server::RegistryServer;
use crate::sink::SinkUrl;
use crate::source::generator::Generator;
use crate::source::{PageRequest, Source};

/// Demo options (see `eosflow demo --help`).
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub records: u64,
    pub page_size: u32,
    pub sink: Option<String>,
    pub show: usize,
    /// Keep the temporary directory of the default SQLite sink (removed otherwise).
    pub keep: bool,
}

const TOPIC: &str = "users";
const SEED: &str = "demo";

/// The most users the demo runs: the demo broker holds every record in memory.
pub const MAX_RECORDS: u64 = 1_000_000;

/// MockCluster keeps at most 5 MiB (and 100 000 message sets) per partition and silently drops
/// the oldest data beyond that (librdkafka's `rdkafka_mock.c`). The demo gives each partition at
/// most this many users (~600 bytes each with framing: a third of the limit) so nothing is ever
/// dropped.
const USERS_PER_PARTITION: u64 = 3_000;

/// Partitions of the demo topic for `records` users: at least 4.
pub fn partitions_for(records: u64) -> i32 {
    i32::try_from(records.div_ceil(USERS_PER_PARTITION).max(4)).unwrap_or(i32::MAX)
}

/// Why the demo refuses to start.
pub fn refuse(opts: &DemoOptions) -> Option<String> {
    (opts.records > MAX_RECORDS).then(|| {
        format!(
            "--records {}: the demo broker keeps every record in memory and runs at most {MAX_RECORDS} users. For more, run against a real Kafka: `scripts/local-stack up`, then `eosflow produce` and `eosflow process` (README: Run it on your machine)",
            opts.records
        )
    })
}

/// Run the demo; true when verify is exact.
pub fn run(
    opts: &DemoOptions,
    runtime: &Runtime,
    shutdown: &Shutdown,
) -> Result<bool, PipelineError> {
    if let Some(why) = refuse(opts) {
        return Err(PipelineError::Other(why));
    }
    // The sink first: a wrong URL or a database that is down fails before anything is produced.
    let (temp, sink_url) = match &opts.sink {
        Some(url) => (None, url.clone()),
        None => {
            let dir = fresh_dir()?;
            let url = format!("sqlite://{}", dir.join("eosflow-demo.db").display());
            (Some(dir), url)
        }
    };
    let sink_url = SinkUrl::parse(&sink_url, "users")?;
    sink_url.open()?.ensure_schema()?;
    let result = run_with(opts, &sink_url, runtime, shutdown);
    if let Some(dir) = temp {
        if opts.keep {
            crate::outln!("kept:     {} (--keep)", dir.display());
        } else if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove the demo directory");
        }
    }
    result
}

fn run_with(
    opts: &DemoOptions,
    sink_url: &SinkUrl,
    runtime: &Runtime,
    shutdown: &Shutdown,
) -> Result<bool, PipelineError> {
    let broker = DemoBroker::start(1)?;
    crate::outln!(
        "broker:   {} — an IN-MEMORY DEMO BROKER (librdkafka MockCluster), not a real Kafka: it does not hide aborted transactions or fence zombies; eosflow stays exact anyway (deterministic ids)",
        broker.bootstrap()
    );
    let partitions = partitions_for(opts.records);
    broker.create_topic(TOPIC, partitions)?;
    let server = runtime
        .block_on(RegistryServer::start(([127, 0, 0, 1], 0).into(), None))
        .map_err(|e| PipelineError::Other(e.to_string()))?;
    crate::outln!("registry: {} (embedded, in memory)", server.url());
    crate::outln!("sink:     {}", sink_url.redacted());
    let kafka = KafkaSettings::new(broker.bootstrap());
    let timeout = Duration::from_secs(30);
    let registry = RegistryClient::new(&server.url(), timeout)?;

    let side = SideTopics::for_topic(TOPIC);
    broker.create_topic(&side.rejects, partitions)?;
    broker.create_topic(&side.progress, 1)?;
    broker.create_topic(&format!("{TOPIC}.dlq"), partitions)?;
    let produce_job = produce::ProduceJob {
        kafka: kafka.clone(),
        topic: TOPIC.into(),
        side: side.clone(),
        delivery: DeliveryMode::transactional("eosflow-demo-producer"),
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
        faults: super::faults::Faults::none(),
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
    crate::outln!("produce:  {produced}");

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
        membership: crate::kafka::consumer::GroupOptions::default(),
        faults: process::ProcessFaults::none(),
        skip_lost_records: false,
        consumer_rebuilds: 0,
        timeout,
    };
    let sink = sink_url.open()?;
    let reader = newest_parsed();
    let processed = process::run(
        &process_job,
        sink,
        &registry,
        reader,
        runtime.handle(),
        shutdown,
    )?;
    crate::outln!("process:  {processed}");

    let mut sink = sink_url.open()?;
    print_names(&mut generator, sink.as_mut(), opts)?;
    let dlq_topic = format!("{TOPIC}.dlq");
    let verify_job = verify::VerifyJob {
        kafka: &kafka,
        topic: TOPIC,
        dlq_topic: &dlq_topic,
        side: &side,
        timeout,
    };
    // Against the source, not only the topic: a demo broker that dropped records cannot pass.
    let report = verify::run(
        &verify_job,
        sink.as_mut(),
        &registry,
        reader,
        runtime.handle(),
    )?;
    crate::outln!(
        "verify:   {}",
        serde_json::to_string(&report).unwrap_or_default()
    );
    crate::outln!("{report}");
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
    crate::outln!(
        "\n{:<38} {:<16} {:<16} email",
        "id (UUIDv5)",
        "first_name",
        "last_name"
    );
    for user in page.users.iter().take(show) {
        match sink.get(user.key())? {
            Some(row) => crate::outln!(
                "{:<38} {:<16} {:<16} {}",
                user.key(),
                row.first_name,
                row.last_name,
                row.email
            ),
            None => crate::outln!("{:<38} (missing from the sink)", user.key()),
        }
    }
    crate::outln!();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_grow_with_the_records_and_large_runs_are_refused() {
        assert_eq!(partitions_for(1000), 4);
        assert_eq!(partitions_for(100_000), 34);
        assert_eq!(partitions_for(MAX_RECORDS), 334);
        let opts = |records| DemoOptions {
            records,
            page_size: 100,
            sink: None,
            show: 0,
            keep: false,
        };
        assert!(refuse(&opts(MAX_RECORDS)).is_none());
        let why = refuse(&opts(MAX_RECORDS + 1)).expect("refused");
        assert!(
            why.contains("in memory") && why.contains("local-stack"),
            "{why}"
        );
    }
}
