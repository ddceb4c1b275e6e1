//! Progress for long bounded work: a one-line bar on a terminal, plain log lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use tracing::info;

/// Counts units (users, records) and steps (pages, batches) and shows them now and then.
pub struct Meter {
    what: &'static str,
    step: &'static str,
    total: Option<u64>,
    started: Instant,
    last_shown: Instant,
    tty: bool,
    units: u64,
    steps: u64,
}

impl Meter {
    pub fn new(what: &'static str, step: &'static str, total: Option<u64>) -> Self {
        let now = Instant::now();
        Meter {
            what,
            step,
            total,
            started: now,
            last_shown: now,
            tty: std::io::stderr().is_terminal(),
            units: 0,
            steps: 0,
        }
    }

    /// Count a finished step of `units` and show progress if it is time.
    pub fn add(&mut self, units: u64) {
        self.units += units;
        self.steps += 1;
        let every = if self.tty {
            Duration::from_millis(200)
        } else {
            Duration::from_secs(2)
        };
        if self.last_shown.elapsed() >= every {
            self.last_shown = Instant::now();
            self.show();
        }
    }

    fn rate(&self) -> f64 {
        self.units as f64 / self.started.elapsed().as_secs_f64().max(1e-9)
    }

    fn show(&self) {
        let (what, step, units, steps, rate) =
            (self.what, self.step, self.units, self.steps, self.rate());
        if self.tty {
            let bar = match self.total {
                Some(total) if total > 0 => {
                    let done = (units.min(total) * 30 / total) as usize;
                    format!("[{}{}] ", "#".repeat(done), ".".repeat(30 - done))
                }
                _ => String::new(),
            };
            let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r{bar}{units}{of} {what}, {steps} {step}, {rate:.0} {what}/s "
            );
            let _ = err.flush();
        } else {
            info!(what, units, steps, rate = rate as u64, "progress");
        }
    }

    /// End the bar's line (on a terminal).
    pub fn finish(&self) {
        if self.tty && self.steps > 0 {
            self.show();
            eprintln!();
        }
    }
}
