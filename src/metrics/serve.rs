//! The HTTP side of metrics: `GET /metrics` answers the registry in the text exposition format;
//! `GET /healthz` and `GET /readyz` answer the job's [`Health`](super::health::Health); the status
//! page is `GET /` (HTML with its CSS and JavaScript inline, compiled in: no CDN, no framework)
//! and `GET /status.json` (the [`Status`](super::status::Status) snapshot it polls).
//! [`serve_while`] binds before a job starts, logs the address and stops when the job ends.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Json};
use axum::routing::get;
use axum::Router;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use super::status::{now_ms, Snapshot};
use super::Registry;

/// The status page; `__STATUS_JSON__` is replaced by the first snapshot, so it draws at once.
const STATUS_PAGE: &str = include_str!("status.html");

/// The metrics listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetricsServerError {
    #[error("cannot listen on {addr} for metrics (--metrics-listen): {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// A running `/metrics` endpoint.
pub struct MetricsServer {
    local_addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

async fn metrics(State(registry): State<Registry>) -> impl IntoResponse {
    ([(CONTENT_TYPE, super::CONTENT_TYPE)], registry.encode())
}

/// 200 while the job's loop runs, 503 naming how long it has been stuck.
async fn healthz(State(registry): State<Registry>) -> impl IntoResponse {
    match registry.health().live(super::health::STALE_AFTER) {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("{why}\n")),
    }
}

/// 200 once the job is past its start and until it stops, 503 otherwise.
async fn readyz(State(registry): State<Registry>) -> impl IntoResponse {
    if registry.health().ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: starting or stopping\n",
        )
    }
}

fn snapshot(registry: &Registry) -> Snapshot {
    registry
        .status()
        .snapshot(now_ms(), registry.health().ready())
}

async fn status_json(State(registry): State<Registry>) -> Json<Snapshot> {
    Json(snapshot(&registry))
}

/// The page with the current snapshot inline, as JSON that cannot close its `<script>` element.
async fn status_page(State(registry): State<Registry>) -> Html<String> {
    let json = serde_json::to_string(&snapshot(&registry)).unwrap_or_else(|_| "null".into());
    let json = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    Html(STATUS_PAGE.replace("__STATUS_JSON__", &json))
}

impl MetricsServer {
    /// Bind `listen` (port 0 picks a free port) and serve `registry` in a background task.
    pub async fn start(
        listen: SocketAddr,
        registry: Registry,
    ) -> Result<MetricsServer, MetricsServerError> {
        let bind_err = |source| MetricsServerError::Bind {
            addr: listen,
            source,
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(bind_err)?;
        let local_addr = listener.local_addr().map_err(bind_err)?;
        let app = Router::new()
            .route("/", get(status_page))
            .route("/status.json", get(status_json))
            .route("/metrics", get(metrics))
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .with_state(registry);
        let (shutdown, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = stopped.await;
            });
            if let Err(error) = serve.await {
                error!(%local_addr, %error, "metrics server stopped with an error");
            }
        });
        info!(%local_addr, "metrics: listening on http://{local_addr}/metrics (status page: http://{local_addr}/)");
        Ok(MetricsServer {
            local_addr,
            shutdown: Some(shutdown),
            task,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stop accepting, let in-flight scrapes finish (bounded: a scraper holding a connection
    /// open cannot keep the job from exiting).
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match tokio::time::timeout(Duration::from_secs(2), &mut self.task).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => error!(%error, "metrics server task failed"),
            Err(_) => {
                warn!("metrics server did not stop within 2s; aborting it");
                self.task.abort();
            }
        }
        info!(local_addr = %self.local_addr, "metrics: stopped");
    }
}

/// Run `job` with `registry` served at `listen` (when given): bound before the job starts,
/// stopped when it ends, whatever its result.
pub fn serve_while<T, E: From<MetricsServerError>>(
    listen: Option<SocketAddr>,
    registry: &Registry,
    handle: &Handle,
    job: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let server = match listen {
        Some(addr) => Some(handle.block_on(MetricsServer::start(addr, registry.clone()))?),
        None => None,
    };
    let result = job();
    if let Some(server) = server {
        handle.block_on(server.stop());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::status::ConfigEntry;

    /// `registry` served on a free loopback port, with the runtime that serves it.
    fn served(registry: Registry) -> (tokio::runtime::Runtime, MetricsServer) {
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let server = runtime
            .block_on(MetricsServer::start(([127, 0, 0, 1], 0).into(), registry))
            .expect("binds");
        (runtime, server)
    }

    #[test]
    fn serves_the_registry_and_refuses_a_taken_address() {
        let registry = Registry::new();
        registry.counter("eosflow_x_total", "X.").add(3);
        let (runtime, server) = served(registry);
        let addr = server.local_addr();
        let taken = runtime
            .block_on(MetricsServer::start(addr, Registry::new()))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            taken.contains("--metrics-listen") && taken.contains(&addr.to_string()),
            "{taken}"
        );
        let (content_type, body, missing) = runtime.block_on(async {
            let client = reqwest::Client::new();
            let url = format!("http://{addr}/metrics");
            let response = client.get(&url).send().await.expect("scrape");
            let content_type = response.headers()[reqwest::header::CONTENT_TYPE]
                .to_str()
                .map(str::to_string)
                .unwrap_or_default();
            let body = response.text().await.expect("body");
            let missing = client
                .get(format!("http://{addr}/other"))
                .send()
                .await
                .expect("404")
                .status();
            (content_type, body, missing)
        });
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert_eq!(
            body,
            "# HELP eosflow_x_total X.\n# TYPE eosflow_x_total counter\neosflow_x_total 3\n"
        );
        assert_eq!(missing, reqwest::StatusCode::NOT_FOUND);
        runtime.block_on(server.stop());
        assert!(
            std::net::TcpStream::connect(addr).is_err(),
            "the listener is closed after stop"
        );
    }

    #[test]
    fn the_status_page_and_its_json_hide_secrets_and_cannot_be_broken_out_of() {
        let registry = Registry::new();
        let status = registry.status();
        let sink = "postgres://eosflow:pw-never-shown@127.0.0.1/x";
        status.describe(
            "process",
            "users",
            vec![ConfigEntry::url("sink", sink)],
            now_ms(),
        );
        let evil = "bad magic in </script><img src=x onerror=alert(1)>";
        status.dead_letter("bad-magic", 0, 7, evil, now_ms());
        let (runtime, server) = served(registry);
        let addr = server.local_addr();
        let (page, json) = runtime.block_on(async {
            let get = |path: &str| reqwest::get(format!("http://{addr}{path}"));
            let page = get("/").await.expect("page").text().await.expect("html");
            let json = get("/status.json").await.expect("json");
            (
                page,
                json.json::<serde_json::Value>().await.expect("parses"),
            )
        });
        runtime.block_on(server.stop());
        assert!(page.starts_with("<!doctype html>") && !page.contains("__STATUS_JSON__"));
        for text in [&page, &json.to_string()] {
            assert!(!text.contains("pw-never-shown"), "{text}");
        }
        assert!(
            !page.contains("</script><img"),
            "the reason cannot close the script element"
        );
        assert!(
            page.contains("\\u003c/script\\u003e\\u003cimg"),
            "escaped inline"
        );
        for remote in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(
                !page.contains(remote),
                "nothing from the internet: {remote}"
            );
        }
        assert_eq!(json["dead_letters"][0]["latest"][0]["reason"], evil);
        assert_eq!(json["config"][0]["value"], "postgres://eosflow@127.0.0.1/x");
        assert_eq!(json["command"], "process");
    }
}
