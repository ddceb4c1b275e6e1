//! The bad-input catalogue of the command line and the config file: hostile or mistaken input,
//! one row each, every row an exit code 2 and a message naming what was wrong and where, before
//! anything is read or written (nothing is lost because nothing started). No service is needed:
//! rows that would reach the network point at a closed port with a short timeout.
//!
//! The other entry points keep their catalogues beside their own tests:
//! HTTP source responses in `tests/http_source.rs`, Kafka record bytes in `tests/dlq.rs` (each
//! ends in the dead-letter topic), registry requests in `tests/registry_server.rs`, and every
//! parser under the fuzzers (`tests/fuzz_corpus.rs`).

mod common;

use common::{eosflow, run_expect};

/// Marks a config-file row whose error names the value, not the file.
const VALUE_ONLY: &str = "(value only)";

/// A closed local port: connection refused at once.
const NOWHERE: &str = "127.0.0.1:1";

/// Runs `eosflow args`, expects exit 2, returns stderr.
fn fails(args: &[&str]) -> String {
    let out = run_expect(eosflow().args(args), 2);
    let mut err = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.stdout.is_empty() {
        err.push_str("\n(stdout) ");
        err.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    err
}

/// What is wrong with `err` as the answer to `args`, if anything.
fn problems(args: &[&str], err: &str, needles: &[&str], secret: Option<&str>) -> Vec<String> {
    let mut found: Vec<String> = needles
        .iter()
        .filter(|n| !err.contains(*n))
        .map(|n| format!("{args:?}: expected {n:?} in:\n{err}"))
        .collect();
    if err.contains("panicked") {
        found.push(format!("{args:?} panicked:\n{err}"));
    }
    if let Some(secret) = secret.filter(|s| err.contains(s)) {
        found.push(format!("{args:?} leaked {secret:?}:\n{err}"));
    }
    // One explanation, not the same cause printed twice.
    for line in err.lines().filter(|l| l.starts_with("error")) {
        let mut seen = std::collections::HashSet::new();
        let repeated: Vec<&str> = line
            .split(": ")
            .filter(|part| part.len() > 12 && !seen.insert(*part))
            .collect();
        if !repeated.is_empty() {
            found.push(format!("{args:?} repeats {repeated:?}:\n{err}"));
        }
    }
    found
}

/// Fails listing every row that went wrong, not just the first.
fn assert_all(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} rows failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn command_line_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &[u8]| -> String {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p.to_str().expect("utf8 path").to_string()
    };
    let not_json = write("not-json.avsc", b"{\"type\": \"record\", \"name\": ");
    let not_user = write(
        "not-user.avsc",
        br#"{"type":"record","name":"Order","fields":[{"name":"total","type":"double"}]}"#,
    );
    let occupied = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let occupied = occupied.local_addr().expect("addr").to_string();
    let net = ["--bootstrap", NOWHERE, "--timeout", "1s"];
    let owned = |args: &[&str]| -> Vec<String> { args.iter().map(|s| s.to_string()).collect() };
    let with_net = |args: &[&str]| -> Vec<String> {
        args.iter()
            .chain(net.iter())
            .map(|s| s.to_string())
            .collect()
    };

    // (args, words the error must contain, a secret it must not)
    let rows: Vec<(Vec<String>, Vec<&str>, Option<&str>)> = vec![
        (
            with_net(&["produce", "--count", "abc"]),
            vec!["--count", "abc"],
            None,
        ),
        (
            with_net(&["produce", "--page-size", "0"]),
            vec!["--page-size", "0"],
            None,
        ),
        (
            with_net(&["produce", "--partitions", "0"]),
            vec!["--partitions", "0"],
            None,
        ),
        (
            with_net(&["produce", "--rate", "0"]),
            vec!["--rate", "0"],
            None,
        ),
        (
            with_net(&["produce", "--rate", "fast"]),
            vec!["--rate", "fast"],
            None,
        ),
        (
            with_net(&["produce", "--every", "0s"]),
            vec!["--every", "0s"],
            None,
        ),
        (
            with_net(&["produce", "--for", "5 parsecs"]),
            vec!["--for", "5 parsecs", "unit"],
            None,
        ),
        (
            owned(&["produce", "--bootstrap", NOWHERE, "--timeout", "0s"]),
            vec!["--timeout", "0s"],
            None,
        ),
        (
            owned(&["produce", "--bootstrap", NOWHERE, "--timeout=-5s"]),
            vec!["--timeout", "-5s"],
            None,
        ),
        (
            with_net(&["produce", "--delivery", "maybe"]),
            vec!["--delivery", "maybe", "transactional", "idempotent"],
            None,
        ),
        (
            with_net(&["produce", "--source", "ftp://users.example"]),
            vec!["ftp://users.example", "generator", "http"],
            None,
        ),
        (
            with_net(&["produce", "--source", "http://[::1"]),
            vec!["http://[::1"],
            None,
        ),
        (
            with_net(&["produce", "--schema-version", "99"]),
            vec!["--schema-version 99", "avro/"],
            None,
        ),
        (
            with_net(&["produce", "--kafka-property", "=x"]),
            vec!["--kafka-property", "=x", "key=value"],
            None,
        ),
        (
            with_net(&["produce", "--kafka-property", "no.such.property=1"]),
            // Named before anything connects, with where it was set.
            vec!["no.such.property", "--kafka-property"],
            None,
        ),
        (
            with_net(&[
                "process",
                "--kafka-property",
                "security.protocol=SASL_PLAINTEXT",
                "--kafka-property",
                "sasl.mechanism=PLAIN",
                "--kafka-property",
                "sasl.username=eosflow",
                "--kafka-property",
                "sasl.password=hunter2",
                "--kafka-property",
                "enable.auto.commit=maybe",
            ]),
            vec!["enable.auto.commit", "maybe"],
            Some("hunter2"),
        ),
        (
            with_net(&["process", "--batch-max", "0"]),
            vec!["--batch-max", "0"],
            None,
        ),
        (
            with_net(&["process", "--batch-linger", "soon"]),
            vec!["--batch-linger", "soon"],
            None,
        ),
        (
            with_net(&["process", "--exit-when-idle", "5 parsecs"]),
            vec!["--exit-when-idle", "5 parsecs"],
            None,
        ),
        (
            with_net(&["process", "--reader-schema", "/nonexistent/reader.avsc"]),
            vec!["/nonexistent/reader.avsc", "No such file"],
            None,
        ),
        (
            with_net(&["process", "--reader-schema", &not_json]),
            vec![&not_json, "reader schema"],
            None,
        ),
        (
            with_net(&["process", "--reader-schema", &not_user]),
            vec![&not_user, "User"],
            None,
        ),
        (
            with_net(&["process", "--sink", "sqlite:///nonexistent-dir/x.db"]),
            vec!["/nonexistent-dir", "create it"],
            None,
        ),
        (
            with_net(&["process", "--sink", "mysql://root:hunter2@db/users"]),
            vec!["mysql://", "sqlite://", "postgres://"],
            Some("hunter2"),
        ),
        (
            with_net(&[
                "verify",
                "--sink",
                "postgres://eosflow:hunter2@127.0.0.1:1/nowhere",
            ]),
            vec!["postgres://eosflow@127.0.0.1:1/nowhere", "cannot connect"],
            Some("hunter2"),
        ),
        (
            vec![
                "registry".into(),
                "serve".into(),
                "--listen".into(),
                "nowhere".into(),
            ],
            vec!["--listen", "nowhere"],
            None,
        ),
        (
            vec![
                "registry".into(),
                "serve".into(),
                "--listen".into(),
                occupied.clone(),
            ],
            vec![occupied.as_str(), "in use"],
            None,
        ),
        (
            vec![
                "schema".into(),
                "compat".into(),
                "/nonexistent/a.avsc".into(),
                "/nonexistent/b.avsc".into(),
            ],
            vec!["/nonexistent/a.avsc"],
            None,
        ),
        (
            vec!["no-such-command".into()],
            vec!["no-such-command"],
            None,
        ),
    ];
    let mut failures = Vec::new();
    for (args, needles, secret) in &rows {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        failures.extend(problems(&args, &fails(&args), needles, *secret));
    }
    assert_all(failures);
}

#[test]
fn config_file_catalogue() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (file contents, words the error must contain, a secret it must not)
    let rows: Vec<(&[u8], Vec<&str>, Option<&str>)> = vec![
        (b"[kafka\nbootstrap = \"h:9092\"\n", vec!["line 1"], None),
        (
            b"[kafka]\nbootstrap = 9092\n",
            vec!["bootstrap", "string"],
            None,
        ),
        (
            b"[kafka]\nbootstrapp = \"h:9092\"\n",
            vec!["bootstrapp", "unknown field"],
            None,
        ),
        (b"[sinks]\nurl = \"sqlite://x.db\"\n", vec!["sinks"], None),
        (
            b"[kafka]\ntimeout = \"forever\"\n",
            vec!["forever", "timeout"],
            None,
        ),
        (
            b"[produce]\ndelivery = \"sometimes\"\n",
            vec!["sometimes", "delivery"],
            None,
        ),
        (b"[produce]\npage_size = 0\n", vec!["page_size", "0"], None),
        (b"[produce]\npage_size = -5\n", vec!["page_size"], None),
        (b"[process]\nbatch_max = 0\n", vec!["batch_max", "0"], None),
        (
            b"[process]\nsink = \"mysql://root:hunter2@db/users\"\n",
            vec![VALUE_ONLY, "mysql://"],
            Some("hunter2"),
        ),
        (
            b"[kafka.properties]\n\"security.protocol\" = \"SASL_PLAINTEXT\"\n\"sasl.mechanism\" = \"PLAIN\"\n\"sasl.username\" = \"u\"\n\"sasl.password\" = \"hunter2\"\n\"no.such.property\" = \"x\"\n",
            vec![VALUE_ONLY, "no.such.property"],
            Some("hunter2"),
        ),
        (b"\xff\xfe[kafka]\n", vec!["UTF-8"], None),
    ];
    let mut failures = Vec::new();
    for (i, (text, needles, secret)) in rows.iter().enumerate() {
        let path = dir.path().join(format!("eosflow-{i}.toml"));
        std::fs::write(&path, text).expect("write");
        let path = path.to_str().expect("utf8 path");
        let mut args = vec!["--config", path, "process", "--bootstrap", NOWHERE];
        // A bad timeout in the file must be reached; the flag would override it.
        if !needles.contains(&"timeout") {
            args.extend(["--timeout", "1s"]);
        }
        // Found while loading, the file is named; a value refused later (a sink URL, a librdkafka
        // property) is named by itself.
        let mut needles = needles.clone();
        if needles.first() == Some(&VALUE_ONLY) {
            needles.remove(0);
        } else {
            needles.push(path);
        }
        failures.extend(problems(&args, &fails(&args), &needles, *secret));
    }
    let missing = "/nonexistent/eosflow.toml";
    let args = ["--config", missing, "process"];
    failures.extend(problems(
        &args,
        &fails(&args),
        &[missing, "No such file"],
        None,
    ));
    assert_all(failures);
}
