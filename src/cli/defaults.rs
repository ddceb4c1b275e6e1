//! The default of every option that has one, written once. `run` takes them when neither flag,
//! env nor file gave a value (flag > env > file > default), and `--help` shows them:
//! [`super::command`] appends `[default: …]` to each option's help from [`shown`], so the two
//! cannot drift apart. (clap's own `default_value` cannot be used: a flag holding a default
//! would hide the file.)

use std::time::Duration;

use crate::kafka::consumer::GroupOptions;

pub const BOOTSTRAP: &str = "127.0.0.1:9092";
pub const REGISTRY: &str = "http://127.0.0.1:8081";
pub const TOPIC: &str = "users";
pub const TIMEOUT: &str = "30s";
pub const SINK: &str = "sqlite://eosflow.db";
pub const TABLE: &str = "users";
pub const SEED: &str = "eosflow";
pub const SOURCE: &str = "generator";
pub const START_PAGE: u64 = 1;
pub const PAGE_SIZE: u32 = 1000;
pub const PARTITIONS: i32 = 4;
pub const GROUP: &str = "eosflow-processor";
pub const BATCH_MAX: usize = 5000;
pub const BATCH_LINGER: &str = "500ms";
/// `doctor` asks each service once and quickly.
pub const DOCTOR_TIMEOUT: &str = "5s";

/// A duration the way the flags are written (`500ms`, `10s`, `5m`, `1h`).
pub fn duration_text(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        ms if ms % 3_600_000 == 0 => format!("{}h", ms / 3_600_000),
        ms if ms % 60_000 == 0 => format!("{}m", ms / 60_000),
        ms if ms % 1000 == 0 => format!("{}s", ms / 1000),
        ms => format!("{ms}ms"),
    }
}

/// (subcommand or `*` for all, option id, default as shown in `--help`).
pub fn shown() -> Vec<(&'static str, &'static str, String)> {
    let group = GroupOptions::default();
    vec![
        ("*", "bootstrap", BOOTSTRAP.into()),
        ("*", "registry", REGISTRY.into()),
        ("*", "topic", TOPIC.into()),
        ("doctor", "timeout", DOCTOR_TIMEOUT.into()),
        ("*", "timeout", TIMEOUT.into()),
        ("*", "sink", SINK.into()),
        ("*", "table", TABLE.into()),
        ("produce", "seed", SEED.into()),
        ("produce", "source", SOURCE.into()),
        ("produce", "start_page", START_PAGE.to_string()),
        ("produce", "page_size", PAGE_SIZE.to_string()),
        ("produce", "partitions", PARTITIONS.to_string()),
        ("produce", "delivery", "transactional".into()),
        ("doctor", "delivery", "transactional".into()),
        ("produce", "transactional_id", "eosflow-<topic>".into()),
        (
            "produce",
            "transaction_timeout",
            duration_text(crate::kafka::producer::DEFAULT_TRANSACTION_TIMEOUT),
        ),
        ("process", "group", GROUP.into()),
        ("process", "group_protocol", "classic".into()),
        (
            "process",
            "session_timeout",
            duration_text(group.session_timeout),
        ),
        (
            "process",
            "max_poll_interval",
            duration_text(group.max_poll_interval),
        ),
        ("process", "batch_max", BATCH_MAX.to_string()),
        ("process", "batch_linger", BATCH_LINGER.into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_names_a_real_option_and_shows_in_help() {
        let cli = super::super::command::command();
        for (scope, id, value) in shown() {
            let mut found = false;
            for sub in cli.get_subcommands() {
                if scope != "*" && sub.get_name() != scope {
                    continue;
                }
                if let Some(arg) = sub.get_arguments().find(|a| a.get_id() == id) {
                    found = true;
                    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                    assert!(help.contains("[default: "), "{scope} {id}: {help}");
                }
            }
            assert!(
                found,
                "default for {scope} --{id} ({value}) names no option"
            );
        }
    }

    #[test]
    fn durations_print_as_they_are_written() {
        assert_eq!(duration_text(Duration::from_millis(500)), "500ms");
        assert_eq!(duration_text(Duration::from_secs(10)), "10s");
        assert_eq!(duration_text(Duration::from_secs(300)), "5m");
        assert_eq!(duration_text(Duration::from_secs(7200)), "2h");
        for text in ["500ms", "30s", "5m"] {
            let d = crate::config::parse_duration("t", text).expect("parses");
            assert_eq!(duration_text(d), text);
        }
    }
}
