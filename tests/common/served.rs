//! A job (`process`, `produce`) started with `--metrics-listen 127.0.0.1:0`: its metrics URL read
//! from its log, its stderr drained and kept, probes of its other paths, and SIGTERM with the
//! summary of a clean exit. Killed on drop.
//!
//! Include it with `#[path = "common/served.rs"] mod served;` (it needs no other helper).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a job may take to log its metrics address.
const STARTUP: Duration = Duration::from_secs(120);

/// A job started with `--metrics-listen 127.0.0.1:0`, its metrics URL read from its log.
pub struct Running {
    pub child: Child,
    /// `http://127.0.0.1:PORT/metrics`.
    pub url: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

impl Running {
    pub fn start(cmd: &mut Command) -> Running {
        let mut child = cmd
            .args(["--metrics-listen", "127.0.0.1:0"])
            .env("EOSFLOW_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn eosflow");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let keep = log.clone();
        // Drain stderr for the whole run (a full pipe would block the job).
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                keep.lock().expect("log").push(line.clone());
                let _ = tx.send(line);
            }
        });
        let url = metrics_url(&rx, &log);
        Running { child, url, log }
    }

    /// The status and body of `path` (`/healthz`, `/readyz`) on the metrics port.
    pub fn probe(&self, path: &str) -> (u16, String) {
        let url = self.url.replace("/metrics", path);
        let response = reqwest::blocking::get(&url)
            .unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", self.log()));
        (
            response.status().as_u16(),
            response.text().unwrap_or_default(),
        )
    }

    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// SIGTERM, then the summary line of a clean exit.
    pub fn terminate(mut self) -> String {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().expect("exits");
        assert!(exit.success(), "exit 0 after SIGTERM\n{}", self.log());
        let mut summary = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut summary).expect("stdout");
        }
        summary
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The URL from the log line `metrics: listening on http://127.0.0.1:PORT/metrics`.
fn metrics_url(lines: &Receiver<String>, log: &Mutex<Vec<String>>) -> String {
    let deadline = Instant::now() + STARTUP;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(at) = line.find("metrics: listening on http://") {
                    let rest = &line[at + "metrics: listening on ".len()..];
                    if let Some(end) = rest.find("/metrics") {
                        return rest[..end + "/metrics".len()].to_string();
                    }
                }
            }
            Err(_) => break,
        }
    }
    panic!(
        "no `metrics: listening on` line in the log:\n{}",
        log.lock().expect("log").join("\n")
    );
}
