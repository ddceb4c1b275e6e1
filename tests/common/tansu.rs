//! A private tansu broker for one test: its own loopback port (from a free-port probe) and its own
//! fresh data directory, so the test may kill and restart it without disturbing the shared broker
//! of `scripts/test-env` or other tests. Same binary (`EOSFLOW_TEST_TANSU_BIN`) and same flags as
//! `scripts/test-env` (sqlite engine, loopback listener and advertised listener). Stopped on drop.
//!
//! Include it with `#[path = "common/tansu.rs"] mod tansu;` (it needs no other helper).
#![allow(dead_code)]

use std::fs::OpenOptions;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long tansu may take to open its port after a start or restart.
const READY_LIMIT: Duration = Duration::from_secs(60);

/// Environment variables tansu reads besides its flags: kept out of the private broker.
const TANSU_ENV: [&str; 6] = [
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
];

/// How to stop the broker process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: tansu shuts down on its own terms.
    Term,
    /// SIGKILL: a crash; the sqlite data must survive it.
    Kill,
}

/// A tansu broker owned by one test.
pub struct PrivateTansu {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// Completed restarts.
    pub restarts: u32,
}

impl PrivateTansu {
    /// Start a broker on a free loopback port with a fresh data directory. Panics, with tansu's
    /// log, when it cannot start; fails loudly when the test env is not set up.
    pub fn start() -> PrivateTansu {
        let bin = std::env::var("EOSFLOW_TEST_TANSU_BIN").unwrap_or_else(|_| {
            panic!("EOSFLOW_TEST_TANSU_BIN is not set: run `scripts/test-env start && . <(scripts/test-env env)` first (README: Tests)")
        });
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "EOSFLOW_TEST_TANSU_BIN={} is not a file: run `scripts/test-env start`",
            bin.display()
        );
        let mut last_log = String::new();
        // The probed port can be taken by someone else before tansu binds it: try a few.
        for _ in 0..3 {
            let dir = tempfile::Builder::new()
                .prefix("eosflow-tansu-")
                .tempdir()
                .expect("tansu data dir");
            // tansu reads a .env in its working directory: keep it empty.
            std::fs::write(dir.path().join(".env"), "").expect("empty .env");
            let mut tansu = PrivateTansu {
                bin: bin.clone(),
                dir,
                port: free_port(),
                child: None,
                restarts: 0,
            };
            if tansu.launch() {
                return tansu;
            }
            last_log = tansu.log_tail(30);
        }
        panic!("tansu did not start on a free loopback port (3 attempts); its log:\n{last_log}");
    }

    /// `127.0.0.1:PORT`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The data directory (sqlite database, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stop the broker (it must be running) and reap it.
    pub fn stop(&mut self, how: Stop) {
        let mut child = self.child.take().expect("tansu is running");
        match how {
            Stop::Kill => child.kill().expect("SIGKILL tansu"),
            Stop::Term => {
                let ok = Command::new("kill")
                    .args(["-TERM", &child.id().to_string()])
                    .status()
                    .expect("kill -TERM");
                assert!(ok.success(), "kill -TERM tansu");
            }
        }
        child.wait().expect("reap tansu");
    }

    /// Start the broker again on the same port and data directory; panics with its log if it does
    /// not come up.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart a stopped broker");
        assert!(
            self.launch(),
            "tansu did not restart on 127.0.0.1:{}; its log:\n{}",
            self.port,
            self.log_tail(30)
        );
        self.restarts += 1;
    }

    /// The last `n` lines of tansu's log (all runs of this broker).
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("tansu.log")
    }

    /// Spawn tansu and wait until its port accepts connections; false if it exited or never opened.
    fn launch(&mut self) -> bool {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("tansu log");
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(&self.bin);
        cmd.current_dir(self.dir.path())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        for name in TANSU_ENV {
            cmd.env_remove(name);
        }
        let child = cmd.spawn().expect("spawn tansu");
        self.child = Some(child);
        let deadline = Instant::now() + READY_LIMIT;
        while Instant::now() < deadline {
            let exited = self
                .child
                .as_mut()
                .map(|c| c.try_wait().expect("try_wait tansu").is_some())
                .unwrap_or(true);
            if exited {
                self.child = None;
                return false;
            }
            if TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        false
    }
}

impl Drop for PrivateTansu {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("probe a free loopback port")
}
