//! Driver glue: the TLS context, which driver errors are worth a retry, and error text.

use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode};
use openssl::x509::store::X509StoreBuilder;
use openssl::x509::X509;
use scylla::client::pager::NextPageError;
use scylla::client::session::OpenSsl010Config;
use scylla::errors::{
    DbError, ExecutionError, NextRowError, PagerExecutionError, PrepareError, RequestAttemptError,
    RequestError,
};

use super::config::Tls;
use super::write::AttemptError;

/// A TLS context from the URL's options: the system CA store or `tls_ca`, verification on or off.
pub fn tls_context(tls: &Tls) -> Result<OpenSsl010Config, String> {
    let ssl = |e: openssl::error::ErrorStack| format!("TLS setup failed: {e}");
    let mut builder = SslConnector::builder(SslMethod::tls()).map_err(ssl)?;
    if let Some(ca) = &tls.ca {
        let pem = std::fs::read(ca)
            .map_err(|e| format!("cannot read tls_ca file {}: {e}", ca.display()))?;
        let certs = X509::stack_from_pem(&pem)
            .map_err(|e| format!("tls_ca file {}: not PEM certificates: {e}", ca.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "tls_ca file {}: no PEM certificate in it",
                ca.display()
            ));
        }
        let mut store = X509StoreBuilder::new().map_err(ssl)?;
        for cert in certs {
            store.add_cert(cert).map_err(ssl)?;
        }
        builder.set_cert_store(store.build());
    }
    if !tls.verify {
        builder.set_verify(SslVerifyMode::NONE);
    }
    Ok(OpenSsl010Config::new(builder))
}

/// Whether a failed attempt is worth retrying (the statement being idempotent).
fn transient_attempt(e: &RequestAttemptError) -> bool {
    match e {
        RequestAttemptError::BrokenConnectionError(_)
        | RequestAttemptError::UnableToAllocStreamId => true,
        RequestAttemptError::DbError(db, _) => matches!(
            db,
            DbError::WriteTimeout { .. }
                | DbError::ReadTimeout { .. }
                | DbError::Unavailable { .. }
                | DbError::Overloaded
                | DbError::IsBootstrapping
                | DbError::ServerError
                | DbError::TruncateError
                | DbError::RateLimitReached { .. }
        ),
        _ => false,
    }
}

fn transient_request(e: &RequestError) -> bool {
    match e {
        RequestError::EmptyPlan
        | RequestError::ConnectionPoolError(_)
        | RequestError::RequestTimeout(_) => true,
        RequestError::LastAttemptError(a) => transient_attempt(a),
        _ => false,
    }
}

pub fn attempt_error(e: &ExecutionError) -> AttemptError {
    let transient = match e {
        ExecutionError::EmptyPlan
        | ExecutionError::ConnectionPoolError(_)
        | ExecutionError::RequestTimeout(_) => true,
        ExecutionError::LastAttemptError(a) => transient_attempt(a),
        _ => false,
    };
    AttemptError {
        transient,
        detail: error_chain(e),
    }
}

fn next_page_transient(e: &NextPageError) -> bool {
    matches!(e, NextPageError::RequestFailure(r) if transient_request(r))
}

pub fn pager_attempt_error(e: &PagerExecutionError) -> AttemptError {
    let transient = match e {
        PagerExecutionError::NextPageError(n) => next_page_transient(n),
        PagerExecutionError::PrepareError(PrepareError::ConnectionPoolError(_)) => true,
        _ => false,
    };
    AttemptError {
        transient,
        detail: error_chain(e),
    }
}

pub fn prepare_attempt_error(e: &PrepareError) -> AttemptError {
    let transient = match e {
        PrepareError::ConnectionPoolError(_) => true,
        PrepareError::AllAttemptsFailed { first_attempt } => transient_attempt(first_attempt),
        _ => false,
    };
    AttemptError {
        transient,
        detail: error_chain(e),
    }
}

pub fn next_row_attempt_error(e: &NextRowError) -> AttemptError {
    AttemptError {
        transient: matches!(e, NextRowError::NextPageError(n) if next_page_transient(n)),
        detail: error_chain(e),
    }
}

pub fn permanent(e: impl std::error::Error) -> AttemptError {
    AttemptError {
        transient: false,
        detail: error_chain(&e),
    }
}

/// An error and its causes on one line, without repeating a cause its parent already shows.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = cause.source();
    }
    s
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use scylla::statement::Consistency;

    use super::*;

    #[test]
    fn error_chain_skips_repeated_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] Inner);
        #[derive(Debug, thiserror::Error)]
        #[error("inner")]
        struct Inner;
        assert_eq!(error_chain(&Outer(Inner)), "outer: inner");
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Quiet(#[source] Inner);
        assert_eq!(error_chain(&Quiet(Inner)), "outer: inner");
    }

    #[test]
    fn timeouts_and_unavailable_are_transient_invalid_is_not() {
        let db = |e: DbError| {
            attempt_error(&ExecutionError::LastAttemptError(
                RequestAttemptError::DbError(e, "msg".into()),
            ))
        };
        assert!(db(DbError::Overloaded).transient);
        assert!(
            db(DbError::Unavailable {
                consistency: Consistency::LocalQuorum,
                required: 2,
                alive: 1
            })
            .transient
        );
        assert!(!db(DbError::Invalid).transient);
        assert!(!db(DbError::SyntaxError).transient);
        assert!(attempt_error(&ExecutionError::RequestTimeout(Duration::from_secs(1))).transient);
    }
}
