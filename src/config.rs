//! One typed configuration, from three layers: a TOML file (`--config`, or `EOSFLOW_CONFIG`),
//! `EOSFLOW_*` environment variables, and flags. Flags override env, env overrides the file, the
//! file overrides built-in defaults. clap reads flags and env into `Option`s; [`pick`] folds in the
//! file and the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::secret::Secret;

/// Errors reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {detail}")]
    Parse { path: PathBuf, detail: String },
    #[error("invalid value {value:?} for {name}: {detail}")]
    Value {
        name: &'static str,
        value: String,
        detail: String,
    },
}

/// The config file. Every key is optional; unknown keys are errors (typos must not pass silently).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    #[serde(default)]
    pub kafka: KafkaFile,
    #[serde(default)]
    pub registry: RegistryFile,
    #[serde(default)]
    pub produce: ProduceFile,
    #[serde(default)]
    pub process: ProcessFile,
    #[serde(default)]
    pub metrics: MetricsFile,
}

/// `[metrics]`: the Prometheus endpoint of `produce` and `process`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MetricsFile {
    /// `--metrics-listen`: serve `/metrics` on this IP:PORT.
    pub listen: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    pub bootstrap: Option<String>,
    pub topic: Option<String>,
    pub timeout: Option<String>,
    /// `--security-protocol`: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
    pub security_protocol: Option<String>,
    /// `--sasl-mechanism`: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// PEM file (or directory, or `probe`) of the CA(s) that signed the brokers' certificates.
    pub ssl_ca_location: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS, with its key.
    pub ssl_certificate_location: Option<PathBuf>,
    pub ssl_key_location: Option<PathBuf>,
    pub ssl_key_password: Option<Secret>,
    /// librdkafka properties passed through, e.g. `"linger.ms" = "10"`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub url: Option<String>,
    /// Basic-auth user (Confluent Cloud: the API key); also `https://USER:PASS@host` in `url`.
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM file of the CA(s) to trust for an https:// registry, beside the system's.
    pub ca_location: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProduceFile {
    pub delivery: Option<String>,
    pub transactional_id: Option<String>,
    pub seed: Option<String>,
    pub start_page: Option<u64>,
    pub page_size: Option<u32>,
    pub partitions: Option<i32>,
    /// User schema version of `avro/` to write (default: the newest).
    pub schema_version: Option<u32>,
    /// `generator` or a randomuser-compatible URL.
    pub source: Option<String>,
    pub source_name: Option<String>,
    pub nat: Option<String>,
    pub rate: Option<f64>,
    pub count: Option<u64>,
    pub last_page: Option<u64>,
    /// `--for`: stop starting new pages after this long.
    #[serde(rename = "for")]
    pub run_for: Option<String>,
    pub every: Option<String>,
    pub rejects_topic: Option<String>,
    pub progress_topic: Option<String>,
    /// `--transaction-timeout`.
    pub transaction_timeout: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    pub group: Option<String>,
    pub sink: Option<String>,
    pub table: Option<String>,
    pub batch_max: Option<usize>,
    pub batch_linger: Option<String>,
    /// Reader schema file (.avsc) for `process` and `verify` (default: the newest in `avro/`).
    pub reader_schema: Option<PathBuf>,
    pub instance_id: Option<String>,
    /// Dead-letter topic for `process` and `verify` (default `<topic>.dlq`).
    pub dlq_topic: Option<String>,
    pub exit_when_idle: Option<String>,
    /// `--group-protocol`: "classic" or "consumer".
    pub group_protocol: Option<crate::kafka::consumer::GroupProtocol>,
    /// `--session-timeout`.
    pub session_timeout: Option<String>,
    /// `--max-poll-interval`.
    pub max_poll_interval: Option<String>,
}

impl FileConfig {
    /// Load `path`, or the empty config when there is none.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let Some(path) = path else {
            return Ok(FileConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: FileConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        config.validate().map_err(|detail| ConfigError::Parse {
            path: path.to_path_buf(),
            detail,
        })?;
        Ok(config)
    }

    /// Values a flag's parser would refuse are refused in the file too, naming the key, before
    /// anything connects.
    fn validate(&self) -> Result<(), String> {
        let below_one = [
            ("[produce] page_size", self.produce.page_size.map(i64::from)),
            (
                "[produce] partitions",
                self.produce.partitions.map(i64::from),
            ),
            (
                "[process] batch_max",
                self.process.batch_max.map(|n| n as i64),
            ),
        ];
        for (key, value) in below_one {
            if let Some(v) = value.filter(|v| *v < 1) {
                return Err(format!("{key} = {v}: must be at least 1"));
            }
        }
        let durations = [
            ("[kafka] timeout", &self.kafka.timeout),
            ("[produce] for", &self.produce.run_for),
            ("[produce] every", &self.produce.every),
            (
                "[produce] transaction_timeout",
                &self.produce.transaction_timeout,
            ),
            ("[process] exit_when_idle", &self.process.exit_when_idle),
            ("[process] batch_linger", &self.process.batch_linger),
            ("[process] session_timeout", &self.process.session_timeout),
            (
                "[process] max_poll_interval",
                &self.process.max_poll_interval,
            ),
        ];
        for (key, value) in durations {
            if let Some(t) = value {
                parse_duration(key, t).map_err(|e| e.to_string())?;
            }
        }
        if let Some(rate) = self.produce.rate {
            positive_rate(&rate.to_string())
                .map_err(|e| format!("[produce] rate = {rate}: {e}"))?;
        }
        match self.produce.delivery.as_deref() {
            None | Some("transactional") | Some("idempotent") => Ok(()),
            Some(other) => Err(format!(
                "[produce] delivery = {other:?}: expected \"transactional\" or \"idempotent\""
            )),
        }
    }
}

/// flag-or-env, else file, else default.
pub fn pick<T>(flag_or_env: Option<T>, file: Option<T>, default: T) -> T {
    flag_or_env.or(file).unwrap_or(default)
}

/// Parse `500ms`, `10s`, `5m`, `1h` (a bare number is seconds).
pub fn parse_duration(name: &'static str, text: &str) -> Result<Duration, ConfigError> {
    let err = |detail: &str| ConfigError::Value {
        name,
        value: text.to_string(),
        detail: detail.to_string(),
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| err("expected a number with a unit: 500ms, 10s, 5m, 1h"))?;
    let ms = match unit.trim() {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(err("unknown unit; use ms, s, m or h")),
    };
    if ms == 0 {
        return Err(err("must be longer than 0"));
    }
    Ok(Duration::from_millis(ms))
}

/// A clap value parser for a duration flag: checked as [`parse_duration`] reads it (so a bad
/// value, from a flag or its `EOSFLOW_*` variable, is refused before anything starts), kept as
/// written.
pub fn duration_flag(text: &str) -> Result<String, String> {
    parse_duration("duration", text)
        .map(|_| text.to_string())
        .map_err(|e| match e {
            ConfigError::Value { detail, .. } => detail,
            other => other.to_string(),
        })
}

/// A clap value parser for counts that must be at least 1 (`--batch-max`, `--page-size`, …).
pub fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialOrd + From<u8>,
    T::Err: std::fmt::Display,
{
    let value: T = text.trim().parse().map_err(|e: T::Err| e.to_string())?;
    if value < T::from(1u8) {
        return Err("must be at least 1".into());
    }
    Ok(value)
}

/// A clap value parser for a ratio: a number from 0 to 1.
pub fn ratio(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        Ok(_) => Err("must be a number from 0 to 1".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A clap value parser for a rate: a finite number above 0.
pub fn positive_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        Ok(_) => Err("must be a number above 0 (requests per second)".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Parse `key=value` (for `--kafka-property`). An error shows the text only when it cannot hold
/// a secret.
pub fn parse_property(text: &str) -> Result<(String, String), ConfigError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ConfigError::Value {
            name: "--kafka-property",
            value: if crate::secret::is_sensitive_key(text) {
                "(hidden: it may hold a secret)".into()
            } else {
                text.to_string()
            },
            detail: "expected key=value, e.g. linger.ms=10".into(),
        }),
    }
}

/// Parse a list of `key=value` items (for `EOSFLOW_KAFKA_PROPERTIES` / `--kafka-properties`):
/// items are separated by `,` or newlines; `\,` is a comma inside a value and `\\` a
/// backslash; blank items are skipped; keys are trimmed, values taken verbatim. An error names the
/// item by its position, never its text (it may hold a secret).
pub fn parse_property_list(
    name: &'static str,
    text: &str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let mut items = Vec::new();
    let mut item = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ (',' | '\\')) => item.push(escaped),
                Some(other) => {
                    item.push('\\');
                    item.push(other);
                }
                None => item.push('\\'),
            },
            ',' | '\n' => items.push(std::mem::take(&mut item)),
            c => item.push(c),
        }
    }
    items.push(item);
    let mut out = Vec::new();
    for (n, item) in items.iter().enumerate() {
        if item.trim().is_empty() {
            continue;
        }
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => out.push((k.trim().to_string(), v.to_string())),
            _ => {
                return Err(ConfigError::Value {
                    name,
                    value: format!("item {} (not shown)", n + 1),
                    detail: "expected KEY=VALUE items separated by commas; write a comma inside a value as \\,".into(),
                })
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("t", "500ms").ok(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            parse_duration("t", "10s").ok(),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_duration("t", "5m").ok(),
            Some(Duration::from_secs(300))
        );
        assert_eq!(parse_duration("t", "7").ok(), Some(Duration::from_secs(7)));
        assert!(parse_duration("t", "5 parsecs").is_err());
        assert!(parse_duration("t", "").is_err());
    }

    #[test]
    fn precedence_is_flag_env_then_file_then_default() {
        assert_eq!(pick(Some(1), Some(2), 3), 1);
        assert_eq!(pick(None, Some(2), 3), 2);
        assert_eq!(pick(None, None, 3), 3);
    }

    #[test]
    fn file_parses_and_rejects_unknown_keys_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let good = dir.path().join("good.toml");
        std::fs::write(&good, "[kafka]\nbootstrap = \"h:9092\"\n[kafka.properties]\n\"security.protocol\" = \"SSL\"\n[process]\nbatch_max = 10\n").expect("write");
        let c = FileConfig::load(Some(&good)).expect("parses");
        assert_eq!(c.kafka.bootstrap.as_deref(), Some("h:9092"));
        assert_eq!(
            c.kafka
                .properties
                .get("security.protocol")
                .map(String::as_str),
            Some("SSL")
        );
        assert_eq!(c.process.batch_max, Some(10));
        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[kafka]\nbootstrapp = \"h\"\n").expect("write");
        let e = FileConfig::load(Some(&bad)).expect_err("typo").to_string();
        assert!(e.contains("bad.toml") && e.contains("bootstrapp"), "{e}");
        let missing = FileConfig::load(Some(Path::new("/nonexistent/eosflow.toml")));
        assert!(missing
            .expect_err("missing")
            .to_string()
            .contains("/nonexistent/eosflow.toml"));
    }

    #[test]
    fn the_documented_example_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("eosflow.toml.example");
        let c = FileConfig::load(Some(&path)).expect("eosflow.toml.example parses");
        assert_eq!(c.process.sink.as_deref(), Some("sqlite://eosflow.db"));
        assert_eq!(c.produce.page_size, Some(1000));
        assert_eq!(c.metrics.listen, None, "metrics are off by default");
    }

    #[test]
    fn metrics_section() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("m.toml");
        std::fs::write(&path, "[metrics]\nlisten = \"127.0.0.1:0\"\n").expect("write");
        let c = FileConfig::load(Some(&path)).expect("parses");
        assert_eq!(c.metrics.listen.as_deref(), Some("127.0.0.1:0"));
        std::fs::write(&path, "[metrics]\nport = 9464\n").expect("write");
        let e = FileConfig::load(Some(&path))
            .expect_err("unknown key")
            .to_string();
        assert!(e.contains("port"), "{e}");
    }

    #[test]
    fn every_commented_key_of_the_example_file_is_a_real_key() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("eosflow.toml.example");
        let text = std::fs::read_to_string(&path).expect("read the example");
        // Uncomment `# key = value` lines (not prose, not continuation comments).
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest) if rest.contains(" = ") && !rest.starts_with(' ') => rest,
                _ => line,
            })
            .map(|line| format!("{line}\n"))
            .collect();
        let c: FileConfig = toml::from_str(&uncommented)
            .unwrap_or_else(|e| panic!("a commented key of the example is wrong: {e}"));
        assert_eq!(c.kafka.security_protocol.as_deref(), Some("SASL_SSL"));
        assert_eq!(
            c.kafka.ssl_key_password.as_ref().map(Secret::expose),
            Some("KEY_PASSWORD")
        );
        assert_eq!(c.registry.username.as_deref(), Some("SR_API_KEY"));
        assert!(c.kafka.properties.contains_key("linger.ms"));
    }

    #[test]
    fn property_lists() {
        let list =
            parse_property_list("L", "a.b=1, c=x\\,y\n d = \\\\z,,e=f=g\\q,").expect("parses");
        assert_eq!(
            list,
            vec![
                ("a.b".to_string(), "1".to_string()),
                ("c".to_string(), "x,y".to_string()),
                ("d".to_string(), " \\z".to_string()),
                ("e".to_string(), "f=g\\q".to_string()),
            ]
        );
        assert_eq!(parse_property_list("L", " ").ok(), Some(vec![]));
        let e = parse_property_list("L", "sasl.password=a,b-secret")
            .expect_err("item without =")
            .to_string();
        assert!(e.contains("item 2") && !e.contains("b-secret"), "{e}");
        let e = parse_property("sasl.password:secret")
            .expect_err("no =")
            .to_string();
        assert!(!e.contains("secret\""), "{e}");
    }

    #[test]
    fn security_keys_parse_and_passwords_do_not_print() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "[kafka]\nsecurity_protocol = \"SASL_SSL\"\nsasl_mechanism = \"PLAIN\"\nsasl_username = \"u\"\nsasl_password = \"file-pw-1\"\nssl_ca_location = \"/ca.pem\"\nssl_certificate_location = \"/c.pem\"\nssl_key_location = \"/k.pem\"\nssl_key_password = \"file-kp-1\"\n[registry]\nurl = \"https://r\"\nusername = \"ru\"\npassword = \"file-rp-1\"\nca_location = \"/rca.pem\"\n",
        )
        .expect("write");
        let c = FileConfig::load(Some(&path)).expect("parses");
        assert_eq!(c.kafka.security_protocol.as_deref(), Some("SASL_SSL"));
        assert_eq!(
            c.kafka.sasl_password.as_ref().map(Secret::expose),
            Some("file-pw-1")
        );
        assert_eq!(
            c.kafka.ssl_key_location.as_deref(),
            Some(Path::new("/k.pem"))
        );
        assert_eq!(
            c.registry.password.as_ref().map(Secret::expose),
            Some("file-rp-1")
        );
        assert_eq!(
            c.registry.ca_location.as_deref(),
            Some(Path::new("/rca.pem"))
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("file-"), "{debug}");
    }

    #[test]
    fn properties() {
        assert_eq!(
            parse_property("a.b=c=d").ok(),
            Some(("a.b".to_string(), "c=d".to_string()))
        );
        assert!(parse_property("novalue").is_err());
    }
}
