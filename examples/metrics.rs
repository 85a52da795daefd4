//! The example app (examples/app.rs) with its metrics in Prometheus text at `GET /metrics`
//! (feature `metrics`): `cargo run --example metrics --features metrics`, then log in at
//! http://127.0.0.1:8000/ and read http://127.0.0.1:8000/metrics. docs/metrics.md lists every
//! metric and its labels.
//!
//! The recorder is the `metrics-exporter-prometheus` crate's, without its own HTTP listener:
//! the text is served by a Rocket route, so it can sit behind the app's own access rules.

#[path = "app.rs"]
#[allow(dead_code)]
mod app;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use rocket::figment::Figment;
use rocket::{get, routes, Build, Rocket, State};

/// The metrics, in Prometheus' text format.
#[get("/metrics")]
fn metrics(handle: &State<PrometheusHandle>) -> String {
    handle.render()
}

/// The example app with `/metrics`, recording into `handle` (installed as the global recorder).
pub fn app_with_metrics(figment: Figment, handle: PrometheusHandle) -> Rocket<Build> {
    app::app(figment)
        .manage(handle)
        .mount("/", routes![metrics])
}

#[rocket::main]
async fn main() {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .expect("no other metrics recorder is installed");
    if let Err(error) = app_with_metrics(rocket::Config::figment(), handle)
        .launch()
        .await
    {
        eprintln!("the example app stopped: {error}");
        std::process::exit(1);
    }
}
