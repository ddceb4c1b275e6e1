//! The report of `eosflow doctor`: one [`Finding`] per check, rendered as lines or JSON.

use serde::Serialize;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Works, but something deserves attention; does not fail the run.
    Warn,
    Fail,
    /// Not run because a check it needs failed.
    Skipped,
    /// The configuration is invalid (exit code 2).
    Invalid,
}

impl Status {
    fn symbol(self) -> &'static str {
        match self {
            Status::Pass => "✔",
            Status::Warn => "⚠",
            Status::Fail | Status::Invalid => "✘",
            Status::Skipped => "-",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub check: &'static str,
    /// What was checked (an address, URL, topic or subject); may be empty.
    pub target: String,
    pub ok: bool,
    pub status: Status,
    pub detail: String,
    /// What to do; always present when `ok` is false.
    pub fix: Option<String>,
}

impl Finding {
    pub(super) fn new(
        check: &'static str,
        target: impl Into<String>,
        status: Status,
        detail: impl Into<String>,
    ) -> Self {
        Finding {
            check,
            target: target.into(),
            ok: matches!(status, Status::Pass | Status::Warn),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    pub(super) fn pass(
        check: &'static str,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Finding::new(check, target, Status::Pass, detail)
    }

    pub(super) fn fixed(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    pub(super) fn fail(
        check: &'static str,
        target: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding::new(check, target, Status::Fail, detail).fixed(fix)
    }

    pub(super) fn warn(
        check: &'static str,
        target: impl Into<String>,
        detail: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Finding::new(check, target, Status::Warn, detail).fixed(fix)
    }

    pub(super) fn skipped(check: &'static str, target: impl Into<String>, because: &str) -> Self {
        Finding::new(
            check,
            target,
            Status::Skipped,
            format!("not checked: {because}"),
        )
        .fixed(format!("fix the {because} first"))
    }

    /// `✔ broker 127.0.0.1:9092: 1 broker, metadata in 3 ms`, `✘ … — fix`.
    pub fn line(&self) -> String {
        let target = if self.target.is_empty() {
            String::new()
        } else {
            format!(" {}", self.target)
        };
        let fix = match (&self.fix, self.status) {
            (Some(fix), Status::Warn | Status::Fail | Status::Invalid) => format!(" — {fix}"),
            _ => String::new(),
        };
        format!(
            "{} {}{target}: {}{fix}",
            self.status.symbol(),
            self.check,
            self.detail
        )
    }
}

/// All findings, in check order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Report {
    pub findings: Vec<Finding>,
}

impl Report {
    /// 0 when nothing failed (warnings pass), 1 when a check failed, 2 for invalid configuration.
    pub fn exit_code(&self) -> u8 {
        let has = |s: Status| self.findings.iter().any(|f| f.status == s);
        if has(Status::Invalid) {
            2
        } else if has(Status::Fail) || has(Status::Skipped) {
            1
        } else {
            0
        }
    }

    /// One line per check and a summary line.
    pub fn text(&self) -> String {
        let mut out: String = self.findings.iter().map(|f| f.line() + "\n").collect();
        let count = |s: Status| self.findings.iter().filter(|f| f.status == s).count();
        let failed = count(Status::Fail) + count(Status::Invalid);
        out.push_str(&format!(
            "doctor: {} ok, {} warning(s), {failed} failed, {} not checked\n",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Skipped)
        ));
        out
    }

    /// A JSON array of `{check, target, ok, status, detail, fix}`.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "[]".into())
    }
}
