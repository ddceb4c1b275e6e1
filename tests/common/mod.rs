//! Shared helpers of the integration tests: the services from `scripts/test-env`, an in-process
//! registry, unique names, and running the `eosflow` binary.
#![allow(dead_code)]

pub mod mock_broker;
pub mod tls;

use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

use eosflow::registry::server::RegistryServer;
use tokio::runtime::Runtime;

/// A required service address from the environment; fails loudly when the test env is not up.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run `scripts/test-env start && . <(scripts/test-env env)` first (README: Tests)")
    })
}

/// The shared test broker's bootstrap address (Apache Kafka, `scripts/test-env`).
pub fn bootstrap() -> String {
    required_env("EOSFLOW_TEST_BOOTSTRAP")
}

/// The test PostgreSQL URL.
pub fn postgres_url() -> String {
    required_env("EOSFLOW_TEST_POSTGRES")
}

/// A name unique to this test run: `prefix_pid_nanos`, safe for topics, tables and groups.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        nanos % 1_000_000_000_000
    )
}

/// An in-process Schema Registry with its runtime.
pub struct Registry {
    pub runtime: Runtime,
    pub server: Option<RegistryServer>,
    pub url: String,
}

impl Registry {
    pub fn start() -> Registry {
        let runtime = Runtime::new().expect("tokio runtime");
        let server = runtime
            .block_on(RegistryServer::start(([127, 0, 0, 1], 0).into(), None))
            .expect("registry starts");
        let url = server.url();
        Registry {
            runtime,
            server: Some(server),
            url,
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.stop());
        }
    }
}

/// The `eosflow` binary built for these tests.
pub fn eosflow() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eosflow"));
    cmd.env("EOSFLOW_LOG", "warn");
    // Keep the developer's own EOSFLOW_* settings out of the tests.
    for (k, _) in std::env::vars() {
        if k.starts_with("EOSFLOW_") && !k.starts_with("EOSFLOW_TEST") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Run to completion; panic with stdout and stderr when the exit status is not `expect_code`.
pub fn run_ok(cmd: &mut Command) -> Output {
    run_expect(cmd, 0)
}

pub fn run_expect(cmd: &mut Command, expect_code: i32) -> Output {
    let out = cmd.output().expect("eosflow runs");
    if out.status.code() != Some(expect_code) {
        panic!(
            "{cmd:?} exited {:?} (expected {expect_code})\n--- stdout\n{}\n--- stderr\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `eosflow produce` of `count` generated users (transactional delivery) into `topic`.
pub fn produce(
    registry: &Registry,
    topic: &str,
    partitions: u32,
    seed: &str,
    page_size: u32,
    count: u64,
) -> Output {
    run_ok(
        eosflow()
            .arg("produce")
            .args([
                "--bootstrap",
                &bootstrap(),
                "--registry",
                &registry.url,
                "--topic",
                topic,
            ])
            .args(["--partitions", &partitions.to_string(), "--seed", seed])
            .args([
                "--page-size",
                &page_size.to_string(),
                "--count",
                &count.to_string(),
            ]),
    )
}

/// The high watermark of `topic`'s `partition` on the shared broker: the offset the next record
/// gets (transaction markers take offsets too, so it is not the count of records). Asked of a
/// topic just written to: a fresh client answered 0 once in CI (before it knew the partition's
/// leader), so a 0 is asked again for a few seconds.
pub fn end_offset(topic: &str, partition: i32) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("watermark client");
    let mut high = 0;
    for _ in 0..20 {
        high = consumer
            .fetch_watermarks(topic, partition, std::time::Duration::from_secs(10))
            .expect("watermarks")
            .1;
        if high > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    high
}

/// Crash the test PostgreSQL (immediate shutdown, no checkpoint) and start it again, through
/// `scripts/test-env pg-crash`; returns once it takes connections.
pub fn crash_postgres() {
    test_env("pg-crash");
}

/// SIGKILL the test Cassandra node and start it again on its data, through
/// `scripts/test-env cassandra-crash`; returns once it answers CQL.
pub fn crash_cassandra() {
    test_env("cassandra-crash");
}

fn test_env(command: &str) {
    let script = required_env("EOSFLOW_TEST_ENV");
    let out = Command::new(&script)
        .arg(command)
        .output()
        .unwrap_or_else(|e| panic!("run {script} {command}: {e}"));
    assert!(
        out.status.success(),
        "{script} {command} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
