//! A Confluent-compatible Schema Registry (`eosflow registry serve`), so eosflow runs without a JVM.
//!
//! It speaks the subset of Confluent's REST API that real clients use (Python confluent-kafka's
//! `SchemaRegistryClient` and `AvroSerializer`, `schema_registry_converter`, the Java serializers):
//! registration and lookup under subjects, schemas by global id, compatibility levels and tests,
//! soft/permanent deletes, read-only and import modes. Only AVRO schemas are supported.
//!
//! | file | what lives there |
//! |---|---|
//! | `api`, `api_settings` | axum routes: request parsing, Confluent-shaped JSON answers |
//! | `state`, `ops` | the registry's data (what `registry.json` holds), its queries and mutations |
//! | `store` | one mutex around the state; atomic, fsynced persistence to `dir/registry.json` |
//! | `level` | compatibility levels and modes; which versions a level checks, in which direction |
//! | `schema` | parsing submissions (with references), schema identity, compact JSON |
//! | `error` | start-up errors and the `{"error_code", "message"}` API errors |
//! | `auth` | optional HTTP basic auth ([`BasicAuth`], `registry serve --basic-auth-file`) |
//! | `offline` | [`OfflineRegistry`]: the request-body handling without HTTP, on an in-memory state (for fuzzing) |
//!
//! Two schemas are "the same" (same id, no new version) when apache-avro renders them to the
//! same normalized JSON: formatting and key order do not matter, defaults and logical types do.
//! Ids are global: the same schema under another subject keeps its id.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod api;
mod api_settings;
mod auth;
mod error;
mod level;
mod offline;
mod ops;
mod request;
mod schema;
mod state;
mod store;

pub use auth::BasicAuth;
pub use error::RegistryServerError;
pub use level::{CompatibilityLevel, Mode};
pub use offline::{BodyAnswer, BodyRequest, OfflineRegistry};

/// A running registry. Dropping it without [`RegistryServer::stop`] also shuts it down (without
/// waiting).
pub struct RegistryServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl RegistryServer {
    /// Binds `listen` (port 0 picks a free port) and serves in a background tokio task. With
    /// `data = Some(dir)` the state is loaded from and persisted to `dir/registry.json` (durable
    /// across restarts); with `None` it lives in memory only.
    pub async fn start(
        listen: SocketAddr,
        data: Option<PathBuf>,
    ) -> Result<RegistryServer, RegistryServerError> {
        Self::start_with(listen, data, None).await
    }

    /// [`RegistryServer::start`], answering 401 to every request without the credentials of one
    /// of `auth`'s users when `auth` is given.
    pub async fn start_with(
        listen: SocketAddr,
        data: Option<PathBuf>,
        auth: Option<BasicAuth>,
    ) -> Result<RegistryServer, RegistryServerError> {
        let store = match data {
            None => store::Store::open(None)?,
            Some(dir) => {
                let opened =
                    tokio::task::spawn_blocking(move || store::Store::open(Some(&dir))).await;
                match opened {
                    Ok(store) => store?,
                    Err(join) => {
                        return Err(RegistryServerError::ReadState {
                            path: PathBuf::from(store::STATE_FILE),
                            source: std::io::Error::other(join.to_string()),
                        })
                    }
                }
            }
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| RegistryServerError::Bind {
                addr: listen,
                source,
            })?;
        let local_addr =
            listener
                .local_addr()
                .map_err(|source| RegistryServerError::LocalAddr {
                    addr: listen,
                    source,
                })?;
        let app = api::router(Arc::new(store));
        let app = match auth {
            Some(auth) => app.layer(axum::middleware::from_fn_with_state(
                Arc::new(auth),
                auth::require,
            )),
            None => app,
        };
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                // A dropped sender (server handle dropped) also means "stop".
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                tracing::error!(%local_addr, %error, "schema registry server stopped with an error");
            }
        });
        tracing::info!(%local_addr, "schema registry listening");
        Ok(RegistryServer {
            local_addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The base URL clients use, e.g. `http://127.0.0.1:8081` (a wildcard bind is reached over
    /// loopback).
    pub fn url(&self) -> String {
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// Graceful shutdown: stops accepting, lets in-flight requests finish, waits for the task.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Err(error) = (&mut self.task).await {
            tracing::error!(%error, "schema registry task failed");
        }
        tracing::info!(local_addr = %self.local_addr, "schema registry stopped");
    }
}
