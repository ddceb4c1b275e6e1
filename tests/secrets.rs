//! Secrets never reach stdout or stderr: the binary runs with `EOSFLOW_LOG=debug` (pretty and
//! JSON logs, librdkafka's own debug contexts on) and distinctive passwords in every place one
//! can be given — `--sasl-password`, `--ssl-key-password`, `--kafka-property sasl.password=…`,
//! `EOSFLOW_KAFKA_PROPERTIES`, registry URL userinfo, `--registry-password`, a postgres URL,
//! `EOSFLOW_SINK_PASSWORD` — against unreachable and refusing endpoints, and end to end against
//! Apache Kafka, PostgreSQL and `eosflow registry serve --basic-auth-file`. Also: flag > env > file for
//! the security options, observed through the binary.
//!
//! The test broker has no SASL or TLS listener: the Kafka side is exercised up to
//! librdkafka connecting (SASL_SSL + SCRAM, a client certificate with an encrypted key) to an
//! address where nothing listens.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use common::tls::TestCert;
use common::{bootstrap, eosflow, postgres_url, unique};

const SASL_PW: &str = "Sasl-Pw-9f3a1c";
const KEY_PW: &str = "Key-Pw-6e1b9d";
const PROP_PW: &str = "Prop-Pw-1a6c4e";
const LIST_PW: &str = "List-Pw-2c7a5f";
const URL_PW: &str = "Url-Pw-7b2e4d";
const REG_PW: &str = "Reg-Pw-5c8e2a";
const PG_PW: &str = "Pg-Pw-3d9f7b";
const ALL: [&str; 7] = [SASL_PW, KEY_PW, PROP_PW, LIST_PW, URL_PW, REG_PW, PG_PW];

/// `eosflow` with debug logs in `format`.
fn debug_eosflow(format: &str) -> Command {
    let mut cmd = eosflow();
    cmd.env("EOSFLOW_LOG", "debug")
        .args(["--log-format", format]);
    cmd
}

/// Run; check the exit code; check that no secret appears in stdout or stderr.
fn run(cmd: &mut Command, expect_code: i32) -> Output {
    let out = common::run_expect(cmd, expect_code);
    assert_clean(&format!("{cmd:?}"), &out.stdout, &out.stderr);
    out
}

fn assert_clean(what: &str, stdout: &[u8], stderr: &[u8]) {
    let (stdout, stderr) = (
        String::from_utf8_lossy(stdout),
        String::from_utf8_lossy(stderr),
    );
    for secret in ALL {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{secret} leaked by {what}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The test PostgreSQL URL with `password` instead of its own.
fn postgres_with_password(password: Option<&str>) -> String {
    let url = postgres_url();
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (userinfo, host) = rest.rsplit_once('@').expect("userinfo");
    let user = userinfo.split(':').next().unwrap_or(userinfo);
    match password {
        Some(p) => format!("{scheme}://{user}:{p}@{host}"),
        None => format!("{scheme}://{user}@{host}"),
    }
}

#[test]
fn unreachable_and_refusing_endpoints_never_echo_a_secret() {
    let dir = tempfile::tempdir().expect("tempdir");
    let files = TestCert::new().write(dir.path(), KEY_PW);
    let sqlite = format!("sqlite://{}", dir.path().join("s.db").display());
    let registry = format!("http://reg:{URL_PW}@127.0.0.1:1");
    for format in ["pretty", "json"] {
        // SASL_SSL + SCRAM, a client certificate with an encrypted key, librdkafka debug on.
        let out = run(
            debug_eosflow(format)
                .args(["produce", "--bootstrap", "127.0.0.1:1", "--timeout", "2s"])
                .args(["--count", "1", "--registry", &registry])
                .args(["--security-protocol", "SASL_SSL"])
                .args(["--sasl-mechanism", "SCRAM-SHA-512"])
                .args(["--sasl-username", "user", "--sasl-password", SASL_PW])
                .args(["--ssl-ca-location"])
                .arg(&files.cert)
                .arg("--ssl-certificate-location")
                .arg(&files.cert)
                .arg("--ssl-key-location")
                .arg(&files.encrypted_key)
                .args(["--ssl-key-password", KEY_PW])
                .args(["--kafka-property", "debug=security,broker,conf"]),
            2,
        );
        assert!(stderr(&out).contains("127.0.0.1:1"), "{}", stderr(&out));
        // The pass-through forms: --kafka-property and EOSFLOW_KAFKA_PROPERTIES.
        run(
            debug_eosflow(format)
                .args(["process", "--bootstrap", "127.0.0.1:1", "--timeout", "2s"])
                .args(["--sink", &sqlite, "--registry", &registry])
                .args(["--security-protocol", "SASL_PLAINTEXT"])
                .args(["--sasl-mechanism", "PLAIN", "--sasl-username", "user"])
                .args(["--kafka-property", &format!("sasl.password={PROP_PW}")])
                .args(["--kafka-property", "debug=security,conf"]),
            2,
        );
        run(
            debug_eosflow(format)
                .args(["verify", "--bootstrap", "127.0.0.1:1", "--timeout", "2s"])
                .args(["--sink", &sqlite])
                .args(["--registry", "http://127.0.0.1:1", "--registry-username", "r"])
                .env("EOSFLOW_REGISTRY_PASSWORD", REG_PW)
                .env(
                    "EOSFLOW_KAFKA_PROPERTIES",
                    format!("security.protocol=SASL_SSL,sasl.mechanisms=SCRAM-SHA-256,sasl.username=u,sasl.password={LIST_PW}"),
                ),
            2,
        );
        // A refusing database: PostgreSQL rejects the password; the error names the URL without it.
        let out = run(
            debug_eosflow(format)
                .args(["verify", "--bootstrap", "127.0.0.1:1", "--timeout", "2s"])
                .args(["--sink", &postgres_with_password(Some(PG_PW))]),
            2,
        );
        assert!(
            stderr(&out).contains("password authentication failed"),
            "{}",
            stderr(&out)
        );
        // Refused configurations, each naming what is wrong and none of the values.
        for (args, why) in [
            (
                vec![
                    "--kafka-property".to_string(),
                    format!("sasl.password={PROP_PW}"),
                ],
                "SASL options need SASL_SSL or SASL_PLAINTEXT",
            ),
            (
                vec![
                    "--kafka-property".to_string(),
                    format!("sasl.password:{PROP_PW}"),
                ],
                "expected key=value",
            ),
            (
                vec![
                    "--security-protocol".into(),
                    "SASL_SSL".into(),
                    "--sasl-mechanism".into(),
                    "PLAIN".into(),
                    "--sasl-username".into(),
                    "u".into(),
                    "--sasl-password".into(),
                    SASL_PW.into(),
                    "--kafka-property".into(),
                    format!("sasl.password={PROP_PW}"),
                ],
                "given twice",
            ),
            (
                vec![
                    "--registry".into(),
                    format!("http://u:{URL_PW}@h"),
                    "--registry-username".into(),
                    "u".into(),
                ],
                "both in the URL and with --registry-username",
            ),
        ] {
            let out = run(
                debug_eosflow(format)
                    .args(["produce", "--bootstrap", "127.0.0.1:1", "--timeout", "1s"])
                    .args(&args),
                2,
            );
            assert!(stderr(&out).contains(why), "{why}: {}", stderr(&out));
        }
    }
}

#[test]
fn help_never_shows_secret_environment_values() {
    for sub in ["produce", "process", "verify"] {
        let out = run(
            eosflow()
                .args([sub, "--help"])
                .env("EOSFLOW_SASL_PASSWORD", SASL_PW)
                .env("EOSFLOW_SSL_KEY_PASSWORD", KEY_PW)
                .env("EOSFLOW_REGISTRY_PASSWORD", REG_PW)
                .env("EOSFLOW_SINK_PASSWORD", PG_PW)
                // URLs may hold passwords too: their env values are hidden as well.
                .env("EOSFLOW_REGISTRY", format!("https://k:{URL_PW}@sr"))
                .env("EOSFLOW_SINK", format!("postgres://u:{PG_PW}@db/x"))
                .env(
                    "EOSFLOW_KAFKA_PROPERTIES",
                    format!("sasl.password={LIST_PW}"),
                ),
            0,
        );
        let help = String::from_utf8_lossy(&out.stdout);
        assert!(
            help.contains("--sasl-password") && help.contains("EOSFLOW_SASL_PASSWORD"),
            "{help}"
        );
    }
}

#[test]
fn security_options_take_flag_over_env_over_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("eosflow.toml");
    std::fs::write(
        &config,
        "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"PLAIN\"\n",
    )
    .expect("write config");
    let produce = || {
        let mut cmd = eosflow();
        cmd.arg("--config").arg(&config).args([
            "produce",
            "--bootstrap",
            "127.0.0.1:1",
            "--timeout",
            "1s",
        ]);
        cmd
    };
    // The file alone: SASL_SSL + PLAIN from the file, so the username is missing.
    let out = run(&mut produce(), 2);
    assert!(
        stderr(&out).contains("SASL PLAIN needs sasl.username"),
        "{}",
        stderr(&out)
    );
    // Env over file: the protocol from EOSFLOW_SECURITY_PROTOCOL.
    let out = run(produce().env("EOSFLOW_SECURITY_PROTOCOL", "PLAINTEXT"), 2);
    assert!(
        stderr(&out).contains("security.protocol is PLAINTEXT:"),
        "{}",
        stderr(&out)
    );
    // Flag over env.
    let out = run(
        produce()
            .env("EOSFLOW_SECURITY_PROTOCOL", "PLAINTEXT")
            .args(["--security-protocol", "SSL"]),
        2,
    );
    assert!(
        stderr(&out).contains("security.protocol is SSL:"),
        "{}",
        stderr(&out)
    );
    // Env over file for the mechanism, with a value the file would not give.
    let out = run(produce().env("EOSFLOW_SASL_MECHANISM", "GSSAPI"), 2);
    assert!(
        stderr(&out).contains("unknown sasl.mechanisms (--sasl-mechanism) \"GSSAPI\""),
        "{}",
        stderr(&out)
    );
}

/// `eosflow registry serve --basic-auth-file` as a process; stopped (by its handle) on drop.
struct ServedRegistry {
    child: Option<std::process::Child>,
    url: String,
}

impl ServedRegistry {
    fn start(auth_file: &std::path::Path) -> ServedRegistry {
        let mut child = eosflow()
            .args([
                "registry",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--basic-auth-file",
            ])
            .arg(auth_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("registry serve starts");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the listening line");
        let url = line
            .trim()
            .strip_prefix("schema registry listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        ServedRegistry {
            child: Some(child),
            url,
        }
    }

    /// Stop it and return what it wrote to stderr.
    fn stop(mut self) -> Output {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        child.wait_with_output().expect("registry output")
    }

    fn with_userinfo(&self, userinfo: &str) -> String {
        self.url
            .replacen("http://", &format!("http://{userinfo}@"), 1)
    }
}

impl Drop for ServedRegistry {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn end_to_end_with_an_authenticating_registry_and_no_leaks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let auth_file = dir.path().join("users");
    std::fs::write(
        &auth_file,
        format!("# eosflow test users\nalice:{URL_PW}\nbob:{REG_PW}\n"),
    )
    .expect("write auth file");
    let registry = ServedRegistry::start(&auth_file);
    let topic = unique("secrets");
    let broker = bootstrap();
    let produce = |format: &str| {
        let mut cmd = debug_eosflow(format);
        cmd.args(["produce", "--bootstrap", &broker, "--topic", &topic])
            .args(["--partitions", "1"])
            .args(["--seed", "secrets", "--page-size", "10", "--count", "20"]);
        cmd
    };
    // No credentials: refused with a clear 401, exit 2.
    let out = run(produce("pretty").args(["--registry", &registry.url]), 2);
    let err = stderr(&out);
    assert!(
        err.contains("401") && err.contains("requires authentication"),
        "{err}"
    );
    // Credentials in the URL.
    run(
        produce("json").args([
            "--registry",
            &registry.with_userinfo(&format!("alice:{URL_PW}")),
        ]),
        0,
    );
    // Process into PostgreSQL: registry user by flag, its password and the database's by env.
    let group = unique("secrets_group");
    let table = unique("secrets_users");
    let process = |format: &str, registry_password: &str, sink: &str| {
        let mut cmd = debug_eosflow(format);
        cmd.args(["process", "--bootstrap", &broker, "--topic", &topic])
            .args(["--group", &group, "--sink", sink, "--table", &table])
            .args(["--registry", &registry.url, "--registry-username", "bob"])
            .args(["--exit-when-idle", "3s", "--batch-linger", "100ms"])
            .env("EOSFLOW_REGISTRY_PASSWORD", registry_password);
        cmd
    };
    // A wrong registry password stops the processor at the first record, naming the 401.
    let sqlite = format!("sqlite://{}", dir.path().join("wrong.db").display());
    let out = run(&mut process("pretty", "Wrong-Pw-0000", &sqlite), 2);
    let err = stderr(&out);
    assert!(
        err.contains("refused the request") && err.contains("401"),
        "{err}"
    );
    let pg_password = postgres_url()
        .split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .and_then(|(userinfo, _)| userinfo.split_once(':').map(|(_, p)| p.to_string()))
        .expect("the test PostgreSQL URL has a password");
    let out = run(
        process("json", REG_PW, &postgres_with_password(None))
            .env("EOSFLOW_SINK_PASSWORD", &pg_password),
        0,
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("20"),
        "{out:?}"
    );
    let out = run(
        debug_eosflow("pretty")
            .args([
                "verify",
                "--bootstrap",
                &broker,
                "--topic",
                &topic,
                "--json",
            ])
            .args(["--sink", &postgres_with_password(None), "--table", &table])
            .args([
                "--registry",
                &registry.with_userinfo(&format!("alice:{URL_PW}")),
            ])
            .env("EOSFLOW_SINK_PASSWORD", &pg_password),
        0,
    );
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("\"expected\":20") && report.contains("\"missing\":0"),
        "{report}"
    );
    // The registry's own output: the refused requests are logged, without any password.
    let out = registry.stop();
    assert_clean("registry serve", &out.stdout, &out.stderr);
    assert!(
        stderr(&out).contains("registry request refused"),
        "{}",
        stderr(&out)
    );
}
