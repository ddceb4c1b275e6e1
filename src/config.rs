//! One typed configuration, from three layers: a TOML file (`--config`, or `EOSFLOW_CONFIG`),
//! `EOSFLOW_*` environment variables, and flags. Flags override env, env overrides the file, the
//! file overrides built-in defaults. clap reads flags and env into `Option`s; [`pick`] folds in the
//! file and the default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct KafkaFile {
    pub bootstrap: Option<String>,
    pub topic: Option<String>,
    pub timeout: Option<String>,
    /// librdkafka properties passed through, e.g. `"security.protocol" = "SASL_SSL"`.
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub url: Option<String>,
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
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProcessFile {
    pub group: Option<String>,
    pub sink: Option<String>,
    pub table: Option<String>,
    pub batch_max: Option<usize>,
    pub batch_linger_ms: Option<u64>,
    /// Reader schema file (.avsc) for `process` and `verify` (default: the newest in `avro/`).
    pub reader_schema: Option<PathBuf>,
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
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })
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
    Ok(Duration::from_millis(ms))
}

/// Parse `key=value` (for `--kafka-property`).
pub fn parse_property(text: &str) -> Result<(String, String), ConfigError> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(ConfigError::Value {
            name: "--kafka-property",
            value: text.to_string(),
            detail: "expected key=value, e.g. security.protocol=SSL".into(),
        }),
    }
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
