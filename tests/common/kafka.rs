//! A private Apache Kafka cluster for one test: its own loopback ports and data directories, so
//! the test may kill, pause and restart its brokers without disturbing the shared broker of
//! `scripts/test-env` or other tests. Started, signalled and stopped through
//! `scripts/kafka-cluster` (`EOSFLOW_TEST_KAFKA`), the one place that knows how a test broker is
//! configured. Stopped on drop.
//!
//! Include it with `#[path = "common/kafka.rs"] mod kafka;` (it needs no other helper).
#![allow(dead_code)]

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// A signal for one broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// SIGKILL: a crash; the log must survive it.
    Kill,
    /// SIGSTOP: the JVM freezes (a long GC pause, a partitioned host); SIGCONT resumes it.
    Stop,
    Cont,
}

impl Signal {
    fn name(self) -> &'static str {
        match self {
            Signal::Kill => "KILL",
            Signal::Stop => "STOP",
            Signal::Cont => "CONT",
        }
    }
}

/// A Kafka cluster owned by one test.
pub struct PrivateKafka {
    script: PathBuf,
    dir: tempfile::TempDir,
    brokers: u32,
    bootstrap: String,
    /// Completed node restarts.
    pub restarts: u32,
}

impl PrivateKafka {
    /// Start `brokers` nodes on free loopback ports with fresh data; panics with the launcher's
    /// output when they do not come up; fails loudly when the test env is not set up.
    pub fn start(brokers: u32) -> PrivateKafka {
        let script = PathBuf::from(std::env::var("EOSFLOW_TEST_KAFKA").unwrap_or_else(|_| {
            panic!("EOSFLOW_TEST_KAFKA is not set: run `scripts/test-env start && . <(scripts/test-env env)` first (README: Tests)")
        }));
        assert!(
            script.is_file(),
            "EOSFLOW_TEST_KAFKA={} is not a file: run `scripts/test-env start`",
            script.display()
        );
        let mut last = String::new();
        // Ports probed free can be taken by someone else before the brokers bind them: try a few.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("eosflow-kafka-")
                .tempdir()
                .expect("kafka data dir");
            let port = free_port_block(brokers);
            let out = Command::new(&script)
                .arg("start")
                .arg(dir.path())
                .args([
                    "--brokers",
                    &brokers.to_string(),
                    "--port",
                    &port.to_string(),
                ])
                .output()
                .expect("run scripts/kafka-cluster");
            if out.status.success() {
                let mut kafka = PrivateKafka {
                    script,
                    dir,
                    brokers,
                    bootstrap: String::new(),
                    restarts: 0,
                };
                kafka.bootstrap = kafka.cluster(&["bootstrap"]).trim().to_string();
                return kafka;
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            let _ = Command::new(&script).arg("stop").arg(dir.path()).output();
        }
        panic!("a private Kafka cluster of {brokers} node(s) did not start (3 attempts):\n{last}");
    }

    /// `127.0.0.1:P1,127.0.0.1:P2,...`.
    pub fn bootstrap(&self) -> String {
        self.bootstrap.clone()
    }

    pub fn brokers(&self) -> u32 {
        self.brokers
    }

    /// The cluster directory (each node's data and `broker.log` under `nodeN/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Send `signal` to node `node` (1-based). After `Kill` the node is down until [`Self::restart`].
    pub fn signal(&self, node: u32, signal: Signal) {
        self.cluster(&["signal", &node.to_string(), signal.name()]);
    }

    /// Start a killed node again on its ports and data; waits until every node answers.
    pub fn restart(&mut self, node: u32) {
        self.cluster(&["start-node", &node.to_string()]);
        self.restarts += 1;
    }

    /// The process id of node `node`, if it runs.
    pub fn pid(&self, node: u32) -> Option<u32> {
        self.cluster(&["pid", &node.to_string()])
            .trim()
            .parse()
            .ok()
    }

    /// The last `n` lines of every node's log.
    pub fn log_tail(&self, n: usize) -> String {
        (1..=self.brokers)
            .map(|i| {
                let text = std::fs::read_to_string(self.dir().join(format!("node{i}/broker.log")))
                    .unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                format!(
                    "--- node {i}\n{}",
                    lines[lines.len().saturating_sub(n)..].join("\n")
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// Run `scripts/kafka-cluster COMMAND DIR ARGS...`; panics with its output on failure.
    fn cluster(&self, args: &[&str]) -> String {
        let out = Command::new(&self.script)
            .arg(args[0])
            .arg(self.dir.path())
            .args(&args[1..])
            .output()
            .expect("run scripts/kafka-cluster");
        assert!(
            out.status.success(),
            "scripts/kafka-cluster {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stderr),
            self.log_tail(20)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for PrivateKafka {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// A port P such that P..P+n (clients) and P+100..P+100+n (controllers) are free right now.
fn free_port_block(n: u32) -> u16 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        ^ std::process::id();
    for attempt in 0..200u32 {
        let base = 20_000 + (seed.wrapping_add(attempt.wrapping_mul(7919)) % 30_000) as u16;
        let free = (0..n as u16).all(|i| {
            [base + i, base + 100 + i]
                .iter()
                .all(|&p| TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok())
        });
        if free {
            return base;
        }
    }
    panic!("no block of free loopback ports for {n} Kafka node(s)");
}
