//! Can a TCP address be reached, and if not, why: the one place that tells a host name that
//! does not resolve, a port where nothing listens and an address that drops packets apart. The
//! Kafka preflight ([`crate::kafka::reach`]) and the registry client's errors use it.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why one address could not be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unreachable {
    /// The host name does not resolve.
    UnknownHost(String),
    /// Nothing listens there (connection refused).
    Refused(String),
    /// No answer within the time given (packets dropped, or a wrong network).
    TimedOut,
    Other(String),
}

impl Unreachable {
    /// Certain: no amount of waiting helps.
    pub fn certain(&self) -> bool {
        matches!(self, Unreachable::UnknownHost(_) | Unreachable::Refused(_))
    }
}

impl std::fmt::Display for Unreachable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unreachable::UnknownHost(e) => write!(f, "the host name does not resolve ({e})"),
            Unreachable::Refused(_) => write!(f, "connection refused: nothing listens there"),
            Unreachable::TimedOut => write!(
                f,
                "no answer: a firewall dropping packets, or an address of another network"
            ),
            Unreachable::Other(e) => write!(f, "{e}"),
        }
    }
}

/// Open a TCP connection to `addr` (`host:port`) within `deadline`, or say why not.
pub fn connect(addr: &str, deadline: Instant) -> Result<TcpStream, Unreachable> {
    let resolved: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Unreachable::UnknownHost(e.to_string()))?
        .collect();
    let mut why = Unreachable::UnknownHost("the name resolves to no address".into());
    for socket in resolved {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        match TcpStream::connect_timeout(&socket, left) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                why = match e.kind() {
                    std::io::ErrorKind::ConnectionRefused => Unreachable::Refused(e.to_string()),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                        Unreachable::TimedOut
                    }
                    _ => Unreachable::Other(e.to_string()),
                }
            }
        }
    }
    Err(why)
}

/// Why `host:port` cannot be reached within `limit`, or `None` when it can.
pub fn diagnose(addr: &str, limit: Duration) -> Option<Unreachable> {
    connect(addr, Instant::now() + limit).err()
}
