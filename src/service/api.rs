//! The HTTP API (JSON, under `/v1`), health and readiness, and the metrics endpoint. Every
//! error is a JSON object `{"error": "...", "field"?: "...", ...details}` with a status that
//! says what kind of problem it is.

use super::jobs::{CancelOutcome, JobState, SubmitError};
use super::request::{JobRequest, RequestError};
use super::state::Shared;
use crate::truth::read_json_lines;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;

type AppState = Arc<Shared>;

/// Most jobs `GET /v1/jobs` lists.
const LIST_MAX: usize = 1000;
/// Most ground-truth records one `GET /v1/jobs/{id}/flows` returns.
const FLOWS_PAGE_MAX: usize = 10_000;

/// An error response.
struct ApiError {
    status: StatusCode,
    body: Value,
    headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.into() }),
            headers: Vec::new(),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        let mut body = json!({ "error": e.message });
        if let Some(f) = e.field {
            body["field"] = json!(f);
        }
        if let Value::Object(details) = e.details {
            for (k, v) in details {
                body[k] = v;
            }
        }
        ApiError {
            status: StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            body,
            headers: Vec::new(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status, Json(self.body)).into_response();
        for (k, v) in self.headers {
            r.headers_mut().insert(k, v);
        }
        r
    }
}

/// The API routes (and the metrics, unless they have a listener of their own).
pub fn router(shared: AppState, metrics_here: Option<String>, max_body: usize) -> Router {
    let v1 = Router::new()
        .route("/v1/classes", get(classes))
        .route("/v1/jobs", get(list_jobs).post(submit_job))
        .route("/v1/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/v1/jobs/{id}/flows", get(job_flows))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            require_token,
        ));
    let mut app = Router::new()
        .merge(v1)
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if let Some(path) = metrics_here {
        app = app.route(&path, get(metrics));
    }
    app.fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&shared),
            count_requests,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(shared)
}

/// A router serving only the metrics, for a listener of their own.
pub fn metrics_router(shared: AppState, path: &str) -> Router {
    Router::new()
        .route(path, get(metrics))
        .fallback(not_found)
        .with_state(shared)
}

async fn count_requests(State(shared): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let t = Instant::now();
    let response = next.run(req).await;
    let m = &shared.metrics;
    m.http_requests
        .with_label_values(&[&route, response.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[&route])
        .observe(t.elapsed().as_secs_f64());
    response
}

async fn require_token(
    State(shared): State<AppState>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let active = shared.active();
    let Some(token) = active.token.as_deref() else {
        return next.run(req).await;
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match given {
        Some(g) if constant_time_eq(g.as_bytes(), token.as_bytes()) => next.run(req).await,
        _ => {
            let mut e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token (Authorization: Bearer TOKEN)",
            );
            e.headers.push((
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"netdiffd\""),
            ));
            e.into_response()
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn classes(State(shared): State<AppState>) -> Json<Value> {
    let active = shared.active();
    let classes: Vec<Value> = active
        .model
        .card
        .classes
        .iter()
        .map(|c| json!({ "name": c.name, "macro_group": c.macro_group, "train_windows": c.train_windows }))
        .collect();
    Json(json!({
        "model": active.config.model.path.display().to_string(),
        "device": active.device_name(),
        "classes": classes,
    }))
}

async fn submit_job(
    State(shared): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let reject = |reason: &str| {
        shared
            .metrics
            .jobs_rejected
            .with_label_values(&[reason])
            .inc()
    };
    let body = body.map_err(|e| {
        reject("bad_request");
        ApiError::new(e.status(), format!("request body: {}", e.body_text()))
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let request: JobRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        reject("bad_request");
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut err = ApiError::new(
            StatusCode::BAD_REQUEST,
            if path == "." {
                format!("invalid JSON: {inner}")
            } else {
                format!("invalid JSON at {path}: {inner}")
            },
        );
        if path != "." {
            err.body["field"] = json!(path);
        }
        err
    })?;
    if shared.stop.is_cancelled() {
        reject("stopping");
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the daemon is stopping",
        ));
    }
    let active = shared.active();
    let spec = request
        .resolve(&active.config, &active.model.card)
        .map_err(|e| {
            reject(match e.status {
                403 => "interface_not_allowed",
                422 => "unknown_class",
                _ => "bad_request",
            });
            ApiError::from(e)
        })?;
    let limits = &active.config.limits;
    match shared
        .jobs
        .submit("api".into(), spec, limits.queue_length, limits.job_history)
    {
        Ok(job) => {
            let location = format!("/v1/jobs/{}", job.id);
            let mut r = (
                StatusCode::ACCEPTED,
                Json(json!({ "id": job.id, "state": "queued", "href": location, "seed": job.spec.seed })),
            )
                .into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            Ok(r)
        }
        Err(SubmitError::QueueFull { capacity }) => {
            reject("queue_full");
            let mut e = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                format!("the job queue is full ({capacity} jobs waiting; [limits] queue_length)"),
            );
            e.body["limit"] = json!(capacity);
            e.headers
                .push((header::RETRY_AFTER, HeaderValue::from_static("1")));
            Err(e)
        }
        Err(SubmitError::Closed) => {
            reject("stopping");
            Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the daemon is stopping",
            ))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    state: Option<String>,
}

async fn list_jobs(
    State(shared): State<AppState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(parse_state(s).ok_or_else(|| {
            let mut e = ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("state: unknown state {s:?}"),
            );
            e.body["field"] = json!("state");
            e
        })?),
    };
    let limit = q.limit.unwrap_or(100).min(LIST_MAX);
    let jobs: Vec<_> = shared
        .jobs
        .list(limit, state)
        .iter()
        .map(|j| j.status())
        .collect();
    Ok(Json(
        json!({ "jobs": jobs, "queued": shared.jobs.queued() }),
    ))
}

fn parse_state(s: &str) -> Option<JobState> {
    [
        JobState::Queued,
        JobState::Generating,
        JobState::Repairing,
        JobState::Replaying,
        JobState::Done,
        JobState::Failed,
        JobState::Cancelled,
    ]
    .into_iter()
    .find(|st| st.name() == s)
}

fn job_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("id: {id:?} is not a job number"),
        );
        e.body["field"] = json!("id");
        e
    })
}

async fn get_job(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let job = shared
        .jobs
        .get(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    Ok(Json(job.status()).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FlowsQuery {
    offset: Option<usize>,
    limit: Option<usize>,
}

/// A page of a job's ground truth: one record a flow (class, 5-tuple, Community ID, packets
/// and bytes per direction, and when it left after the replay).
async fn job_flows(
    State(shared): State<AppState>,
    Path(id): Path<String>,
    query: Result<Query<FlowsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let Query(q) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let job = shared
        .jobs
        .get(id)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))?;
    let (labels, state) = {
        let p = job.progress();
        (p.labels.clone(), p.state)
    };
    let Some(path) = labels else {
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "job {id} has no ground truth yet ({}): it is written with the pcap",
                state.name()
            ),
        );
        e.body["state"] = json!(state.name());
        return Err(e);
    };
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).min(FLOWS_PAGE_MAX);
    let read = tokio::task::spawn_blocking(move || read_json_lines(&path, offset, limit))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let (flows, total) =
        read.map_err(|e| ApiError::new(StatusCode::GONE, format!("job {id}: {e}")))?;
    let next = (offset + flows.len() < total).then(|| {
        format!(
            "/v1/jobs/{id}/flows?offset={}&limit={limit}",
            offset + flows.len()
        )
    });
    Ok(Json(json!({
        "id": id,
        "total": total,
        "offset": offset,
        "flows": flows,
        "next": next,
    }))
    .into_response())
}

async fn cancel_job(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    match shared.jobs.cancel(id) {
        CancelOutcome::NotFound => {
            Err(ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))
        }
        CancelOutcome::AlreadyFinished(state) => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                format!("job {id} has already finished ({})", state.name()),
            );
            e.body["state"] = json!(state.name());
            Err(e)
        }
        CancelOutcome::Dequeued => {
            Ok(Json(json!({ "id": id, "state": "cancelled" })).into_response())
        }
        CancelOutcome::Stopping => Ok((
            StatusCode::ACCEPTED,
            Json(json!({ "id": id, "state": "cancelling" })),
        )
            .into_response()),
    }
}

async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

async fn readyz(State(shared): State<AppState>) -> Response {
    let active = shared.active();
    let body = json!({
        "ready": !shared.stop.is_cancelled(),
        "model": active.config.model.path.display().to_string(),
        "classes": active.model.card.classes.len(),
        "device": active.device_name(),
        "uptime_seconds": shared.started.elapsed().as_secs_f64(),
        "queued": shared.jobs.queued(),
    });
    if shared.stop.is_cancelled() {
        (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
    } else {
        Json(body).into_response()
    }
}

async fn metrics(State(shared): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        shared.metrics.render(),
    )
        .into_response()
}

async fn not_found(req: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such resource: {} {}", req.method(), req.uri().path()),
    )
}
