//! Checking an eosflow command line against the binary: every `--flag` and `EOSFLOW_*` variable
//! must be one that `eosflow <subcommand> --help` lists. Shared by the deployment-file tests
//! (`tests/compose.rs`, `tests/kubernetes.rs`): `#[path = "common/cli_help.rs"] mod cli_help;`.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::process::{Command, Output};

/// Panics with `what` and the output unless `out` succeeded.
pub fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `eosflow <subcommand...> --help`, without the caller's own EOSFLOW_* settings (clap would
/// print their values).
pub fn help(subcommand: &[String]) -> String {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_eosflow"));
    cmd.args(subcommand).arg("--help");
    for (k, _) in std::env::vars() {
        if k.starts_with("EOSFLOW_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().expect("eosflow runs");
    assert_success(&format!("eosflow {} --help", subcommand.join(" ")), &out);
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// `--flag` appears in `help` as a whole flag (not as the prefix of a longer one).
pub fn help_has_flag(help: &str, flag: &str) -> bool {
    help.match_indices(flag).any(|(i, _)| {
        let before = help[..i].chars().next_back();
        let after = help[i + flag.len()..].chars().next();
        matches!(before, None | Some(' ' | ',' | '\n'))
            && !matches!(after, Some(c) if c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

/// Problems with `words` (an eosflow command line without the binary) and `env` against the
/// binary's help for that subcommand.
pub fn check_invocation(
    who: &str,
    words: &[String],
    env: &BTreeMap<String, String>,
) -> Vec<String> {
    let subcommand: Vec<String> = words
        .iter()
        .take_while(|w| !w.starts_with('-'))
        .cloned()
        .collect();
    assert!(
        !subcommand.is_empty(),
        "{who}: no eosflow subcommand in {words:?}"
    );
    let help = help(&subcommand);
    let mut problems = Vec::new();
    for word in words.iter().filter(|w| w.starts_with("--")) {
        let flag = word.split_once('=').map_or(word.as_str(), |(f, _)| f);
        if !help_has_flag(&help, flag) {
            problems.push(format!(
                "{who}: `eosflow {}` has no flag {flag}",
                subcommand.join(" ")
            ));
        }
    }
    for key in env.keys().filter(|k| k.starts_with("EOSFLOW_")) {
        if !(help.contains(&format!("[env: {key}=")) || help.contains(&format!("[env: {key}]"))) {
            problems.push(format!(
                "{who}: `eosflow {}` reads no variable {key}",
                subcommand.join(" ")
            ));
        }
    }
    problems
}
