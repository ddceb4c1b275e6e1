//! README's configuration reference lists exactly the environment variables the binary reads
//! (as `--help` shows them), so the reference cannot fall behind the flags.

mod common;

use std::collections::BTreeSet;

use common::{eosflow, run_ok, stdout};

const COMMANDS: [&[&str]; 10] = [
    &["produce"],
    &["process"],
    &["verify"],
    &["doctor"],
    &["registry", "serve"],
    &["demo"],
    &["bench"],
    &["mock-broker"],
    &["schema", "check"],
    &["schema", "lint"],
];

fn env_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("EOSFLOW_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        names.insert(tail[..end].trim_end_matches('_').to_string());
        rest = &tail[end..];
    }
    names
}

#[test]
fn the_configuration_reference_lists_every_environment_variable() {
    let mut from_help = BTreeSet::new();
    for args in COMMANDS {
        let out = run_ok(eosflow().args(args).arg("--help"));
        let help = stdout(&out);
        from_help.extend(
            help.split("[env: ")
                .skip(1)
                .flat_map(|after| env_names(after.split(']').next().unwrap_or_default())),
        );
    }
    assert!(
        from_help.len() > 30,
        "--help should name the env vars: {from_help:?}"
    );
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let section = readme
        .split("## Configuration reference")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a '## Configuration reference' section");
    let table: String = section
        .lines()
        .filter(|l| l.starts_with('|'))
        .collect::<Vec<_>>()
        .join("\n");
    let in_readme = env_names(&table);
    let missing: Vec<_> = from_help.difference(&in_readme).collect();
    let stale: Vec<_> = in_readme.difference(&from_help).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "README's configuration reference is out of date.\nread by the binary, not in the table: {missing:?}\nin the table, not read by the binary: {stale:?}"
    );
}

/// Every default the binary uses (`src/cli/defaults.rs`, also shown by `--help`) is the one the
/// table gives.
#[test]
fn the_configuration_reference_gives_the_binarys_defaults() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let rows: Vec<Vec<String>> = readme
        .split("## Configuration reference")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("README has a '## Configuration reference' section")
        .lines()
        .filter(|l| l.starts_with("| `--"))
        .map(|l| l.split('|').map(|c| c.trim().to_string()).collect())
        .collect();
    let mut wrong = Vec::new();
    for (scope, id, value) in eosflow::cli::defaults::shown() {
        let flag = format!("`--{}`", id.replace('_', "-"));
        let Some(row) = rows
            .iter()
            .find(|r| r.get(1).is_some_and(|c| c.starts_with(&flag)))
        else {
            wrong.push(format!("{flag}: no row"));
            continue;
        };
        let default = row.get(4).cloned().unwrap_or_default();
        let expected = if scope == "*" || default.matches('`').count() <= 2 {
            format!("`{value}`")
        } else {
            format!("{scope}`: {value}")
        };
        let found = default.contains(&expected) || default.contains(&format!("{scope}: {value}"));
        if !found {
            wrong.push(format!(
                "{flag} ({scope}): README says {default:?}, the binary {value:?}"
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "README's defaults are out of date:\n{}",
        wrong.join("\n")
    );
}
