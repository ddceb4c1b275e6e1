//! Flags and their `EOSFLOW_*` environment variables. Every value is optional here so that the
//! config file can fill what neither flag nor env gave (see [`crate::config`]).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "eosflow",
    version,
    about = "Exactly-once users -> Kafka -> database"
)]
pub struct Cli {
    /// TOML config file (see eosflow.toml.example).
    #[arg(
        long,
        global = true,
        env = "EOSFLOW_CONFIG",
        help_heading = "Global options"
    )]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, env = "EOSFLOW_LOG_FORMAT", value_enum, default_value_t = LogFormat::Pretty, help_heading = "Global options")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Fetch users, encode Avro (registered), write to Kafka in transactions.
    Produce(ProduceArgs),
    /// Consume users (read_committed) and write them exactly once to a sink.
    Process(ProcessArgs),
    /// Reconcile a topic with a sink: expected, present, missing, duplicates, extra.
    Verify(VerifyArgs),
    /// Check the connections `process` and `produce` need: broker (and transaction support),
    /// topics, registry, sink; --timeout per request (exit 0 all pass, 1 a
    /// check failed, 2 invalid configuration).
    Doctor(DoctorArgs),
    /// Schema Registry commands.
    #[command(subcommand)]
    Registry(RegistryCommand),
    /// Schema evolution: compat, check, lint (exit 0 compatible, 1 incompatible, 2 invalid input).
    #[command(subcommand)]
    Schema(crate::cli::schema::SchemaCommand),
    /// Zero-setup demo: in-memory broker + embedded registry + SQLite.
    Demo(DemoArgs),
    /// Throughput figures from the real jobs: produce (and optionally process) N users.
    Bench(BenchArgs),
    /// Run librdkafka's in-memory MockCluster as a process (tests, benchmarks); prints
    /// `bootstrap=HOST:PORT` and serves until stopped. Not a real Kafka: see README.
    MockBroker(MockBrokerArgs),
}

/// Connection settings shared by the Kafka commands.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Kafka bootstrap servers (host:port,...).
    #[arg(long, env = "EOSFLOW_BOOTSTRAP")]
    pub bootstrap: Option<String>,
    /// Schema Registry URL.
    #[arg(long, env = "EOSFLOW_REGISTRY", hide_env_values = true)]
    pub registry: Option<String>,
    /// Topic of user records.
    #[arg(long, env = "EOSFLOW_TOPIC")]
    pub topic: Option<String>,
    /// Timeout for broker and registry operations (e.g. 30s).
    #[arg(value_name = "DURATION", value_parser = crate::config::duration_flag, long, env = "EOSFLOW_TIMEOUT")]
    pub timeout: Option<String>,
    /// librdkafka property passed through (repeatable), e.g. linger.ms=10; overrides
    /// EOSFLOW_KAFKA_PROPERTIES and [kafka.properties].
    #[arg(long = "kafka-property", value_name = "KEY=VALUE")]
    pub kafka_properties: Vec<String>,
    #[command(flatten)]
    pub kafka_security: crate::cli::security::KafkaSecurityArgs,
    #[command(flatten)]
    pub registry_auth: crate::cli::security::RegistryAuthArgs,
}

/// Prometheus metrics of a long-running job (`produce`, `process`).
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://ADDR/metrics and a live status page at http://ADDR/
    /// while the job runs, e.g. 127.0.0.1:9464 (port 0 picks a free port; the address is logged).
    #[arg(long, env = "EOSFLOW_METRICS_LISTEN", value_name = "ADDR")]
    pub metrics_listen: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupProtocolArg {
    Classic,
    Consumer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Delivery {
    /// One Kafka transaction per page (default).
    Transactional,
    /// Idempotent producer only, for brokers without transactions (e.g. tansu).
    Idempotent,
}

#[derive(Debug, Clone, Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Delivery mode.
    #[arg(long, env = "EOSFLOW_DELIVERY", value_enum)]
    pub delivery: Option<Delivery>,
    /// transactional.id (one per producer instance; a restart with the same id fences the old one).
    #[arg(long, env = "EOSFLOW_TRANSACTIONAL_ID")]
    pub transactional_id: Option<String>,
    /// Source: `generator` (offline, deterministic) or a randomuser-compatible URL
    /// (e.g. https://randomuser.me/api/).
    #[arg(long, env = "EOSFLOW_SOURCE", hide_env_values = true)]
    pub source: Option<String>,
    /// Name recorded in each user's identity for an HTTP source (default: randomuser).
    #[arg(long, env = "EOSFLOW_SOURCE_NAME")]
    pub source_name: Option<String>,
    /// randomuser `nat` filter for an HTTP source, e.g. us,gb.
    #[arg(long, env = "EOSFLOW_NAT")]
    pub nat: Option<String>,
    /// Most HTTP requests per second to the source.
    #[arg(long, env = "EOSFLOW_RATE", value_parser = crate::config::positive_rate)]
    pub rate: Option<f64>,
    /// Stop starting new pages after this long (e.g. 5m).
    #[arg(value_parser = crate::config::duration_flag, long = "for", env = "EOSFLOW_FOR", value_name = "DURATION")]
    pub run_for: Option<String>,
    /// Produce one page every interval (e.g. 10s), the classic DAG's schedule.
    #[arg(value_parser = crate::config::duration_flag, long, env = "EOSFLOW_EVERY", value_name = "DURATION")]
    pub every: Option<String>,
    /// Topic for users that fail validation (default <topic>.rejects).
    #[arg(long, env = "EOSFLOW_REJECTS_TOPIC")]
    pub rejects_topic: Option<String>,
    /// Compacted topic holding the producer's cursor (default <topic>.progress).
    #[arg(long, env = "EOSFLOW_PROGRESS_TOPIC")]
    pub progress_topic: Option<String>,
    /// Source seed: with page and index it identifies every user.
    #[arg(long, env = "EOSFLOW_SEED")]
    pub seed: Option<String>,
    /// First page (1-based).
    #[arg(long, env = "EOSFLOW_START_PAGE")]
    pub start_page: Option<u64>,
    /// Users per page (= per transaction): at most 5000 from randomuser, 10000 from the generator.
    #[arg(long, env = "EOSFLOW_PAGE_SIZE", value_parser = crate::config::at_least_one::<u32>)]
    pub page_size: Option<u32>,
    /// Stop after N users.
    #[arg(long, env = "EOSFLOW_COUNT")]
    pub count: Option<u64>,
    /// Stop after this page (inclusive); unlike --count it is absolute, so a restarted producer
    /// (which resumes from its cursor) aims at the same end.
    #[arg(long, env = "EOSFLOW_LAST_PAGE")]
    pub last_page: Option<u64>,
    /// Create the topic with this many partitions if it is missing.
    #[arg(long, env = "EOSFLOW_PARTITIONS", value_parser = crate::config::at_least_one::<i32>)]
    pub partitions: Option<i32>,
    /// Register and write this User schema version of `avro/` (user.vN.avsc); default: the newest.
    #[arg(long, env = "EOSFLOW_SCHEMA_VERSION", value_name = "N")]
    pub schema_version: Option<u32>,
    /// transaction.timeout.ms: a transaction open longer is aborted by the broker.
    #[arg(value_parser = crate::config::duration_flag, long, env = "EOSFLOW_TRANSACTION_TIMEOUT", value_name = "DURATION")]
    pub transaction_timeout: Option<String>,
    /// Precede this share of chunks (0 to 1) with an aborted transaction of canary copies of
    /// their users (transactional delivery): a read_committed reader must never see them.
    #[arg(long, env = "EOSFLOW_INJECT_ABORT_RATIO", value_name = "RATIO", value_parser = crate::config::ratio, help_heading = "Fault injection (drills and tests)")]
    pub inject_abort_ratio: Option<f64>,
    /// Which chunks abort: the same seed aborts the same chunks, across restarts.
    #[arg(
        long,
        env = "EOSFLOW_INJECT_SEED",
        default_value_t = 0,
        help_heading = "Fault injection (drills and tests)"
    )]
    pub inject_seed: u64,
    /// Stall this long inside one transaction, after its records are acknowledged and before its
    /// commit (with --transaction-timeout shorter: the broker aborts it).
    #[arg(
        value_parser = crate::config::duration_flag,
        long,
        env = "EOSFLOW_INJECT_STALL",
        value_name = "DURATION",
        help_heading = "Fault injection (drills and tests)"
    )]
    pub inject_stall: Option<String>,
    /// The chunk of this run (1-based) that --inject-stall stalls.
    #[arg(
        long,
        env = "EOSFLOW_INJECT_STALL_AT_CHUNK",
        value_name = "N",
        default_value_t = 1,
        help_heading = "Fault injection (drills and tests)"
    )]
    pub inject_stall_at_chunk: u64,
}

#[derive(Debug, Clone, Args)]
pub struct SinkArgs {
    /// Sink URL: sqlite://PATH, postgres://USER:PASS@HOST:PORT/DB or cassandra://HOST:PORT[,HOST:PORT]/KEYSPACE[?options].
    #[arg(long, env = "EOSFLOW_SINK", hide_env_values = true)]
    pub sink: Option<String>,
    /// Users table name.
    #[arg(long, env = "EOSFLOW_TABLE")]
    pub table: Option<String>,
    /// Password for the sink URL's user (postgres://USER@..., cassandra://USER@...), so that the
    /// URL need not hold it. Prefer EOSFLOW_SINK_PASSWORD: a flag shows in the process list.
    #[arg(
        long,
        env = "EOSFLOW_SINK_PASSWORD",
        hide_env_values = true,
        value_name = "PASSWORD"
    )]
    pub sink_password: Option<crate::secret::Secret>,
}

#[derive(Debug, Clone, Args)]
pub struct ProcessArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    /// Consumer group id.
    #[arg(long, env = "EOSFLOW_GROUP")]
    pub group: Option<String>,
    /// Static group membership (group.instance.id): a restarted processor with the same id takes
    /// over its predecessor's partitions at once instead of waiting for its session to expire.
    /// Give every processor of the group its own stable id. A static member does not leave the
    /// group on shutdown; its partitions move only after session.timeout.ms.
    #[arg(long, env = "EOSFLOW_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// The consumer-group protocol: classic, or consumer (KIP-848: the broker assigns, the
    /// session timeout is the broker's group.consumer.session.timeout.ms).
    #[arg(long, env = "EOSFLOW_GROUP_PROTOCOL", value_enum)]
    pub group_protocol: Option<GroupProtocolArg>,
    /// How long a member may be silent before the group gives its partitions to others (classic
    /// protocol; e.g. 45s on Kubernetes, where a pod reschedule takes a while).
    #[arg(value_parser = crate::config::duration_flag, long, env = "EOSFLOW_SESSION_TIMEOUT", value_name = "DURATION")]
    pub session_timeout: Option<String>,
    /// A member that does not poll for this long (a sink stuck in one commit) leaves the group;
    /// classic: at least the session timeout.
    #[arg(value_parser = crate::config::duration_flag, long, env = "EOSFLOW_MAX_POLL_INTERVAL", value_name = "DURATION")]
    pub max_poll_interval: Option<String>,
    /// Fail the consumer for good (a fatal librdkafka error) once this many records are
    /// committed: `process` must build a new one and go on.
    #[arg(
        long,
        env = "EOSFLOW_INJECT_CONSUMER_FATAL_AFTER",
        value_name = "RECORDS",
        help_heading = "Fault injection (drills and tests)"
    )]
    pub inject_consumer_fatal_after: Option<u64>,
    /// Stall the sink this long before one commit (a slow database), e.g. past
    /// max.poll.interval.ms.
    #[arg(
        value_parser = crate::config::duration_flag,
        long,
        env = "EOSFLOW_INJECT_SINK_STALL",
        value_name = "DURATION",
        help_heading = "Fault injection (drills and tests)"
    )]
    pub inject_sink_stall: Option<String>,
    /// The batch of this run (1-based) that --inject-sink-stall stalls.
    #[arg(
        long,
        env = "EOSFLOW_INJECT_SINK_STALL_AT_BATCH",
        value_name = "N",
        default_value_t = 1,
        help_heading = "Fault injection (drills and tests)"
    )]
    pub inject_sink_stall_at_batch: u64,
    /// Most records per sink transaction.
    #[arg(long, env = "EOSFLOW_BATCH_MAX", value_parser = crate::config::at_least_one::<usize>)]
    pub batch_max: Option<usize>,
    /// Longest wait before a non-full batch is written (e.g. 500ms).
    #[arg(value_parser = crate::config::duration_flag, long, env = "EOSFLOW_BATCH_LINGER", value_name = "DURATION")]
    pub batch_linger: Option<String>,
    /// Forget the sink's stored offsets and re-process from the beginning (idempotent).
    #[arg(long)]
    pub reset_offsets: bool,
    /// Go on past records that were deleted (retention) before this group read them, keeping
    /// each skipped range on record in the sink; without it `process` stops, naming the range.
    #[arg(long, env = "EOSFLOW_SKIP_LOST_RECORDS")]
    pub skip_lost_records: bool,
    /// Exit after nothing arrived for this long (e.g. 5s); default: run until stopped.
    #[arg(value_name = "DURATION", value_parser = crate::config::duration_flag, long, env = "EOSFLOW_EXIT_WHEN_IDLE")]
    pub exit_when_idle: Option<String>,
    /// Exit after this many records were written.
    #[arg(long)]
    pub max_records: Option<u64>,
    /// Dead-letter topic for records that cannot become rows (default <topic>.dlq).
    #[arg(long, env = "EOSFLOW_DLQ_TOPIC")]
    pub dlq_topic: Option<String>,
    /// Stop at the first poison record (naming its offset) instead of dead-lettering it.
    #[arg(long)]
    pub no_dlq: bool,
    /// Reader schema (.avsc) every record is decoded into, whatever version wrote it; default:
    /// the newest schema in `avro/`. Must parse strictly and map onto a User.
    #[arg(long, env = "EOSFLOW_READER_SCHEMA", value_name = "PATH")]
    pub reader_schema: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Dead-letter topic where poison records of the topic must be (default <topic>.dlq).
    #[arg(long, env = "EOSFLOW_DLQ_TOPIC")]
    pub dlq_topic: Option<String>,
    /// Reader schema (.avsc) every record is decoded into, whatever version wrote it; default:
    /// the newest schema in `avro/`. Must parse strictly and map onto a User.
    #[arg(long, env = "EOSFLOW_READER_SCHEMA", value_name = "PATH")]
    pub reader_schema: Option<PathBuf>,
    /// The producers' progress topic: what they committed at the source (default
    /// <topic>.progress).
    #[arg(long, env = "EOSFLOW_PROGRESS_TOPIC")]
    pub progress_topic: Option<String>,
    /// The producers' rejects topic: committed users that never reach the data topic (default
    /// <topic>.rejects).
    #[arg(long, env = "EOSFLOW_REJECTS_TOPIC")]
    pub rejects_topic: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub sink: SinkArgs,
    /// The delivery `produce` will use: `idempotent` turns missing transaction support into a
    /// warning.
    #[arg(long, env = "EOSFLOW_DELIVERY", value_enum)]
    pub delivery: Option<Delivery>,
    /// Dead-letter topic to look for (default <topic>.dlq).
    #[arg(long, env = "EOSFLOW_DLQ_TOPIC")]
    pub dlq_topic: Option<String>,
    /// Progress topic to look for (default <topic>.progress).
    #[arg(long, env = "EOSFLOW_PROGRESS_TOPIC")]
    pub progress_topic: Option<String>,
    /// Print the checks as a JSON array of {check, target, ok, status, detail, fix}.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RegistryCommand {
    /// Serve a Confluent-compatible Schema Registry API.
    Serve(ServeArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "EOSFLOW_REGISTRY_LISTEN",
        default_value = "127.0.0.1:8081"
    )]
    pub listen: SocketAddr,
    /// Directory for durable state (in memory when absent).
    #[arg(long, env = "EOSFLOW_REGISTRY_DATA")]
    pub data: Option<PathBuf>,
    /// Require HTTP basic auth: a file of `USER:PASSWORD` lines (`#` starts a comment). Without
    /// it the registry is open to anyone who can reach the address.
    #[arg(long, env = "EOSFLOW_REGISTRY_BASIC_AUTH_FILE", value_name = "PATH")]
    pub basic_auth_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Users to produce (at most 1000000: the demo broker keeps everything in memory).
    #[arg(long, default_value_t = 1000, value_parser = crate::config::at_least_one::<u64>)]
    pub records: u64,
    /// Users per transaction.
    #[arg(long, default_value_t = 100, value_parser = crate::config::at_least_one::<u32>)]
    pub page_size: u32,
    /// Sink URL (default: a SQLite file in a fresh temporary directory).
    #[arg(long)]
    pub sink: Option<String>,
    /// Rows of the name table to print.
    #[arg(long, default_value_t = 10)]
    pub show: usize,
    /// Keep the temporary directory of the default SQLite sink (it is removed otherwise).
    #[arg(long)]
    pub keep: bool,
}

#[derive(Debug, Clone, Args)]
pub struct MockBrokerArgs {
    /// Topics to create, as NAME:PARTITIONS (repeatable).
    #[arg(long = "topic", value_name = "NAME:PARTITIONS")]
    pub topics: Vec<String>,
    /// Number of brokers in the cluster.
    #[arg(long, default_value_t = 1)]
    pub brokers: i32,
}

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Bootstrap address of the Kafka to measure on (the test environment's by default), or
    /// `mock` for the in-process MockCluster (no isolation: its figures are not comparable).
    #[arg(long, default_value = "127.0.0.1:19092")]
    pub broker: String,
    /// Users of the default runs (10x with --full for the scale row).
    #[arg(long, default_value_t = 100_000, value_parser = crate::config::at_least_one::<u64>)]
    pub records: u64,
    /// Process into this sink URL (repeatable: sqlite://PATH, postgres://..., cassandra://...);
    /// none: SQLite in a temporary directory.
    #[arg(long = "sink", value_name = "URL")]
    pub sinks: Vec<String>,
    /// Most records per sink transaction, for process and the raw sink writers alike.
    #[arg(long, default_value_t = 5000, value_parser = crate::config::at_least_one::<usize>)]
    pub batch_max: usize,
    /// The long runs too: latency for 60 s (10 s by default), 10x the records, 2 and 3 members.
    #[arg(long)]
    pub full: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long, value_name = "FILE")]
    pub json: Option<std::path::PathBuf>,
}
