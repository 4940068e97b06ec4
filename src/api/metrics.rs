//! `/metrics` in the Prometheus text format. Counted as things happen: HTTP requests (by method, route
//! and status, with latencies), training attempts by outcome, store call and reaction latencies.
//! Read from the store at every scrape: tournaments by type and status, trainings by status, GPU slots
//! free / reserved / fenced per node and class. Every family has its `# HELP`, and the build and process
//! series come with them (`metric_families`).

use std::sync::OnceLock;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::{ApiState, read};
use crate::domain::{TournamentStatus, TournamentType, TrainingStatus};
use crate::http::error::ApiError;

const LATENCY_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];

/// The process-wide recorder, installed on first use; `None` when another recorder was installed.
pub fn handle() -> Option<&'static PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder =
                PrometheusBuilder::new().set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS);
            match builder.and_then(|b| b.install_recorder()) {
                Ok(handle) => {
                    super::metric_families::describe();
                    // Histograms keep their samples until drained: drain them even when nobody scrapes.
                    let upkeep = handle.clone();
                    std::thread::spawn(move || {
                        loop {
                            std::thread::sleep(std::time::Duration::from_secs(5));
                            upkeep.run_upkeep();
                        }
                    });
                    Some(handle)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics will answer 503");
                    None
                }
            }
        })
        .as_ref()
}

/// Counts every request by method, route pattern (never the raw path) and status, with its latency.
pub async fn count(
    request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let began = std::time::Instant::now();
    // A fixed set of methods: clients cannot make new series.
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        _ => "other",
    };
    let response = next.call(request).await?;
    // Known once routed: the pattern, so ids in paths do not make new series.
    let route = response.request().match_pattern().unwrap_or_else(|| "unmatched".into());
    let status = response.status().as_u16().to_string();
    metrics::counter!("crucible_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("crucible_http_request_duration_seconds", "route" => route)
        .record(began.elapsed().as_secs_f64());
    Ok(response)
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text format", content_type = "text/plain", body = String)))]
pub async fn scrape(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let handle = handle().ok_or_else(|| ApiError::Unavailable("no metrics recorder is installed".into()))?;
    let (tournaments, trainings, nodes) =
        read(&state, |s| Ok((s.tournament_counts()?, s.training_counts()?, s.list_nodes()?))).await?;
    for kind in TournamentType::ALL {
        for status in TournamentStatus::ALL {
            let n =
                tournaments.iter().find(|c| c.tournament_type == *kind && c.status == *status).map_or(0, |c| c.count);
            metrics::gauge!("crucible_tournaments", "type" => kind.as_str(), "status" => status.as_str()).set(n as f64);
        }
    }
    for status in TrainingStatus::ALL {
        let n = trainings.iter().find(|c| c.status == *status).map_or(0, |c| c.count);
        metrics::gauge!("crucible_trainings", "status" => status.as_str()).set(n as f64);
    }
    for node in &nodes {
        let mut slots: std::collections::BTreeMap<(String, &str), u64> = Default::default();
        for g in &node.gpus {
            let state = if node.fenced {
                "fenced"
            } else if g.holder.is_some() {
                "reserved"
            } else {
                "free"
            };
            for s in ["free", "reserved", "fenced"] {
                *slots.entry((g.class.to_string(), s)).or_default() += u64::from(s == state);
            }
        }
        for ((class, slot), n) in slots {
            metrics::gauge!("crucible_gpu_slots", "node" => node.id.to_string(), "class" => class, "state" => slot)
                .set(n as f64);
        }
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .body(handle.render() + &super::metric_families::render_process()))
}
