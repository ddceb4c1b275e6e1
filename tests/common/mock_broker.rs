//! `eosflow mock-broker` (librdkafka's MockCluster) as a child process, stopped on drop.
//! MockCluster's CreateTopics times out, so every topic a test needs is created up front.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::eosflow;

pub struct MockBroker {
    pub bootstrap: String,
    child: Option<Child>,
}

impl MockBroker {
    /// Start a MockCluster with `topics` as (name, partitions).
    pub fn start(topics: &[(&str, u32)]) -> MockBroker {
        let mut cmd = eosflow();
        cmd.arg("mock-broker");
        for (name, partitions) in topics {
            cmd.args(["--topic", &format!("{name}:{partitions}")]);
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn eosflow mock-broker");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("mock-broker stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("mock-broker prints its bootstrap line");
        let bootstrap = line
            .trim()
            .strip_prefix("bootstrap=")
            .unwrap_or_else(|| panic!("mock-broker printed {line:?}, expected bootstrap=HOST:PORT"))
            .to_string();
        MockBroker {
            bootstrap,
            child: Some(child),
        }
    }

    /// A MockCluster holding `topic` (4 partitions) and the side topics produce and process use.
    pub fn for_topic(topic: &str) -> MockBroker {
        let side = |s: &str| format!("{topic}.{s}");
        let (rejects, progress, dlq) = (side("rejects"), side("progress"), side("dlq"));
        MockBroker::start(&[(topic, 4), (&rejects, 4), (&progress, 1), (&dlq, 1)])
    }
}

impl Drop for MockBroker {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
