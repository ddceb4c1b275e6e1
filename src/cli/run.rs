//! Resolve configuration (flags > env > file > defaults) and run the chosen job.

use std::process::ExitCode;
use std::time::Duration;

use tokio::runtime::Runtime;
use tracing::info;

use super::args::{
    Cli, Command, CommonArgs, Delivery, DemoArgs, GroupProtocolArg, MetricsArgs, MockBrokerArgs,
    ProcessArgs, ProduceArgs, SinkArgs, VerifyArgs,
};
use super::defaults;
use crate::avro::{load_reader_schema, ReaderSchemaError};
use crate::config::{parse_duration, pick, FileConfig};
use crate::core::processor::BatchPolicy;
use crate::kafka::consumer::{GroupOptions, GroupProtocol};
use crate::kafka::producer::DeliveryMode;
use crate::kafka::progress::SideTopics;
use crate::kafka::KafkaSettings;
use crate::metrics::status::now_ms;
use crate::metrics::{serve_while, ProcessMetrics, ProduceMetrics};
use crate::pipeline::faults::Faults;
use crate::pipeline::{demo, doctor, process, produce, verify, PipelineError, Shutdown};
use crate::registry::client::{RegistryAuth, RegistryClient};
use crate::registry::server::{BasicAuth, RegistryServer};
use crate::sink::SinkUrl;
use crate::source::SourceSpec;

/// Errors of the CLI layer (everything else arrives already explained by its room).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    RegistryServer(#[from] crate::registry::server::RegistryServerError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    ReaderSchema(#[from] ReaderSchemaError),
    #[error(transparent)]
    Doctor(#[from] crate::pipeline::doctor::DoctorError),
    #[error(transparent)]
    KafkaSecurity(#[from] crate::kafka::security::SecurityError),
    #[error(transparent)]
    KafkaOptions(#[from] super::security::ResolveError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsServerError),
}

/// `--metrics-listen` (or env), else `[metrics] listen`: the address to serve `/metrics` on.
fn metrics_listen(
    args: &MetricsArgs,
    file: &FileConfig,
) -> Result<Option<std::net::SocketAddr>, CliError> {
    let (name, text) = match (&args.metrics_listen, &file.metrics.listen) {
        (Some(text), _) => ("--metrics-listen (EOSFLOW_METRICS_LISTEN)", text),
        (None, Some(text)) => ("metrics.listen", text),
        (None, None) => return Ok(None),
    };
    let addr = text
        .trim()
        .parse()
        .map_err(|_| crate::config::ConfigError::Value {
            name,
            value: text.clone(),
            detail: "expected IP:PORT, e.g. 127.0.0.1:9464 (port 0 picks a free port)".into(),
        })?;
    Ok(Some(addr))
}

/// Resolved connection settings.
struct Common {
    kafka: KafkaSettings,
    registry: String,
    registry_auth: RegistryAuth,
    topic: String,
    timeout: Duration,
}

/// The registry client of `url` with the resolved credentials and CA.
fn registry_client(
    url: &str,
    auth: &RegistryAuth,
    timeout: Duration,
) -> Result<RegistryClient, CliError> {
    RegistryClient::connect(url, timeout, auth).map_err(|e| PipelineError::from(e).into())
}

fn common(args: &CommonArgs, file: &FileConfig) -> Result<Common, CliError> {
    let bootstrap = pick(
        args.bootstrap.clone(),
        file.kafka.bootstrap.clone(),
        defaults::BOOTSTRAP.into(),
    );
    crate::kafka::reach::check_addresses(&bootstrap).map_err(|detail| {
        crate::config::ConfigError::Value {
            name: "--bootstrap",
            value: bootstrap.clone(),
            detail,
        }
    })?;
    let mut kafka = KafkaSettings::new(bootstrap);
    kafka.properties = super::security::kafka_properties(
        &args.kafka_security,
        &args.kafka_properties,
        &file.kafka,
    )?;
    let timeout = pick(
        args.timeout.clone(),
        file.kafka.timeout.clone(),
        defaults::TIMEOUT.into(),
    );
    let registry = pick(
        args.registry.clone(),
        file.registry.url.clone(),
        defaults::REGISTRY.into(),
    );
    Ok(Common {
        kafka,
        registry_auth: super::security::registry_auth(
            &registry,
            &args.registry_auth,
            &file.registry,
        ),
        registry,
        topic: pick(
            args.topic.clone(),
            file.kafka.topic.clone(),
            defaults::TOPIC.into(),
        ),
        timeout: parse_duration("--timeout", &timeout)?,
    })
}

/// The reader schema of `process` and `verify`: flag or env, else the config file, else the
/// newest in `avro/`; refused at start when it is not strictly valid or not a User.
fn reader_schema(
    flag_or_env: Option<&std::path::Path>,
    file: &FileConfig,
) -> Result<apache_avro::Schema, CliError> {
    let path = flag_or_env.or(file.process.reader_schema.as_deref());
    let schema = load_reader_schema(path)?;
    match path {
        Some(path) => info!(reader_schema = %path.display(), "reader schema"),
        None => info!(
            reader_schema = crate::avro::newest_user_schema().name,
            "reader schema (the newest in avro/)"
        ),
    }
    Ok(schema)
}

/// The sink URL and table, with `--sink-password`/`EOSFLOW_SINK_PASSWORD` put in, checked.
fn sink_url(args: &SinkArgs, file: &FileConfig) -> Result<SinkUrl, CliError> {
    let url = pick(
        args.sink.clone(),
        file.process.sink.clone(),
        defaults::SINK.into(),
    );
    let table = pick(
        args.table.clone(),
        file.process.table.clone(),
        defaults::TABLE.into(),
    );
    let sink = SinkUrl::parse(&url, &table).map_err(PipelineError::from)?;
    let Some(password) = args.sink_password.as_ref() else {
        return Ok(sink);
    };
    let shown = sink.redacted();
    sink.with_password(password).map_err(|detail| {
        crate::config::ConfigError::Value {
            name: "--sink-password (EOSFLOW_SINK_PASSWORD)",
            value: shown,
            detail,
        }
        .into()
    })
}

/// Run the command; the exit code says whether it succeeded (verify: whether exact).
pub fn run(cli: Cli, shutdown: Shutdown) -> Result<ExitCode, CliError> {
    if let Command::Schema(cmd) = &cli.command {
        // Runs outside our runtime: `check --registry` starts its own.
        return Ok(crate::cli::schema::run(cmd));
    }
    let file = FileConfig::load(cli.config.as_deref())?;
    let runtime = Runtime::new().map_err(CliError::Runtime)?;
    install_signal_handlers(&runtime, &shutdown);
    match cli.command {
        Command::Produce(args) => run_produce(&args, &file, &runtime, &shutdown),
        Command::Process(args) => run_process(&args, &file, &runtime, &shutdown),
        Command::Verify(args) => run_verify(&args, &file, &runtime),
        Command::Doctor(args) => run_doctor(&args, &file, &runtime),
        Command::Registry(super::args::RegistryCommand::Serve(args)) => {
            runtime.block_on(async {
                let auth = match &args.basic_auth_file {
                    Some(path) => Some(BasicAuth::load(path)?),
                    None => None,
                };
                let server =
                    RegistryServer::start_with(args.listen, args.data.clone(), auth).await?;
                crate::outln!("schema registry listening on {}", server.url());
                // SIGINT or SIGTERM (the signal handlers set the shutdown flag).
                while !shutdown.requested() {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
                server.stop().await;
                Ok::<_, CliError>(())
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo(args) => run_demo(&args, &runtime, &shutdown),
        Command::Schema(_) => Ok(ExitCode::SUCCESS), // handled above
        Command::MockBroker(args) => run_mock_broker(&args, &shutdown),
        Command::Bench(args) => {
            let opts = crate::pipeline::bench::BenchOptions {
                broker: args.broker.clone(),
                records: args.records,
                sinks: args.sinks.clone(),
                batch_max: args.batch_max.max(1),
                full: args.full,
                json: args.json.clone(),
            };
            crate::pipeline::bench::run(&opts, &runtime)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn install_signal_handlers(runtime: &Runtime, shutdown: &Shutdown) {
    let flag = shutdown.clone();
    runtime.spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut term = match signal(SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return,
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        info!("signal received: finishing the current unit of work");
        flag.request();
    });
}

fn run_produce(
    args: &ProduceArgs,
    file: &FileConfig,
    runtime: &Runtime,
    shutdown: &Shutdown,
) -> Result<ExitCode, CliError> {
    let listen = metrics_listen(&args.metrics, file)?;
    let c = common(&args.common, file)?;
    let f = &file.produce;
    let delivery_text = f.delivery.as_deref().unwrap_or("transactional");
    let delivery = match args.delivery {
        Some(d) => d,
        None => match delivery_text {
            "transactional" => Delivery::Transactional,
            "idempotent" => Delivery::Idempotent,
            other => {
                return Err(crate::config::ConfigError::Value {
                    name: "produce.delivery",
                    value: other.into(),
                    detail: "expected transactional or idempotent".into(),
                }
                .into())
            }
        },
    };
    let transactional_id = pick(
        args.transactional_id.clone(),
        f.transactional_id.clone(),
        format!("eosflow-{}", c.topic),
    );
    let mut side = SideTopics::for_topic(&c.topic);
    if let Some(t) = args.rejects_topic.as_ref().or(f.rejects_topic.as_ref()) {
        side.rejects = t.clone();
    }
    if let Some(t) = args.progress_topic.as_ref().or(f.progress_topic.as_ref()) {
        side.progress = t.clone();
    }
    let duration =
        |name, v: &Option<String>| v.as_deref().map(|d| parse_duration(name, d)).transpose();
    let txn_timeout = args
        .transaction_timeout
        .clone()
        .or(f.transaction_timeout.clone());
    let transaction_timeout = duration("--transaction-timeout", &txn_timeout)?
        .unwrap_or(crate::kafka::producer::DEFAULT_TRANSACTION_TIMEOUT);
    let faults = Faults {
        abort_ratio: args.inject_abort_ratio.unwrap_or(0.0),
        seed: args.inject_seed,
        stall: duration("--inject-stall", &args.inject_stall)?
            .map(|d| (args.inject_stall_at_chunk.max(1), d)),
    };
    if faults.abort_ratio > 0.0 && delivery == Delivery::Idempotent {
        return Err(crate::config::ConfigError::Value {
            name: "--inject-abort-ratio",
            value: faults.abort_ratio.to_string(),
            detail: "aborting transactions needs --delivery transactional".into(),
        }
        .into());
    }
    let job = produce::ProduceJob {
        kafka: c.kafka,
        topic: c.topic,
        side,
        delivery: match delivery {
            Delivery::Transactional => DeliveryMode::Transactional {
                transactional_id: transactional_id.clone(),
                transaction_timeout,
            },
            Delivery::Idempotent => DeliveryMode::Idempotent,
        },
        producer_id: transactional_id,
        seed: pick(args.seed.clone(), f.seed.clone(), defaults::SEED.into()),
        start_page: pick(args.start_page, f.start_page, defaults::START_PAGE),
        page_size: pick(args.page_size, f.page_size, defaults::PAGE_SIZE),
        count: args.count.or(f.count),
        last_page: args.last_page.or(f.last_page),
        run_for: duration("--for", &args.run_for.clone().or(f.run_for.clone()))?,
        every: duration("--every", &args.every.clone().or(f.every.clone()))?,
        create_partitions: Some(pick(args.partitions, f.partitions, defaults::PARTITIONS)),
        schema_version: args.schema_version.or(f.schema_version),
        faults,
        timeout: c.timeout,
    };
    let location = pick(
        args.source.clone(),
        f.source.clone(),
        defaults::SOURCE.into(),
    );
    let config = super::status_config::produce(&job, &location, &c.registry);
    let mut source = crate::source::open(&SourceSpec {
        location,
        name: args.source_name.clone().or(f.source_name.clone()),
        nat: args.nat.clone().or(f.nat.clone()),
        rate: args.rate.or(f.rate),
    })
    .map_err(PipelineError::from)?;
    let registry = registry_client(&c.registry, &c.registry_auth, c.timeout)?;
    let metrics = crate::metrics::Registry::new();
    let observed = ProduceMetrics::new(&metrics);
    observed
        .status
        .describe("produce", &job.topic, config, now_ms());
    let summary = serve_while(listen, &metrics, runtime.handle(), || {
        let handle = runtime.handle();
        produce::run_with_metrics(
            &job,
            source.as_mut(),
            &registry,
            handle,
            shutdown,
            &observed,
        )
        .map_err(CliError::from)
    })?;
    crate::outln!("{summary}");
    Ok(ExitCode::SUCCESS)
}

fn run_process(
    args: &ProcessArgs,
    file: &FileConfig,
    runtime: &Runtime,
    shutdown: &Shutdown,
) -> Result<ExitCode, CliError> {
    let listen = metrics_listen(&args.metrics, file)?;
    let c = common(&args.common, file)?;
    let reader = reader_schema(args.reader_schema.as_deref(), file)?;
    let f = &file.process;
    let sink_url = sink_url(&args.sink, file)?;
    let dlq_topic = (!args.no_dlq).then(|| {
        args.dlq_topic
            .clone()
            .or(f.dlq_topic.clone())
            .unwrap_or_else(|| format!("{}.dlq", c.topic))
    });
    let mut kafka = c.kafka;
    if let Some(id) = args.instance_id.as_ref().or(f.instance_id.as_ref()) {
        kafka
            .properties
            .push(("group.instance.id".to_string(), id.clone()));
    }
    let job = process::ProcessJob {
        kafka,
        topic: c.topic,
        group: pick(args.group.clone(), f.group.clone(), defaults::GROUP.into()),
        policy: BatchPolicy {
            max_records: pick(args.batch_max, f.batch_max, defaults::BATCH_MAX).max(1),
            linger_ms: parse_duration(
                "--batch-linger",
                &pick(
                    args.batch_linger.clone(),
                    f.batch_linger.clone(),
                    defaults::BATCH_LINGER.into(),
                ),
            )?
            .as_millis() as u64,
        },
        reset_offsets: args.reset_offsets,
        skip_lost_records: args.skip_lost_records,
        consumer_rebuilds: rebuilds_so_far(),
        membership: GroupOptions {
            protocol: match args.group_protocol {
                Some(GroupProtocolArg::Classic) => GroupProtocol::Classic,
                Some(GroupProtocolArg::Consumer) => GroupProtocol::Consumer,
                None => f.group_protocol.unwrap_or_default(),
            },
            session_timeout: match args.session_timeout.as_ref().or(f.session_timeout.as_ref()) {
                Some(t) => parse_duration("--session-timeout", t)?,
                None => GroupOptions::default().session_timeout,
            },
            max_poll_interval: match args
                .max_poll_interval
                .as_ref()
                .or(f.max_poll_interval.as_ref())
            {
                Some(t) => parse_duration("--max-poll-interval", t)?,
                None => GroupOptions::default().max_poll_interval,
            },
            statistics: None,
        },
        faults: process::ProcessFaults {
            consumer_fatal_after: args.inject_consumer_fatal_after,
            sink_stall: args
                .inject_sink_stall
                .as_deref()
                .map(|d| parse_duration("--inject-sink-stall", d))
                .transpose()?
                .map(|d| (args.inject_sink_stall_at_batch.max(1), d)),
        },
        exit_when_idle: args
            .exit_when_idle
            .as_deref()
            .or(f.exit_when_idle.as_deref())
            .map(|d| parse_duration("--exit-when-idle", d))
            .transpose()?,
        max_records: args.max_records,
        dlq_topic,
        timeout: c.timeout,
    };
    let m = job.membership;
    if m.protocol == GroupProtocol::Classic && m.max_poll_interval < m.session_timeout {
        return Err(crate::config::ConfigError::Value {
            name: "--max-poll-interval",
            value: format!("{:?}", m.max_poll_interval),
            detail: format!(
                "the classic group protocol wants it at least the session timeout ({:?}, --session-timeout)",
                m.session_timeout
            ),
        }
        .into());
    }
    let sink = sink_url.open().map_err(PipelineError::from)?;
    let registry = registry_client(&c.registry, &c.registry_auth, c.timeout)?;
    let metrics = crate::metrics::Registry::new();
    let mut observed = ProcessMetrics::new(&metrics);
    if listen.is_none() {
        // Nobody reads them: no librdkafka statistics, no group descriptions for the page.
        observed.lag_interval = None;
    }
    let config = super::status_config::process(&job, &sink_url, &c.registry);
    observed
        .status
        .describe("process", &job.topic, config, now_ms());
    let summary = serve_while(listen, &metrics, runtime.handle(), || {
        let handle = runtime.handle();
        process::run_with_metrics(&job, sink, &registry, &reader, handle, shutdown, &observed)
            .map_err(CliError::from)
    });
    let summary = match summary {
        Err(CliError::Pipeline(PipelineError::ConsumerFailed { group, detail }))
            if job.consumer_rebuilds < process::MAX_CONSUMER_REBUILDS =>
        {
            return Err(rebuild(&group, &detail, job.consumer_rebuilds + 1));
        }
        other => other?,
    };
    crate::outln!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// The environment variable that counts a processor's rebuilds across its re-executions
/// (internal: set by eosflow for itself).
const REBUILDS_ENV: &str = "EOSFLOW_CONSUMER_REBUILDS";

fn rebuilds_so_far() -> u32 {
    std::env::var(REBUILDS_ENV)
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Rebuild the processor after a fatal consumer error by executing this binary again with the
/// same arguments: librdkafka cannot tear a fatally failed consumer down in-process, and a new
/// process is a clean new member that seeks to the sink's offsets. Returns only if the
/// re-execution itself fails.
fn rebuild(group: &str, detail: &str, rebuilds: u32) -> CliError {
    use std::os::unix::process::CommandExt;
    tracing::error!(group, error = %detail, rebuilds, "the Kafka consumer failed for good; rebuilding the processor (the batch not in the sink is dropped, the sink's offsets stand)");
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => return PipelineError::Other(format!("cannot rebuild the processor after a fatal consumer error ({detail}): the binary's path is unknown: {e}")).into(),
    };
    let err = std::process::Command::new(&exe)
        .args(std::env::args_os().skip(1))
        .env(REBUILDS_ENV, rebuilds.to_string())
        .exec();
    PipelineError::Other(format!(
        "cannot rebuild the processor after a fatal consumer error ({detail}): executing {} failed: {err}",
        exe.display()
    ))
    .into()
}

fn run_verify(
    args: &VerifyArgs,
    file: &FileConfig,
    runtime: &Runtime,
) -> Result<ExitCode, CliError> {
    let c = common(&args.common, file)?;
    let reader = reader_schema(args.reader_schema.as_deref(), file)?;
    let mut sink = sink_url(&args.sink, file)?
        .open()
        .map_err(PipelineError::from)?;
    let registry = registry_client(&c.registry, &c.registry_auth, c.timeout)?;
    let dlq_topic = args
        .dlq_topic
        .clone()
        .or(file.process.dlq_topic.clone())
        .unwrap_or_else(|| format!("{}.dlq", c.topic));
    let mut side = SideTopics::for_topic(&c.topic);
    if let Some(t) = args
        .rejects_topic
        .as_ref()
        .or(file.produce.rejects_topic.as_ref())
    {
        side.rejects = t.clone();
    }
    if let Some(t) = args
        .progress_topic
        .as_ref()
        .or(file.produce.progress_topic.as_ref())
    {
        side.progress = t.clone();
    }
    let job = verify::VerifyJob {
        kafka: &c.kafka,
        topic: &c.topic,
        dlq_topic: &dlq_topic,
        side: &side,
        timeout: c.timeout,
    };
    let report = verify::run(&job, sink.as_mut(), &registry, &reader, runtime.handle())?;
    if args.json {
        crate::outln!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        crate::outln!("{report}");
    }
    Ok(if report.exact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `doctor`: the same settings as `process`, a short default timeout (5s per request).
fn run_doctor(
    args: &super::args::DoctorArgs,
    file: &FileConfig,
    runtime: &Runtime,
) -> Result<ExitCode, CliError> {
    let c = common(&args.common, file)?;
    let sink = sink_url(&args.sink, file)?;
    let transactional = match args.delivery {
        Some(d) => d == Delivery::Transactional,
        None => file.produce.delivery.as_deref() != Some("idempotent"),
    };
    let timeout = match (&args.common.timeout, &file.kafka.timeout) {
        (None, None) => parse_duration("--timeout", defaults::DOCTOR_TIMEOUT)?,
        _ => c.timeout,
    };
    let options = doctor::DoctorOptions {
        dlq_topic: args
            .dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", c.topic)),
        progress_topic: (args.progress_topic.clone())
            .unwrap_or_else(|| SideTopics::for_topic(&c.topic).progress),
        kafka: c.kafka,
        topic: c.topic,
        transactional,
        registry: c.registry,
        registry_auth: c.registry_auth,
        sink,
        timeout,
    };
    let probe = doctor::validate(&options)?;
    let report = doctor::run(&options, probe, runtime.handle());
    let out = if args.json {
        report.json() + "\n"
    } else {
        report.text()
    };
    crate::out!("{}", crate::secret::scrub(&out));
    Ok(ExitCode::from(report.exit_code()))
}

fn run_demo(args: &DemoArgs, runtime: &Runtime, shutdown: &Shutdown) -> Result<ExitCode, CliError> {
    let exact = demo::run(
        &demo::DemoOptions {
            records: args.records,
            page_size: args.page_size,
            sink: args.sink.clone(),
            show: args.show,
            keep: args.keep,
        },
        runtime,
        shutdown,
    )?;
    Ok(if exact {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_mock_broker(args: &MockBrokerArgs, shutdown: &Shutdown) -> Result<ExitCode, CliError> {
    let broker =
        crate::kafka::mock::DemoBroker::start(args.brokers).map_err(PipelineError::from)?;
    for spec in &args.topics {
        let (name, partitions) = spec
            .rsplit_once(':')
            .and_then(|(n, p)| Some((n, p.parse::<i32>().ok()?)))
            .ok_or_else(|| crate::config::ConfigError::Value {
                name: "--topic",
                value: spec.clone(),
                detail: "expected NAME:PARTITIONS, e.g. users:4".into(),
            })?;
        broker
            .create_topic(name, partitions)
            .map_err(PipelineError::from)?;
    }
    crate::outln!("bootstrap={}", broker.bootstrap());
    eprintln!("in-memory MockCluster (not a real Kafka: it shows aborted records and does not fence); stop with Ctrl-C");
    while !shutdown.requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ExitCode::SUCCESS)
}
