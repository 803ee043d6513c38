//! The HTTP API (JSON, under `/v1`), health and readiness, and the metrics endpoint. Every
//! error is a JSON object `{"error": "...", "field"?: "...", ...details}` with a status that
//! says what kind of problem it is.

use super::jobs::{CancelOutcome, JobState, SubmitError};
use super::metrics::RejectReason;
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

/// An error answer. Each variant gives its HTTP status, its body (`{"error": "...",
/// "field"?: "...", ...details}`), its headers, and — for refused job submissions — the
/// `reason` label it counts under in `netdiffd_jobs_rejected_total`.
#[derive(Debug)]
enum ApiError {
    /// The body could not be read: too large (413) or otherwise unreadable (400).
    Body {
        /// The status axum's rejection gives.
        status: StatusCode,
        /// Its text.
        text: String,
    },
    /// The body is not a job request: malformed JSON, a wrong type, an unknown field (400).
    InvalidJson {
        /// Where in the document (`flows`, `replay.pps`), `None` for the whole of it.
        path: Option<String>,
        /// What is wrong.
        error: String,
    },
    /// The request is a job request, but cannot run (400, 403, 422: see [`RequestError`]).
    Request(RequestError),
    /// The queue is full (429, `Retry-After: 1`).
    QueueFull {
        /// The queue's bound.
        capacity: usize,
    },
    /// The daemon is stopping (503).
    Stopping,
    /// The bearer token is missing or wrong (401, `WWW-Authenticate`).
    Unauthorized,
    /// A bad query parameter or path segment (400).
    BadParameter {
        /// The parameter, when one is named.
        field: Option<&'static str>,
        /// What is wrong.
        message: String,
    },
    /// No such job or route (404).
    NotFound(String),
    /// The job is in a state that does not allow this (409).
    Conflict {
        /// What is wrong.
        message: String,
        /// The job's state.
        state: JobState,
    },
    /// What the job had is gone (410).
    Gone(String),
    /// The daemon failed (500).
    Internal(String),
}

impl ApiError {
    /// The HTTP status.
    fn status(&self) -> StatusCode {
        match self {
            ApiError::Body { status, .. } => *status,
            ApiError::InvalidJson { .. } | ApiError::BadParameter { .. } => StatusCode::BAD_REQUEST,
            ApiError::Request(e) => {
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
            }
            ApiError::QueueFull { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `reason` a refused job submission counts under; `None` for answers that are not
    /// a refusal of a job (a missing job, a wrong token …).
    fn reason(&self) -> Option<RejectReason> {
        match self {
            ApiError::Body { .. }
            | ApiError::InvalidJson { .. }
            | ApiError::BadParameter { .. } => Some(RejectReason::BadRequest),
            ApiError::Request(e) => Some(e.reason()),
            ApiError::QueueFull { .. } => Some(RejectReason::QueueFull),
            ApiError::Stopping => Some(RejectReason::Stopping),
            ApiError::Unauthorized
            | ApiError::NotFound(_)
            | ApiError::Conflict { .. }
            | ApiError::Gone(_)
            | ApiError::Internal(_) => None,
        }
    }

    /// The JSON body.
    fn body(&self) -> Value {
        match self {
            ApiError::Body { text, .. } => json!({ "error": format!("request body: {text}") }),
            ApiError::InvalidJson { path: None, error } => {
                json!({ "error": format!("invalid JSON: {error}") })
            }
            ApiError::InvalidJson {
                path: Some(path),
                error,
            } => json!({ "error": format!("invalid JSON at {path}: {error}"), "field": path }),
            ApiError::Request(e) => {
                let mut body = json!({ "error": e.message });
                if let Some(f) = &e.field {
                    body["field"] = json!(f);
                }
                for (k, v) in e.kind.details() {
                    body[k] = v;
                }
                body
            }
            ApiError::QueueFull { capacity } => json!({
                "error": format!("the job queue is full ({capacity} jobs waiting; [limits] queue_length)"),
                "limit": capacity,
            }),
            ApiError::Stopping => json!({ "error": "the daemon is stopping" }),
            ApiError::Unauthorized => {
                json!({ "error": "missing or wrong bearer token (Authorization: Bearer TOKEN)" })
            }
            ApiError::BadParameter {
                field: None,
                message,
            } => json!({ "error": message }),
            ApiError::BadParameter {
                field: Some(field),
                message,
            } => json!({ "error": message, "field": field }),
            ApiError::NotFound(message) | ApiError::Gone(message) | ApiError::Internal(message) => {
                json!({ "error": message })
            }
            ApiError::Conflict { message, state } => {
                json!({ "error": message, "state": state.name() })
            }
        }
    }

    /// Headers the answer carries.
    fn headers(&self) -> Vec<(header::HeaderName, HeaderValue)> {
        match self {
            ApiError::QueueFull { .. } => {
                vec![(header::RETRY_AFTER, HeaderValue::from_static("1"))]
            }
            ApiError::Unauthorized => vec![(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"netdiffd\""),
            )],
            _ => Vec::new(),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        ApiError::Request(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (self.status(), Json(self.body())).into_response();
        for (k, v) in self.headers() {
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
        _ => ApiError::Unauthorized.into_response(),
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
    submit(&shared, body).inspect_err(|e| {
        if let Some(reason) = e.reason() {
            shared.metrics.reject(reason);
        }
    })
}

/// `POST /v1/jobs`: reads, checks and queues a job.
fn submit(shared: &Shared, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body.map_err(|e| ApiError::Body {
        status: e.status(),
        text: e.body_text(),
    })?;
    let de = &mut serde_json::Deserializer::from_slice(&body);
    let request: JobRequest = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        ApiError::InvalidJson {
            path: (path != ".").then_some(path),
            error: e.into_inner().to_string(),
        }
    })?;
    if shared.stop.is_cancelled() {
        return Err(ApiError::Stopping);
    }
    let active = shared.active();
    let spec = request.resolve(&active.config, &active.model.card)?;
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
        Err(SubmitError::QueueFull { capacity }) => Err(ApiError::QueueFull { capacity }),
        Err(SubmitError::Closed) => Err(ApiError::Stopping),
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
    let Query(q) = query.map_err(query_error)?;
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(parse_state(s).ok_or_else(|| ApiError::BadParameter {
            field: Some("state"),
            message: format!("state: unknown state {s:?}"),
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

/// A bad query string (400).
fn query_error(e: QueryRejection) -> ApiError {
    ApiError::BadParameter {
        field: None,
        message: e.body_text(),
    }
}

fn job_id(id: &str) -> Result<u64, ApiError> {
    id.parse().map_err(|_| ApiError::BadParameter {
        field: Some("id"),
        message: format!("id: {id:?} is not a job number"),
    })
}

fn no_job(id: u64) -> ApiError {
    ApiError::NotFound(format!("no job {id}"))
}

async fn get_job(
    State(shared): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = job_id(&id)?;
    let job = shared.jobs.get(id).ok_or_else(|| no_job(id))?;
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
    let Query(q) = query.map_err(query_error)?;
    let job = shared.jobs.get(id).ok_or_else(|| no_job(id))?;
    let (labels, state) = {
        let p = job.progress();
        (p.labels.clone(), p.state)
    };
    let Some(path) = labels else {
        return Err(ApiError::Conflict {
            message: format!(
                "job {id} has no ground truth yet ({}): it is written with the pcap",
                state.name()
            ),
            state,
        });
    };
    let offset = q.offset.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).min(FLOWS_PAGE_MAX);
    let read = tokio::task::spawn_blocking(move || read_json_lines(&path, offset, limit))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let (flows, total) = read.map_err(|e| ApiError::Gone(format!("job {id}: {e}")))?;
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
        CancelOutcome::NotFound => Err(no_job(id)),
        CancelOutcome::AlreadyFinished(state) => Err(ApiError::Conflict {
            message: format!("job {id} has already finished ({})", state.name()),
            state,
        }),
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
    ApiError::NotFound(format!(
        "no such resource: {} {}",
        req.method(),
        req.uri().path()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_gives_its_status_reason_and_body() {
        let cfg = crate::service::config::Config::default();
        let request = |json: &str| {
            serde_json::from_str::<JobRequest>(json)
                .unwrap()
                .check_static(&cfg)
                .unwrap_err()
        };
        let cases = [
            (
                ApiError::Request(request(r#"{"mix": "a", "replay": {"iface": "eth0"}}"#)),
                403,
                Some("interface_not_allowed"),
            ),
            (
                ApiError::Request(request(r#"{"mix": "a", "flows": 0}"#)),
                400,
                Some("bad_request"),
            ),
            (
                ApiError::InvalidJson {
                    path: Some("flows".into()),
                    error: "invalid type".into(),
                },
                400,
                Some("bad_request"),
            ),
            (
                ApiError::Body {
                    status: StatusCode::PAYLOAD_TOO_LARGE,
                    text: "too big".into(),
                },
                413,
                Some("bad_request"),
            ),
            (ApiError::QueueFull { capacity: 3 }, 429, Some("queue_full")),
            (ApiError::Stopping, 503, Some("stopping")),
            (ApiError::Unauthorized, 401, None),
            (ApiError::NotFound("no job 9".into()), 404, None),
            (
                ApiError::Conflict {
                    message: "finished".into(),
                    state: JobState::Done,
                },
                409,
                None,
            ),
        ];
        for (e, status, reason) in cases {
            assert_eq!(e.status().as_u16(), status, "{e:?}");
            assert_eq!(e.reason().map(RejectReason::label), reason, "{e:?}");
            assert!(e.body()["error"].is_string(), "{e:?}");
        }
        let e = ApiError::Request(request(r#"{"mix": "a", "replay": {"iface": "eth0"}}"#));
        assert_eq!(e.body()["field"], "replay.iface");
        assert_eq!(e.body()["allowed_interfaces"], json!(["lo"]));
        let e = ApiError::QueueFull { capacity: 3 };
        assert_eq!(e.body()["limit"], 3);
        assert_eq!(e.headers()[0].0, header::RETRY_AFTER);
        let e = ApiError::InvalidJson {
            path: None,
            error: "EOF".into(),
        };
        assert_eq!(e.body(), json!({ "error": "invalid JSON: EOF" }));
    }
}
