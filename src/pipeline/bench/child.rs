//! An eosflow row runs as a child process of this binary, so its peak RSS and CPU time are its
//! own (`wait4`'s resource usage), and its rate is what its summary line prints.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::pipeline::PipelineError;

/// What a finished child did.
#[derive(Debug)]
pub struct ChildRun {
    /// Its stdout and stderr.
    pub output: String,
    pub peak_rss_mb: f64,
    pub cpu_seconds: f64,
}

/// Start `eosflow ARGS` (this executable) with `env` added (a sink URL goes there, not into
/// the process list), output into a file under `dir` named after `label`.
pub fn spawn(
    args: &[String],
    env: &[(&str, &str)],
    dir: &Path,
    label: &str,
) -> Result<Running, PipelineError> {
    let fail = |what: &str, e: std::io::Error| {
        PipelineError::Other(format!("bench: {what} for the {label} row: {e}"))
    };
    let exe = std::env::current_exe().map_err(|e| fail("finding this executable", e))?;
    let log = dir.join(format!(
        "{}.log",
        label.replace(|c: char| !c.is_alphanumeric(), "_")
    ));
    let file = std::fs::File::create(&log).map_err(|e| fail("creating the log file", e))?;
    let err = file
        .try_clone()
        .map_err(|e| fail("creating the log file", e))?;
    let child = Command::new(exe)
        .args(args)
        .env_remove("EOSFLOW_CONFIG")
        .env("EOSFLOW_LOG", "warn")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| fail("starting eosflow", e))?;
    Ok(Running {
        pid: child.id() as libc::pid_t,
        log,
        label: label.to_string(),
    })
}

/// A started child, reaped by [`Running::wait`] (not by `std::process::Child`, which cannot
/// report resource usage).
pub struct Running {
    pid: libc::pid_t,
    log: std::path::PathBuf,
    label: String,
}

impl Running {
    /// Wait for the child; its exit must be 0.
    pub fn wait(self) -> Result<ChildRun, PipelineError> {
        let mut status: libc::c_int = 0;
        // SAFETY: an all-zero rusage is a valid value of this plain C struct.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // wait4's ru_maxrss would be this process's RSS (a child's high-water mark starts from
        // the parent's memory it was forked from): the child's own peak is VmHWM of its
        // /proc status, itself a high-water mark, read until it exits.
        let status_file = format!("/proc/{}/status", self.pid);
        let mut peak_kib = 0u64;
        let got = loop {
            if let Some(kib) = vm_hwm_kib(&status_file) {
                peak_kib = peak_kib.max(kib);
            }
            // SAFETY: `pid` is our own child, not reaped before (Running is consumed here),
            // and both pointers are to live, writable locals.
            let got = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut usage) };
            if got != 0 {
                break got;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        let output = std::fs::read_to_string(&self.log).unwrap_or_default();
        if got != self.pid {
            return Err(PipelineError::Other(format!(
                "bench: waiting for the {} row's process: {}",
                self.label,
                std::io::Error::last_os_error()
            )));
        }
        if !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0) {
            let tail: Vec<&str> = output.lines().rev().take(8).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            return Err(PipelineError::Other(format!(
                "bench: the {} row's eosflow failed (wait status {status}; log {}):\n{}",
                self.label,
                self.log.display(),
                tail.join("\n")
            )));
        }
        let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        Ok(ChildRun {
            output,
            peak_rss_mb: peak_kib as f64 / 1024.0,
            cpu_seconds: secs(usage.ru_utime) + secs(usage.ru_stime),
        })
    }
}

/// `VmHWM` (peak resident set, KiB) of a /proc status file.
fn vm_hwm_kib(path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The number printed just before `unit` inside parentheses, e.g. `(51234 users/s)`.
pub fn rate_in(text: &str, unit: &str) -> Option<f64> {
    let at = text.rfind(&format!(" {unit}"))?;
    let open = text[..at].rfind('(')?;
    text[open + 1..at].trim().parse().ok()
}

/// The number just after `word ` the last time it appears, e.g. `processed 100000`.
pub fn count_after(text: &str, word: &str) -> Option<u64> {
    let at = text.rfind(&format!("{word} "))? + word.len() + 1;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_numbers() {
        let produce = "x\nproduced 100000 users in 100 chunks (51234 users/s), 0 rejected";
        assert_eq!(rate_in(produce, "users/s"), Some(51234.0));
        assert_eq!(count_after(produce, "produced"), Some(100000));
        let process = "processed 99 records in 3 batches (812 records/s from the first record to the last commit)";
        assert_eq!(rate_in(process, "records/s"), Some(812.0));
        assert_eq!(count_after(process, "processed"), Some(99));
        assert_eq!(rate_in("nothing", "users/s"), None);
        assert_eq!(count_after("processed many", "processed"), None);
    }
}
