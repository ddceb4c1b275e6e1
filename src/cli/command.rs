//! The command line as clap sees it: [`args`](super::args) plus every default of
//! [`defaults`](super::defaults) in the help, and the parse that names an `EOSFLOW_*` variable
//! when a bad value came from it.

use clap::CommandFactory;

/// The command line with every default of [`super::defaults::shown`] in its help.
pub fn command() -> clap::Command {
    let defaults = super::defaults::shown();
    let mut cli = super::Cli::command();
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        cli = cli.mut_subcommand(&name, |mut sub| {
            let mut done: Vec<&str> = Vec::new();
            for (scope, id, value) in &defaults {
                let applies = *scope == "*" || *scope == name;
                let present = sub.get_arguments().any(|a| a.get_id() == *id);
                if !applies || !present || done.contains(id) {
                    continue;
                }
                done.push(id);
                sub = sub.mut_arg(*id, |arg| {
                    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                    arg.help(format!("{help} [default: {value}]"))
                });
            }
            sub
        });
    }
    cli
}

/// Parse the process's arguments with [`command`] (clap's exit on `--help`, `--version` and
/// errors included). A bad value that came from an `EOSFLOW_*` variable rather than a flag is
/// named by its variable: the user never typed the flag clap talks about.
pub fn parse() -> super::Cli {
    use clap::FromArgMatches;
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let command = command();
    let parsed = command
        .clone()
        .try_get_matches_from(&argv)
        .and_then(|m| super::Cli::from_arg_matches(&m));
    match parsed {
        Ok(cli) => cli,
        Err(e) => {
            if let Some(var) = env_source(&command, &e, &argv) {
                let note = format!("note: the value came from the environment variable {var}\n");
                let rendered = e.render().to_string();
                match rendered.split_once("\n\n") {
                    Some((error, rest)) => eprint!("{error}\n{note}\n{rest}"),
                    None => eprint!("{rendered}{note}"),
                }
                std::process::exit(2);
            }
            e.exit()
        }
    }
}

/// The variable a rejected value came from: the error names an option whose flag is not on the
/// command line but whose `EOSFLOW_*` variable is set.
fn env_source(
    command: &clap::Command,
    e: &clap::Error,
    argv: &[std::ffi::OsString],
) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        e.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return None;
    }
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        return None;
    };
    let long = shown.split_whitespace().next()?.trim_start_matches("--");
    let typed = argv.iter().any(|a| {
        a.to_str().is_some_and(|a| {
            a.strip_prefix("--")
                .is_some_and(|a| a == long || a.starts_with(&format!("{long}=")))
        })
    });
    if typed {
        return None;
    }
    let mut commands = vec![command];
    while let Some(c) = commands.pop() {
        for arg in c.get_arguments() {
            if arg.get_long() == Some(long) {
                if let Some(var) = arg.get_env().and_then(|v| v.to_str()) {
                    if std::env::var_os(var).is_some() {
                        return Some(var.to_string());
                    }
                }
            }
        }
        commands.extend(c.get_subcommands());
    }
    None
}
