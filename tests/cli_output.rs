//! What the binary prints and how it says what is wrong (issue: quiet, honest logs and CLI):
//! a closed stdout never panics, no colour unless a person is at a terminal, JSON logs end with
//! a JSON error, a bad `EOSFLOW_*` value is named by its variable, a bootstrap address without
//! a port says so, librdkafka's property errors are readable, `--help` shows the defaults, and
//! `process` shows progress on a terminal. Each message checked here is the point of its test.

mod common;

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use common::eosflow;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A port where nothing listens.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// Run `cmd` with a stdout whose reading end is already closed, as under `| head` after it
/// quit: every write fails with EPIPE.
fn with_closed_stdout(cmd: &mut Command) -> Output {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    cmd.stdout(writer).stderr(Stdio::piped());
    cmd.output().expect("eosflow runs")
}

#[test]
fn a_closed_stdout_never_panics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong_type = dir.path().join("wrongtype.toml");
    std::fs::write(&wrong_type, "[process]\nbatch_max = \"many\"\n").expect("write");
    let sink = format!("sqlite://{}", dir.path().join("x.db").display());
    let dead = format!("127.0.0.1:{}", closed_port());
    let registry = format!("http://127.0.0.1:{}", closed_port());
    let cases: Vec<(Vec<String>, i32)> = vec![
        // The case first seen: a config error, doctor, `| head -5`.
        (
            vec![
                "--config".into(),
                wrong_type.display().to_string(),
                "doctor".into(),
            ],
            2,
        ),
        // doctor's table on stdout, every check failing.
        (
            vec![
                "doctor".into(),
                "--bootstrap".into(),
                dead.clone(),
                "--registry".into(),
                registry,
                "--sink".into(),
                sink,
                "--timeout".into(),
                "1s".into(),
            ],
            1,
        ),
        // A report on stdout that succeeds.
        (vec!["schema".into(), "lint".into(), "avro".into()], 0),
    ];
    for (args, code) in cases {
        let out = with_closed_stdout(
            eosflow()
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .args(&args),
        );
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
    }
}

#[test]
fn no_colour_unless_stderr_is_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sink = format!("sqlite://{}", dir.path().join("x.db").display());
    let dead = format!("127.0.0.1:{}", closed_port());
    let args = [
        "process",
        "--bootstrap",
        &dead,
        "--sink",
        &sink,
        "--exit-when-idle",
        "1s",
    ];
    // Piped: log lines and the error, without one escape sequence.
    let out = eosflow()
        .env("EOSFLOW_LOG", "info")
        .args(args)
        .output()
        .expect("runs");
    let err = stderr(&out);
    assert!(
        err.contains("INFO") && err.contains("connection refused"),
        "{err}"
    );
    assert!(
        !err.contains('\u{1b}'),
        "ANSI escapes in piped stderr: {err:?}"
    );
    // On a terminal (script(1) gives it one) the levels are coloured, unless NO_COLOR is set.
    let on_terminal = |no_color: Option<&str>| {
        let line = format!("{} {}", env!("CARGO_BIN_EXE_eosflow"), args.join(" "));
        let mut script = Command::new("script");
        script.args(["-qec", &line, "/dev/null"]);
        script.env("EOSFLOW_LOG", "info");
        match no_color {
            Some(v) => script.env("NO_COLOR", v),
            None => script.env_remove("NO_COLOR"),
        };
        let out = script.output().expect("script(1) runs (util-linux)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let coloured = on_terminal(None);
    assert!(
        coloured.contains('\u{1b}'),
        "no colour on a terminal: {coloured:?}"
    );
    let plain = on_terminal(Some("1"));
    assert!(
        plain.contains("INFO") && !plain.contains('\u{1b}'),
        "NO_COLOR=1: {plain:?}"
    );
}

#[test]
fn json_logs_end_with_a_json_error() {
    let dead = format!("127.0.0.1:{}", closed_port());
    let out = eosflow()
        .env("EOSFLOW_LOG", "info")
        .args(["--log-format", "json", "produce", "--bootstrap", &dead])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    let lines: Vec<serde_json::Value> = err
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line:?}"))
        })
        .collect();
    let last = lines.last().expect("at least the error");
    assert_eq!(last["level"], "ERROR", "{last}");
    let error = last["fields"]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&dead) && error.contains("connection refused"),
        "{last}"
    );
}

#[test]
fn a_bad_environment_value_is_named_by_its_variable() {
    let out = eosflow()
        .env("EOSFLOW_BATCH_MAX", "abc")
        .arg("process")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("invalid value 'abc' for '--batch-max <BATCH_MAX>'")
            && err.contains("note: the value came from the environment variable EOSFLOW_BATCH_MAX"),
        "{err}"
    );
    // Durations are checked as the flags are parsed, from wherever they came.
    let out = eosflow()
        .env("EOSFLOW_TIMEOUT", "soon")
        .arg("produce")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("expected a number with a unit: 500ms, 10s, 5m, 1h")
            && err.contains("environment variable EOSFLOW_TIMEOUT"),
        "{err}"
    );
    // Typed on the command line, the flag is what is named.
    let out = eosflow()
        .args(["process", "--batch-max", "abc"])
        .output()
        .expect("runs");
    let err = stderr(&out);
    assert!(
        err.contains("--batch-max") && !err.contains("environment variable"),
        "{err}"
    );
}

#[test]
fn a_bootstrap_address_without_a_port_says_so() {
    for command in ["produce", "process", "verify", "doctor"] {
        let out = eosflow()
            .args([command, "--bootstrap", "localhost"])
            .output()
            .expect("runs");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{command}: {err}");
        assert!(
            err.contains(
                "invalid value \"localhost\" for --bootstrap: localhost: the port is missing (e.g. localhost:9092)"
            ),
            "{command}: {err}"
        );
    }
}

#[test]
fn librdkafka_property_errors_are_readable() {
    // Something listens, so the broker preflight passes and librdkafka reads the properties.
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let bootstrap = listener.local_addr().expect("addr").to_string();
    let cases = [
        (
            "no.such.prop=1",
            "librdkafka refused the Kafka property no.such.prop=1: No such configuration property: \"no.such.prop\"",
        ),
        (
            "acks=banana",
            "librdkafka refused the Kafka property acks=banana: Invalid value for configuration property",
        ),
    ];
    for (property, expected) in cases {
        let out = eosflow()
            .args(["produce", "--bootstrap", &bootstrap, "--timeout", "3s"])
            .args(["--kafka-property", property])
            .output()
            .expect("runs");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{property}: {err}");
        assert!(err.contains(expected), "{property}: {err}");
        assert!(err.contains("--kafka-property"), "{property}: {err}");
    }
}

#[test]
fn help_shows_defaults_and_groups_global_options() {
    let help = |command: &str| {
        let out = eosflow().args([command, "--help"]).output().expect("runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let process = help("process");
    for expected in [
        "[default: 127.0.0.1:9092]",
        "[default: 5000]",
        "[default: 500ms]",
        "[default: 10s]",
        "[default: eosflow-processor]",
        "Global options:",
        "Kafka security:",
    ] {
        assert!(
            process.contains(expected),
            "process --help lacks {expected}:\n{process}"
        );
    }
    let global = process.split("Global options:").nth(1).unwrap_or_default();
    assert!(
        global.contains("--config") && global.contains("--log-format"),
        "{process}"
    );
    assert!(
        !process.contains("--batch-linger-ms"),
        "one spelling for durations"
    );
    // doctor's own short timeout, not the jobs' 30s.
    assert!(help("doctor").contains("[default: 5s]"));
    assert!(
        help("produce").contains("[default: 60s]") || help("produce").contains("[default: 1m]")
    );
}

#[test]
fn process_shows_progress_on_a_terminal() {
    let registry = common::Registry::start();
    let topic = common::unique("progress");
    common::produce(&registry, &topic, 2, "progress", 100, 2000);
    let dir = tempfile::tempdir().expect("tempdir");
    let line = format!(
        "{} process --bootstrap {} --registry {} --topic {topic} --group {topic} \
         --sink sqlite://{} --batch-max 100 --exit-when-idle 3s",
        env!("CARGO_BIN_EXE_eosflow"),
        common::bootstrap(),
        registry.url,
        dir.path().join("p.db").display()
    );
    let out = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .env("EOSFLOW_LOG", "warn")
        .output()
        .expect("script(1) runs (util-linux)");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    assert!(
        shown.contains("\r2000 records, "),
        "no progress line on the terminal: {shown:?}"
    );
    assert!(shown.contains(" batches, "), "{shown:?}");
}

#[test]
fn registry_errors_show_the_cause() {
    let candidate = concat!(env!("CARGO_MANIFEST_DIR"), "/avro/user.v1.avsc");
    let refused = format!("http://127.0.0.1:{}", closed_port());
    let cases = [
        (refused.clone(), "connection refused: nothing listens there"),
        (
            "http://no-such-host.invalid:8081".to_string(),
            "no-such-host.invalid:8081: the host name does not resolve",
        ),
    ];
    for (url, cause) in cases {
        let out = eosflow()
            .args(["schema", "check", "--registry", &url])
            .args(["--subject", "users-value", "--candidate", candidate])
            .output()
            .expect("runs");
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{url}: {err}");
        assert!(err.contains(cause), "{url}: {err}");
    }
}

#[test]
fn schema_check_on_a_subject_that_does_not_exist_says_so() {
    let registry = common::Registry::start();
    let candidate = concat!(env!("CARGO_MANIFEST_DIR"), "/avro/user.v1.avsc");
    let out = eosflow()
        .args(["schema", "check", "--registry", &registry.url])
        .args(["--subject", "usres-value", "--candidate", candidate])
        .output()
        .expect("runs");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("subject \"usres-value\" does not exist in the registry")
            && err.contains("no subjects"),
        "{err}"
    );
    assert!(
        !common::stdout(&out).contains("compatible"),
        "never 'compatible'"
    );
}
