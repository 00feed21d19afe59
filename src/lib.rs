//! `orderly` as a library: the service's configuration, HTTP API, start-up wiring and the data
//! commands (export, import, backup), used by the `orderly` binary (`src/main.rs`) and by the
//! measuring tools (`orderly-bench`).

// Problems (RFC 9457 bodies) are returned by value on the error path of request handlers; their
// size does not matter there, and boxing them would only add noise.
#![allow(clippy::result_large_err)]

pub mod api;
pub mod config;
pub mod data_commands;
pub mod label;
pub mod wiring;

pub use wiring::start_engine;

use actix_web::dev::Service;
use actix_web::{web, App, HttpServer};
use api::metrics::{HttpMetrics, RequestLabels, RouteLabels};
use config::Config;
use std::sync::Arc;
use std::time::Instant;

pub fn init_tracing(config: &Config) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.log.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if config.log.format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn serve(config: Config) -> Result<(), String> {
    let started = Instant::now();
    let dir = &config.storage.data_dir;
    let engine = start_engine(&config)?;
    if config.warehouses.is_empty() {
        tracing::warn!("no [[warehouses]] configured: running open, any warehouse id of valid shape is taken as given");
    }
    let state = web::Data::new(api::AppState {
        engine,
        keys: api::auth::Keys::from_config(&config.auth),
        metrics: Arc::new(HttpMetrics::default()),
    });
    let max_body = config.server.max_body_bytes;
    let workers = if config.server.workers == 0 {
        config::num_cpus()
    } else {
        config.server.workers
    };
    let server = HttpServer::new(move || {
        let metrics = state.metrics.clone();
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |req, srv| {
                let method = req.method().to_string();
                // Not `req.match_pattern()`: it matches the path against every route again, which
                // profiled at ~7% of the server's CPU.
                let route = api::metrics::route_label(req.path());
                let t0 = Instant::now();
                let metrics = metrics.clone();
                let fut = srv.call(req);
                async move {
                    let res = fut.await?;
                    let status = res.status().as_u16();
                    metrics
                        .latency
                        .get_or_create(&RouteLabels {
                            method: method.clone(),
                            route,
                        })
                        .observe(t0.elapsed().as_secs_f64());
                    metrics
                        .requests
                        .get_or_create(&RequestLabels {
                            method,
                            route,
                            status,
                        })
                        .inc();
                    Ok(res)
                }
            })
            .configure(api::configure(max_body))
    })
    .workers(workers)
    .bind(&config.server.bind)
    .map_err(|e| format!("cannot listen on {}: {e}", config.server.bind))?;
    tracing::info!(bind = %config.server.bind, backend = %config.storage.backend, data_dir = %dir.display(), startup_ms = started.elapsed().as_millis() as u64, "orderly is ready");
    server.run().await.map_err(|e| e.to_string())
}
