//! The control routes' handlers: each reads its input, calls the
//! [`Registry`](crate::engine::Registry) or a [`Job`],
//! and answers JSON (see `docs/agent-api.md`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use alilo_agent_api::{
    AgentInfo, BATCH_POLL, FailureSample, JobList, JobSpec, JobStatus, MAX_POLL_JOBS, PollRequest, PollResponse,
    Polled, RateChange, StopRequest, parse_duration,
};
use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use super::extract::{JobId, Since, optional_json, required_json};
use crate::engine::{DEFAULT_STOP_WAIT, Job, MAX_STOP_WAIT, StartError};

/// Capabilities announced by `GET /v1/agent`.
pub const CAPABILITIES: &[&str] =
    &["http1", "http2", "tls", "data-files", "ramp-linear", "live-rate", "closed-loop", "hdr-v2-base64", BATCH_POLL];

type Answer<T> = Result<Json<T>, ApiError>;

fn job(state: &AppState, id: &str) -> Result<Arc<Job>, ApiError> {
    state.registry.get(id).ok_or_else(|| ApiError::job_not_found(id))
}

/// `GET /v1/agent`.
pub async fn agent(State(state): State<Arc<AppState>>) -> Json<AgentInfo> {
    Json(info(&state))
}

/// `GET /metrics`: the same figures and the jobs, as Prometheus text.
pub async fn metrics(State(state): State<Arc<AppState>>) -> impl axum::response::IntoResponse {
    let jobs: Vec<_> = state.registry.all().iter().map(|j| j.brief()).collect();
    let text = super::metrics::render(&info(&state), &jobs);
    ([(axum::http::header::CONTENT_TYPE, super::metrics::CONTENT_TYPE)], text)
}

fn info(state: &AppState) -> AgentInfo {
    let (cpu, memory, network) = state.sampler.snapshot();
    let jobs = state.registry.all();
    AgentInfo {
        version: env!("CARGO_PKG_VERSION").to_string(),
        capabilities: CAPABILITIES.iter().map(|s| s.to_string()).collect(),
        cpu,
        memory,
        network,
        open_connections: crate::client::OPEN_CONNECTIONS.load(Ordering::Relaxed),
        active_jobs: jobs.iter().filter(|j| !j.state().is_terminal()).count() as u64,
        jobs: jobs.len() as u64,
        in_flight: jobs.iter().map(|j| j.in_flight()).sum(),
    }
}

/// `GET /v1/jobs` (does not renew leases).
pub async fn list(State(state): State<Arc<AppState>>) -> Json<JobList> {
    Json(JobList { jobs: state.registry.all().iter().map(|j| j.brief()).collect() })
}

/// `PUT /v1/jobs/{id}`: 201 when created, 200 for the same spec again.
pub async fn start(
    State(state): State<Arc<AppState>>,
    JobId(id): JobId,
    body: Body,
) -> Result<(StatusCode, Json<JobStatus>), ApiError> {
    if state.shutting_down.load(Ordering::SeqCst) {
        return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "agent is shutting down"));
    }
    let spec: JobSpec = required_json(body).await?;
    match state.registry.start(&id, spec) {
        Ok((job, created)) => Ok((if created { StatusCode::CREATED } else { StatusCode::OK }, Json(job.status(0)))),
        Err(StartError::Invalid(m)) => Err(ApiError::bad_request(m)),
        Err(StartError::Conflict(m)) => Err(ApiError::conflict(m)),
    }
}

/// `GET /v1/jobs/{id}?since=`: renews the lease.
pub async fn read(State(state): State<Arc<AppState>>, JobId(id): JobId, Since(since): Since) -> Answer<JobStatus> {
    let job = job(&state, &id)?;
    job.touch();
    let status = job.status(since);
    job.read_now();
    Ok(Json(status))
}

/// `POST /v1/poll`: several jobs read at once, each as [`read`] reads it (its
/// lease renewed); a job the agent does not know answers `found: false`.
pub async fn poll(State(state): State<Arc<AppState>>, body: Body) -> Answer<PollResponse> {
    let request: PollRequest = required_json(body).await?;
    if request.jobs.len() > MAX_POLL_JOBS {
        return Err(ApiError::bad_request(format!("jobs: at most {MAX_POLL_JOBS} at once")));
    }
    let jobs = request
        .jobs
        .into_iter()
        .map(|asked| match state.registry.get(&asked.id) {
            Some(job) => {
                job.touch();
                let status = job.status(asked.since);
                job.read_now();
                Polled { id: asked.id, found: true, status: Some(status) }
            }
            None => Polled { id: asked.id, found: false, status: None },
        })
        .collect();
    Ok(Json(PollResponse { jobs }))
}

/// `POST /v1/jobs/{id}/rate`: renews the lease.
pub async fn rate(State(state): State<Arc<AppState>>, JobId(id): JobId, body: Body) -> Answer<JobStatus> {
    let job = job(&state, &id)?;
    let change: RateChange = required_json(body).await?;
    if job.state().is_terminal() {
        return Err(ApiError::conflict(format!("job {:?} is {:?}", job.id, job.state()).to_lowercase()));
    }
    job.change_rate(&change).map_err(ApiError::bad_request)?;
    job.touch();
    Ok(Json(job.status(u64::MAX)))
}

/// `POST /v1/jobs/{id}/stop?since=`: stops issuing, waits for in-flight
/// requests up to `wait`, answers the final status.
pub async fn stop(
    State(state): State<Arc<AppState>>,
    JobId(id): JobId,
    Since(since): Since,
    body: Body,
) -> Answer<JobStatus> {
    let job = job(&state, &id)?;
    let stop: StopRequest = optional_json(body).await?.unwrap_or_default();
    let wait = match &stop.wait {
        Some(w) => parse_duration(w).map_err(|e| ApiError::bad_request(format!("wait: {e}")))?.min(MAX_STOP_WAIT),
        None => DEFAULT_STOP_WAIT,
    };
    job.touch();
    job.request_stop("stopped by request", wait);
    let mut finished = job.finished();
    let _ = tokio::time::timeout(wait + Duration::from_secs(2), finished.wait_for(|d| *d)).await;
    let status = job.status(since);
    job.read_now();
    Ok(Json(status))
}

/// `GET /v1/jobs/{id}/failures`: the failed-request sample (does not renew the lease).
pub async fn failures(State(state): State<Arc<AppState>>, JobId(id): JobId) -> Answer<FailureSample> {
    Ok(Json(job(&state, &id)?.failures.sample()))
}

/// Longest text `getTaskLogs` answers.
const MAX_LOG_TEXT: usize = 1 << 20;

/// `GET /api/v1/getTaskLogs?name=<job id>~<log key>&head=true|false&len=N`:
/// the link of the original web UI's run page, opened in a browser, so
/// without the bearer token: the job's `log_key` is the credential. An
/// unknown job and a wrong key answer the same 404.
pub async fn task_logs(
    State(state): State<Arc<AppState>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let query = query.unwrap_or_default();
    let param = |name: &str| {
        query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    let name = param("name").unwrap_or_default();
    let found = name.split_once('~').and_then(|(id, key)| {
        let job = state.registry.get(id)?;
        let want = job.spec.log_key.as_deref().filter(|k| !k.is_empty())?;
        super::auth::same(want, key).then_some(job)
    });
    let Some(job) = found else {
        return (StatusCode::NOT_FOUND, "no such log\n").into_response();
    };
    let head = param("head").is_none_or(|h| h != "false");
    let len = param("len").and_then(|l| l.parse().ok()).unwrap_or(10_000).min(MAX_LOG_TEXT);
    let text = crate::failures::as_text(&job.failures.sample(), head, len);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
}
