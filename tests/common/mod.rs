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

/// tansu's bootstrap address.
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

/// `eosflow produce` of `count` generated users (idempotent delivery, for tansu) into `topic`.
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
            .args(["produce", "--delivery", "idempotent"])
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
