//! Resolve configuration (flags > env > file > defaults) and run the chosen job.

use std::process::ExitCode;
use std::time::Duration;

use tokio::runtime::Runtime;
use tracing::info;

use super::args::{
    Cli, Command, CommonArgs, Delivery, DemoArgs, MockBrokerArgs, ProcessArgs, ProduceArgs,
    SinkArgs, VerifyArgs,
};
use crate::avro::{load_reader_schema, ReaderSchemaError};
use crate::config::{parse_duration, parse_property, pick, FileConfig};
use crate::core::processor::BatchPolicy;
use crate::kafka::producer::DeliveryMode;
use crate::kafka::KafkaSettings;
use crate::pipeline::progress::SideTopics;
use crate::pipeline::{demo, process, produce, verify, PipelineError, Shutdown};
use crate::registry::client::RegistryClient;
use crate::registry::server::RegistryServer;
use crate::source::generator::Generator;
use crate::source::http::{HttpSource, HttpSourceConfig};
use crate::source::Source;

/// Errors of the CLI layer (everything else arrives already explained by its room).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Pipeline(#[from] crate::pipeline::PipelineError),
    #[error(transparent)]
    RegistryServer(#[from] crate::registry::server::RegistryServerError),
    #[error(
        "unknown source {0:?}: use `generator` (offline) or a randomuser-compatible http(s):// URL"
    )]
    UnknownSource(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    ReaderSchema(#[from] ReaderSchemaError),
}

/// Resolved connection settings.
struct Common {
    kafka: KafkaSettings,
    registry: String,
    topic: String,
    timeout: Duration,
}

fn common(args: &CommonArgs, file: &FileConfig) -> Result<Common, CliError> {
    let mut kafka = KafkaSettings::new(pick(
        args.bootstrap.clone(),
        file.kafka.bootstrap.clone(),
        "127.0.0.1:9092".into(),
    ));
    kafka.properties = file.kafka.properties.clone().into_iter().collect();
    for p in &args.kafka_properties {
        kafka.properties.push(parse_property(p)?);
    }
    let timeout = pick(
        args.timeout.clone(),
        file.kafka.timeout.clone(),
        "30s".into(),
    );
    Ok(Common {
        kafka,
        registry: pick(
            args.registry.clone(),
            file.registry.url.clone(),
            "http://127.0.0.1:8081".into(),
        ),
        topic: pick(args.topic.clone(), file.kafka.topic.clone(), "users".into()),
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

fn sink_url(args: &SinkArgs, file: &FileConfig) -> (String, String) {
    (
        pick(
            args.sink.clone(),
            file.process.sink.clone(),
            "sqlite://eosflow.db".into(),
        ),
        pick(
            args.table.clone(),
            file.process.table.clone(),
            "users".into(),
        ),
    )
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
        Command::Registry(super::args::RegistryCommand::Serve(args)) => {
            runtime.block_on(async {
                let server = RegistryServer::start(args.listen, args.data.clone()).await?;
                println!("schema registry listening on {}", server.url());
                let _ = tokio::signal::ctrl_c().await;
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
                page_size: args.page_size.max(1),
                delivery: match args.delivery {
                    Delivery::Transactional => DeliveryMode::Transactional {
                        transactional_id: "eosflow-bench".into(),
                    },
                    Delivery::Idempotent => DeliveryMode::Idempotent,
                },
                sink: args.sink.clone(),
                batch_max: args.batch_max.max(1),
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
        "eosflow-producer".into(),
    );
    let mut side = SideTopics::for_topic(&c.topic);
    if let Some(t) = &args.rejects_topic {
        side.rejects = t.clone();
    }
    if let Some(t) = &args.progress_topic {
        side.progress = t.clone();
    }
    let duration =
        |name, v: &Option<String>| v.as_deref().map(|d| parse_duration(name, d)).transpose();
    let job = produce::ProduceJob {
        kafka: c.kafka,
        topic: c.topic,
        side,
        delivery: match delivery {
            Delivery::Transactional => DeliveryMode::Transactional {
                transactional_id: transactional_id.clone(),
            },
            Delivery::Idempotent => DeliveryMode::Idempotent,
        },
        producer_id: transactional_id,
        seed: pick(args.seed.clone(), f.seed.clone(), "eosflow".into()),
        start_page: pick(args.start_page, f.start_page, 1),
        page_size: pick(args.page_size, f.page_size, 1000),
        count: args.count,
        last_page: args.last_page,
        run_for: duration("--for", &args.run_for)?,
        every: duration("--every", &args.every)?,
        create_partitions: Some(pick(args.partitions, f.partitions, 4)),
        schema_version: args.schema_version.or(f.schema_version),
        timeout: c.timeout,
    };
    let mut source: Box<dyn Source> = match args.source.as_str() {
        "generator" => Box::new(Generator::new()),
        url if url.starts_with("http://") || url.starts_with("https://") => {
            let defaults = HttpSourceConfig::default();
            Box::new(
                HttpSource::new(HttpSourceConfig {
                    url: url.to_string(),
                    name: args.source_name.clone(),
                    nat: args.nat.clone(),
                    rate: args.rate.or(defaults.rate),
                    ..defaults
                })
                .map_err(PipelineError::from)?,
            )
        }
        other => return Err(CliError::UnknownSource(other.into())),
    };
    let registry = RegistryClient::new(&c.registry, c.timeout).map_err(PipelineError::from)?;
    let summary = produce::run(&job, source.as_mut(), &registry, runtime.handle(), shutdown)?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

fn run_process(
    args: &ProcessArgs,
    file: &FileConfig,
    runtime: &Runtime,
    shutdown: &Shutdown,
) -> Result<ExitCode, CliError> {
    let c = common(&args.common, file)?;
    let reader = reader_schema(args.reader_schema.as_deref(), file)?;
    let f = &file.process;
    let (url, table) = sink_url(&args.sink, file);
    let dlq_topic = (!args.no_dlq).then(|| {
        args.dlq_topic
            .clone()
            .unwrap_or_else(|| format!("{}.dlq", c.topic))
    });
    let mut kafka = c.kafka;
    if let Some(id) = &args.instance_id {
        kafka
            .properties
            .push(("group.instance.id".to_string(), id.clone()));
    }
    let job = process::ProcessJob {
        kafka,
        topic: c.topic,
        group: pick(
            args.group.clone(),
            f.group.clone(),
            "eosflow-processor".into(),
        ),
        policy: BatchPolicy {
            max_records: pick(args.batch_max, f.batch_max, 5000).max(1),
            linger_ms: pick(args.batch_linger_ms, f.batch_linger_ms, 500),
        },
        reset_offsets: args.reset_offsets,
        exit_when_idle: args
            .exit_when_idle
            .as_deref()
            .map(|d| parse_duration("--exit-when-idle", d))
            .transpose()?,
        max_records: args.max_records,
        dlq_topic,
        timeout: c.timeout,
    };
    let sink = crate::sink::open(&url, &table).map_err(PipelineError::from)?;
    let registry = RegistryClient::new(&c.registry, c.timeout).map_err(PipelineError::from)?;
    let summary = process::run(&job, sink, &registry, &reader, runtime.handle(), shutdown)?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

fn run_verify(
    args: &VerifyArgs,
    file: &FileConfig,
    runtime: &Runtime,
) -> Result<ExitCode, CliError> {
    let c = common(&args.common, file)?;
    let reader = reader_schema(args.reader_schema.as_deref(), file)?;
    let (url, table) = sink_url(&args.sink, file);
    let mut sink = crate::sink::open(&url, &table).map_err(PipelineError::from)?;
    let registry = RegistryClient::new(&c.registry, c.timeout).map_err(PipelineError::from)?;
    let dlq_topic = args
        .dlq_topic
        .clone()
        .unwrap_or_else(|| format!("{}.dlq", c.topic));
    let report = verify::run(
        &c.kafka,
        &c.topic,
        &dlq_topic,
        sink.as_mut(),
        &registry,
        &reader,
        runtime.handle(),
        c.timeout,
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    } else {
        println!("{report}");
    }
    Ok(if report.exact() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_demo(args: &DemoArgs, runtime: &Runtime, shutdown: &Shutdown) -> Result<ExitCode, CliError> {
    let exact = demo::run(
        &demo::DemoOptions {
            records: args.records,
            page_size: args.page_size,
            sink: args.sink.clone(),
            show: args.show,
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
    println!("bootstrap={}", broker.bootstrap());
    eprintln!("in-memory MockCluster (not a real Kafka: it shows aborted records and does not fence); stop with Ctrl-C");
    while !shutdown.requested() {
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ExitCode::SUCCESS)
}
