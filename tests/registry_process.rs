//! `eosflow registry serve` as a process: it announces its address and stops cleanly on SIGTERM
//! (as a container runtime or systemd stops it), not only on Ctrl-C.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::eosflow;

#[test]
fn registry_serve_answers_then_stops_on_sigterm() {
    let mut child = eosflow()
        .args(["registry", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn registry serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("address line");
    let url = line
        .trim()
        .strip_prefix("schema registry listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    let subjects = reqwest::blocking::get(format!("{url}/subjects"))
        .and_then(|r| r.text())
        .expect("GET /subjects");
    assert_eq!(subjects.trim(), "[]");
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill -TERM");
    assert!(term.success());
    // Bounded wait: a registry that ignores SIGTERM is killed and the test fails.
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let status = status.expect("registry serve did not stop on SIGTERM");
    assert!(status.success(), "exit status after SIGTERM: {status}");
}
