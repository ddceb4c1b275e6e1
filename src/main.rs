//! The `eosflow` binary: parse, set up logging, run, map errors to a message and exit code.

use std::process::ExitCode;

use clap::Parser;
use eosflow::cli::args::LogFormat;
use eosflow::cli::{run, Cli};
use eosflow::pipeline::Shutdown;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match run(cli, Shutdown::new()).map_err(anyhow::Error::from) {
        Ok(code) => code,
        Err(e) => {
            // Secrets the configuration named are scrubbed, whatever a library put in its error.
            eprintln!("error: {}", eosflow::secret::scrub(&explain(&e)));
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
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(eosflow::secret::scrubbed_stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
}
