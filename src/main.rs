//! The `eosflow` binary: parse, set up logging, run, map errors to a message and exit code.

use std::process::ExitCode;

use eosflow::cli::args::LogFormat;
use eosflow::cli::run;
use eosflow::pipeline::Shutdown;

fn main() -> ExitCode {
    let cli = eosflow::cli::command::parse();
    let format = cli.log_format;
    init_logging(format);
    match run(cli, Shutdown::new()).map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(e) => {
            // Secrets the configuration named are scrubbed, whatever a library put in its error.
            let message = eosflow::secret::scrub(&explain(&e));
            match format {
                // With --log-format json every line is JSON, the last one too.
                LogFormat::Json => {
                    tracing::error!(target: "eosflow", error = %message, "eosflow stopped")
                }
                LogFormat::Pretty => {
                    use std::io::Write;
                    // A closed stderr has nowhere to say it; the exit code still does.
                    let _ = writeln!(std::io::stderr(), "error: {message}");
                }
            }
            ExitCode::from(2)
        }
    }
}

/// The error and its causes, joined by ": ", leaving out a cause whose text the message already
/// carries (most of ours embed their source, so `{:#}` would print it twice).
fn explain(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let part = cause.to_string();
        if text.contains(&part) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&part);
    }
    text
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EOSFLOW_LOG")
        // rust-rdkafka logs an ERROR when a consumer that eosflow already closed is dropped
        // ("Failed to close consumer queue on drop"): noise, not a failure. EOSFLOW_LOG overrides.
        .unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new("info,rdkafka::consumer::base_consumer=off")
        });
    // Colour only for a person at a terminal who did not ask for none (https://no-color.org).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(eosflow::secret::scrubbed_stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
