//! What the binary prints on standard output (summaries, reports, the demo's table), through one
//! door: [`outln!`](crate::outln) and [`out!`](crate::out).
//!
//! `println!` panics when stdout is closed (`eosflow doctor | head -5` exits 101 with a panic
//! message). Here a closed pipe (`BrokenPipe`) ends the output quietly, as `cat` and `grep` do, and
//! the job still finishes and exits with its own code; any other write error is logged once.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static CLOSED: AtomicBool = AtomicBool::new(false);

/// Write `args` to stdout and flush; after the first failure, nothing more is written.
pub fn write(args: std::fmt::Arguments<'_>) {
    if CLOSED.load(Ordering::Relaxed) {
        return;
    }
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        CLOSED.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            tracing::warn!(
                "cannot write to standard output ({e}); the rest of the output is dropped"
            );
        }
    }
}

/// `println!` that never panics on a closed stdout.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics on a closed stdout.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))
    };
}
