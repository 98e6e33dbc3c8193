//! The JSON/error plumbing every function uses.
//!
//! Use [`ApiError`] for every failure a handler can return: its constructors name the
//! HTTP status, and its body is the contract's `{"status": false, "message", "code",
//! "details"}` so both the web UI (reads `message`) and gateway-style clients (read
//! `code`) understand it. [`ApiJson`] parses a request body the way the contract
//! says (any content type, empty body = all defaults, the offending field named).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The result type of every handler and service call.
pub type ApiResult<T> = Result<T, ApiError>;

/// A failure answered to the client with a real HTTP status and a message that
/// names the field or entity at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

/// The failure body of the contract (section 0).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub status: bool,
    /// What is wrong, naming the field.
    pub message: String,
    /// The gRPC code number matching the HTTP status.
    pub code: i32,
    /// Always empty.
    pub details: Vec<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    /// 400: the request is not what the contract allows (wrong type, malformed value).
    pub fn bad_request(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, format!("{field}: {why}"))
    }

    /// 404: an id that does not exist.
    pub fn not_found(entity: &str, id: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::NOT_FOUND, format!("{entity} {id} not found"))
    }

    /// 409: the request conflicts with the current state.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }

    /// 413: a payload above a configured limit.
    pub fn too_large(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, format!("{field}: {why}"))
    }

    /// 422: well-formed input that breaks a rule.
    pub fn unprocessable(field: &str, why: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, format!("{field}: {why}"))
    }

    /// 500: a fault of ours. The cause is logged (give the whole chain, see
    /// [`cause_chain`]), not shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error; see the server log")
    }

    /// 503: a dependency (database, storage) is unreachable. The log line carries
    /// the cause (give the whole chain, see [`cause_chain`]).
    pub fn unavailable(what: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "{what} unavailable");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what} is unavailable, try again"))
    }

    /// 503: a dependency answers but has no capacity for this request now (every
    /// pooled connection in use, a statement cancelled by `statement_timeout`).
    /// Distinct from [`ApiError::unavailable`]: retrying soon is likely to work.
    pub fn busy(what: &str, cause: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %cause, "{what} busy");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, format!("{what} is busy, try again in a moment"))
    }

    /// The gRPC code a grpc-gateway would have sent for this status.
    pub fn grpc_code(&self) -> i32 {
        match self.status.as_u16() {
            400 => 3,
            404 => 5,
            405 => 12,
            409 => 6,
            413 => 8,
            422 => 9,
            401 => 16,
            403 => 7,
            503 => 14,
            _ => 13,
        }
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { status: false, message: self.message.clone(), code: self.grpc_code(), details: Vec::new() }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// Seconds a client should wait before retrying a 503: a dependency that is busy or
/// briefly unreachable usually recovers within this.
pub const RETRY_AFTER_SECONDS: u32 = 1;

/// Longest message sent back: a message quotes at most a short prefix of a bad
/// value (see [`quote`]), and this cap catches any message that quotes more.
pub const MAX_MESSAGE_CHARS: usize = 600;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.body();
        body.message = truncate(&body.message, MAX_MESSAGE_CHARS);
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECONDS.into());
        }
        response
    }
}

/// Longest prefix of a bad value a message quotes.
pub const QUOTED_CHARS: usize = 64;

/// A value for an error message: Debug-quoted, at most [`QUOTED_CHARS`] characters
/// of it, with the full length named when cut (`"aaaa…" (70000 characters)`).
pub fn quote(value: &str) -> String {
    let count = value.chars().count();
    if count <= QUOTED_CHARS {
        return format!("{value:?}");
    }
    let prefix: String = value.chars().take(QUOTED_CHARS).collect();
    format!("{prefix:?}… ({count} characters)")
}

/// `text` cut at `max` characters, with an ellipsis when cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// An error and each of its sources, outermost first, joined by `: `, so a log
/// line names the whole cause (`db error: … : Connection reset by peer (os error 104)`).
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut current = err.source();
    while let Some(cause) = current {
        let next = cause.to_string();
        // Some errors repeat their source in their own message; say it once.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        current = cause.source();
    }
    text
}

/// Whether an error without a database answer came from the connection (reset,
/// refused, closed, timed out): such a failure is the database being unreachable,
/// not a fault of ours.
fn is_connection_failure(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if e.is::<std::io::Error>() {
            return true;
        }
        current = e.source();
    }
    // tokio-postgres names these kinds in its message only.
    let text = err.to_string();
    text.starts_with("error connecting to server") || text.starts_with("timeout") || text.contains("connection closed")
}

/// Postgres errors become 404/409/422 where the database enforced a rule or refused
/// a value, 503 when it is unreachable or out of capacity, and 500 otherwise. Every
/// 5xx logs the whole cause chain.
impl From<tokio_postgres::Error> for ApiError {
    fn from(err: tokio_postgres::Error) -> Self {
        use tokio_postgres::error::SqlState;
        let Some(db) = err.as_db_error() else {
            if is_connection_failure(&err) {
                return ApiError::unavailable("database", cause_chain(&err));
            }
            return ApiError::internal(cause_chain(&err));
        };
        let code = db.code();
        let constraint = db.constraint().unwrap_or("constraint");
        let class = &code.code()[..2.min(code.code().len())];
        if *code == SqlState::UNIQUE_VIOLATION {
            ApiError::conflict(format!("already exists ({constraint})"))
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            ApiError::new(StatusCode::NOT_FOUND, format!("a referenced row does not exist ({constraint})"))
        } else if *code == SqlState::CHECK_VIOLATION || *code == SqlState::NOT_NULL_VIOLATION {
            ApiError::unprocessable(constraint, db.message())
        } else if *code == SqlState::STRING_DATA_RIGHT_TRUNCATION || *code == SqlState::NUMERIC_VALUE_OUT_OF_RANGE {
            ApiError::unprocessable("value", db.message())
        } else if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER {
            // A NUL character (`\u0000`) Postgres text and jsonb cannot hold; the
            // model refuses it by field first, this is the second line of defence.
            ApiError::unprocessable("value", "contains a character the database cannot store (NUL)")
        } else if *code == SqlState::QUERY_CANCELED
            || *code == SqlState::LOCK_NOT_AVAILABLE
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::TOO_MANY_CONNECTIONS
        {
            // `statement_timeout` cancelled it, or it lost a race: capacity, not an outage.
            ApiError::busy("database", cause_chain(&err))
        } else if class == "08" || class == "57" || class == "53" {
            // Connection exceptions, operator intervention (shutdown, cannot connect
            // now), insufficient resources.
            ApiError::unavailable("database", cause_chain(&err))
        } else {
            ApiError::internal(cause_chain(&err))
        }
    }
}

/// Every pooled connection in use for the whole wait is "busy"; a connection that
/// cannot be opened or checked in time is "unavailable".
impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(err: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::{PoolError, TimeoutType};
        match err {
            PoolError::Backend(e) => e.into(),
            PoolError::Timeout(TimeoutType::Wait) => {
                ApiError::busy("database", "every pooled connection stayed in use for the whole wait")
            }
            PoolError::Timeout(TimeoutType::Create) => {
                ApiError::unavailable("database", "opening a connection timed out")
            }
            PoolError::Timeout(TimeoutType::Recycle) => {
                ApiError::unavailable("database", "checking a pooled connection timed out")
            }
            PoolError::Closed => ApiError::unavailable("database", "the connection pool is closed"),
            other => ApiError::internal(cause_chain(&other)),
        }
    }
}

/// The request-body limit an [`ApiJson`] enforces, set per router as an extension.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

/// Default request-body limit: the largest legitimate non-upload request (a scenario
/// with many scripts, a big HAR file) stays well under it.
pub const DEFAULT_BODY_LIMIT: usize = 8 * 1024 * 1024;

/// A JSON request body parsed with the contract's rules: the content type is not
/// checked, an empty body means "all fields default", and a parse failure is a 400
/// naming the field (`project.title: invalid type: integer, expected a string`).
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let limit = req.extensions().get::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
        let bytes = axum::body::to_bytes(req.into_body(), limit)
            .await
            .map_err(|_| ApiError::too_large("body", format!("request body exceeds the limit of {limit} bytes")))?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// Parse a request body; see [`ApiJson`].
pub fn parse_json<T: DeserializeOwned>(bytes: &Bytes) -> ApiResult<T> {
    let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    let mut de = serde_json::Deserializer::from_slice(text);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path.is_empty() || path == "." {
            ApiError::bad_request("body", format!("not valid JSON: {inner}"))
        } else {
            ApiError::bad_request(&path, strip_position(&inner.to_string()))
        }
    })?;
    de.end().map_err(|e| ApiError::bad_request("body", format!("trailing characters after JSON: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17"; with the field path named it only adds noise.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// The JSON answer of every successful handler.
pub type Reply<T> = axum::Json<T>;

/// The failures the shared plumbing can answer on every route, whatever the route
/// declares: the body parser (400, 413), the guard (401, 403, 415), the method
/// fallback (405), a fault (500), and the deadline or an unreachable or busy
/// dependency (503 with `Retry-After`).
const COMMON_ERRORS: &[(u16, &str)] = &[
    (400, "Malformed request or a required field missing: the message names the field"),
    (401, "No valid session or API token"),
    (403, "The caller's role or project scope does not allow this, or a cross-site request"),
    (405, "A method other than POST"),
    (413, "Payload above a limit"),
    (415, "A request body without a JSON (or octet-stream) Content-Type"),
    (500, "A fault of ours (the server log names the cause)"),
    (
        503,
        "The database or object storage is unavailable or busy, or the request passed its deadline: retry after Retry-After seconds",
    ),
];

/// Add [`COMMON_ERRORS`] to every operation of the document that does not list
/// them, so the document names every status a route can answer (a test walks the
/// routes to keep this true).
pub fn document_common_errors(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder, header::HeaderBuilder};
    for item in api.paths.paths.values_mut() {
        for op in
            [&mut item.get, &mut item.post, &mut item.put, &mut item.delete, &mut item.patch].into_iter().flatten()
        {
            for (status, description) in COMMON_ERRORS {
                let key = status.to_string();
                if op.responses.responses.contains_key(&key) {
                    continue;
                }
                let mut response = ResponseBuilder::new().description(*description).content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                );
                if *status == 503 {
                    response = response.header(
                        "Retry-After",
                        HeaderBuilder::new()
                            .schema(
                                utoipa::openapi::ObjectBuilder::new()
                                    .schema_type(utoipa::openapi::schema::Type::Integer),
                            )
                            .description(Some("Seconds to wait before retrying"))
                            .build(),
                    );
                }
                op.responses.responses.insert(key, response.build().into());
            }
        }
    }
}

/// The 404 of unknown paths, in the contract's error shape.
pub async fn not_found_fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "Not Found")
}

/// The answer to a known path called with a method other than POST.
pub async fn method_not_allowed_fallback() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed: every v1 route is POST")
}

/// Declare a v1 route: a POST handler documented for OpenAPI that parses the body
/// with [`ApiJson`], calls one service function and answers its result as JSON.
/// Every handler takes who is calling (`&Principal`, which the guard puts on
/// every request to a v1 route, `alilo-local --no-auth` included); `caller` passes
/// it to the service, for what it records under their name (a run's user, a load
/// change).
///
/// ```ignore
/// v1_route!(list, "/v1/projects", "ProjectService", PageRequest => GetAllProjectsResponse, svc::list);
/// v1_route!(adjust, "/v1/run/adjustment", "RunService", AdjustmentRequest => StdResponse, svc::adjust, caller);
/// ```
#[macro_export]
macro_rules! v1_route {
    // The call of the service, with or without the caller.
    (@call $call:path, $app:ident, $caller:ident, $req:ident) => {{
        let _ = &$caller;
        $call(&$app, $req)
    }};
    (@call $call:path, $app:ident, $caller:ident, $req:ident, caller) => {
        $call(&$app, &$caller, $req)
    };
    ($(#[$meta:meta])* $name:ident, $path:literal, $tag:literal, $req:ty => $resp:ty, $call:path $(, $with:ident)?) => {
        $(#[$meta])*
        #[utoipa::path(
            post,
            path = $path,
            tag = $tag,
            request_body = $req,
            responses(
                (status = 200, description = "Success", body = $resp),
                (status = 400, description = "Malformed request or a required field missing: the message names the field", body = $crate::http::ErrorBody),
                (status = 401, description = "No valid session or API token", body = $crate::http::ErrorBody),
                (status = 403, description = "The caller's role or project scope does not allow this, or a cross-site request", body = $crate::http::ErrorBody),
                (status = 404, description = "An id that does not exist", body = $crate::http::ErrorBody),
                (status = 405, description = "A method other than POST", body = $crate::http::ErrorBody),
                (status = 409, description = "Conflict with the current state", body = $crate::http::ErrorBody),
                (status = 413, description = "Payload above a limit", body = $crate::http::ErrorBody),
                (status = 415, description = "A request body without a JSON (or octet-stream) Content-Type", body = $crate::http::ErrorBody),
                (status = 422, description = "A value that breaks a rule: the message names the field", body = $crate::http::ErrorBody),
                (status = 500, description = "A fault of ours (the server log names the cause)", body = $crate::http::ErrorBody),
                (status = 503, description = "The database or object storage is unavailable or busy, or the request passed its deadline: retry after Retry-After seconds", body = $crate::http::ErrorBody,
                    headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))),
            )
        )]
        pub async fn $name(
            axum::extract::State(app): axum::extract::State<$crate::AppState>,
            axum::Extension(caller): axum::Extension<$crate::auth::Principal>,
            $crate::ApiJson(req): $crate::ApiJson<$req>,
        ) -> $crate::ApiResult<axum::Json<$resp>> {
            $crate::v1_route!(@call $call, app, caller, req $(, $with)?).await.map(axum::Json)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(default)]
    struct Req {
        #[allow(dead_code)]
        project: Inner,
    }
    #[derive(serde::Deserialize, Debug, Default)]
    #[serde(default)]
    struct Inner {
        #[allow(dead_code)]
        title: String,
    }

    #[test]
    fn an_empty_body_means_all_defaults() {
        let req: Req = parse_json(&Bytes::from_static(b"  ")).unwrap();
        assert_eq!(req.project.title, "");
    }

    #[test]
    fn a_wrong_type_names_the_field() {
        let err = parse_json::<Req>(&Bytes::from_static(br#"{"project": {"title": 5}}"#)).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("project.title: invalid type"), "{}", err.message);
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);
    impl std::fmt::Display for Outer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("db error")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn the_cause_chain_names_every_source() {
        let err = Outer(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "Connection reset by peer"));
        assert_eq!(cause_chain(&err), "db error: Connection reset by peer");
    }

    #[test]
    fn a_quote_is_a_short_prefix_with_the_length() {
        assert_eq!(quote("abc"), "\"abc\"");
        let long = quote(&"é".repeat(70_000));
        assert!(long.ends_with("… (70000 characters)") && long.chars().count() < 100, "{long}");
    }

    #[test]
    fn a_503_says_when_to_retry_and_a_long_message_is_cut() {
        let response = ApiError::busy("database", "pool").into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[axum::http::header::RETRY_AFTER], "1");
        assert!(!ApiError::bad_request("x", "y").into_response().headers().contains_key("retry-after"));
        assert_eq!(truncate(&"x".repeat(1_000), MAX_MESSAGE_CHARS).chars().count(), MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn pool_waits_are_busy_and_failed_connects_unavailable() {
        use deadpool_postgres::{PoolError, TimeoutType};
        let busy: ApiError = PoolError::Timeout(TimeoutType::Wait).into();
        assert_eq!((busy.status, busy.message.contains("busy")), (StatusCode::SERVICE_UNAVAILABLE, true));
        let down: ApiError = PoolError::Timeout(TimeoutType::Create).into();
        assert_eq!((down.status, down.message.contains("unavailable")), (StatusCode::SERVICE_UNAVAILABLE, true));
    }

    #[test]
    fn broken_json_is_a_400() {
        let err = parse_json::<Req>(&Bytes::from_static(b"{\"project\":")).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
        let err = parse_json::<Req>(&Bytes::from_static(b"{} x")).unwrap_err();
        assert_eq!(err.status, StatusCode::BAD_REQUEST);
    }
}
