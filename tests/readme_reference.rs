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
