//! Can the brokers be reached at all? A TCP look at the bootstrap addresses before a job starts,
//! so that a broker that is down, a host name that does not resolve and a port that drops
//! packets are told apart within seconds, with the address and what to check, instead of after
//! librdkafka's metadata wait.

use std::time::{Duration, Instant};

pub use crate::net::{connect, Unreachable};

use super::api_versions::bootstrap_addresses;
use super::KafkaAdapterError;

/// Kafka's wording of why an address could not be reached.
trait Explain {
    fn explain(&self, addr: &str, waited: Duration) -> String;
}

impl Explain for Unreachable {
    fn explain(&self, addr: &str, waited: Duration) -> String {
        match self {
            Unreachable::UnknownHost(e) => format!(
                "{addr}: the host name does not resolve ({e}): check the host part of --bootstrap"
            ),
            Unreachable::Refused(_) => format!(
                "{addr}: connection refused, nothing listens there: is the broker running, and is the port right?"
            ),
            Unreachable::TimedOut => format!(
                "{addr}: no answer within {} ms: a firewall dropping packets, or an address of another network",
                waited.as_millis()
            ),
            Unreachable::Other(e) => format!("{addr}: {e}"),
        }
    }
}

/// The longest a job waits to open a TCP connection to a broker before it says so.
pub const CONNECT_LIMIT: Duration = Duration::from_secs(5);

/// Succeeds as soon as one bootstrap address accepts a TCP connection; fails fast when none
/// does, naming each address and its cause (refused and unknown hosts at once, silent ones after
/// at most [`CONNECT_LIMIT`] or `timeout`).
pub fn check(bootstrap: &str, timeout: Duration) -> Result<(), KafkaAdapterError> {
    let waited = timeout.min(CONNECT_LIMIT);
    let deadline = Instant::now() + waited;
    let mut failures = Vec::new();
    for addr in bootstrap_addresses(bootstrap) {
        match connect(&addr, deadline) {
            Ok(_) => return Ok(()),
            Err(why) => failures.push((addr, why)),
        }
    }
    if failures.is_empty() {
        return Err(KafkaAdapterError::Unreachable {
            bootstrap: bootstrap.to_string(),
            operation: "connect",
            timeout_ms: 0,
            detail: "no broker address in the bootstrap list".into(),
        });
    }
    let certain = failures.iter().all(|(_, why)| why.certain());
    let detail: Vec<String> = failures
        .iter()
        .map(|(addr, why)| why.explain(addr, waited))
        .collect();
    Err(KafkaAdapterError::BrokersDown {
        bootstrap: bootstrap.to_string(),
        detail: detail.join("; "),
        certain,
    })
}

/// Every entry of a bootstrap list is `host:port` (`[v6]:port`), checked before anything
/// connects: a bare `localhost` would otherwise read as a host that does not resolve.
pub fn check_addresses(bootstrap: &str) -> Result<(), String> {
    let addresses = bootstrap_addresses(bootstrap);
    if addresses.is_empty() {
        return Err("no broker address: expected host:port[,host:port...]".into());
    }
    for addr in addresses {
        let bracketed = addr.starts_with('[');
        if !bracketed && addr.matches(':').count() > 1 {
            return Err(format!(
                "{addr}: an IPv6 address goes in brackets, before its port (e.g. [::1]:9092)"
            ));
        }
        let port = match addr.rsplit_once(':') {
            Some((host, port))
                if !host.is_empty() && !(host.starts_with('[') ^ host.ends_with(']')) =>
            {
                port
            }
            _ => return Err(format!("{addr}: the port is missing (e.g. {addr}:9092)")),
        };
        if !matches!(port.parse::<u16>(), Ok(p) if p > 0) {
            return Err(format!(
                "{addr}: the port {port:?} is not a number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_need_a_host_and_a_port() {
        assert_eq!(check_addresses("a:1,PLAINTEXT://b:9092,[::1]:9093"), Ok(()));
        let e = check_addresses("localhost").expect_err("no port");
        assert!(
            e.contains("localhost: the port is missing (e.g. localhost:9092)"),
            "{e}"
        );
        assert!(check_addresses("[::1]")
            .expect_err("v6 no port")
            .contains("missing"));
        assert!(check_addresses("::1")
            .expect_err("bare v6")
            .contains("brackets"));
        assert!(check_addresses("a:1,b:x")
            .expect_err("bad")
            .contains("\"x\" is not a number"));
        assert!(check_addresses("a:0").is_err());
        assert!(check_addresses(" , ")
            .expect_err("empty")
            .contains("no broker address"));
    }

    #[test]
    fn refused_and_unknown_hosts_are_told_apart_at_once() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let started = Instant::now();
        let e = check(&format!("127.0.0.1:{closed}"), Duration::from_secs(30))
            .expect_err("refused")
            .to_string();
        assert!(
            e.contains("connection refused") && e.contains(&closed.to_string()),
            "{e}"
        );
        let e = check("no-such-host.invalid:9092", Duration::from_secs(30))
            .expect_err("unknown host")
            .to_string();
        assert!(
            e.contains("does not resolve") && e.contains("no-such-host.invalid"),
            "{e}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "both certain: no waiting"
        );
        let open = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let addr = open.local_addr().expect("addr");
        check(
            &format!("127.0.0.1:{closed},{addr}"),
            Duration::from_secs(1),
        )
        .expect("one answers");
    }
}
