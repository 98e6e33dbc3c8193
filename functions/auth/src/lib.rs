//! The auth function: sign-in and sign-out, the login page, users, API tokens and
//! the audit log. Who may call each route is in `alilo_shared::auth::rules`.

use alilo_shared::auth::Principal;
use alilo_shared::auth::guard::{AuditActor, COOKIE, client_address, cookie};
use alilo_shared::http::ErrorBody;
use alilo_shared::service::auth as svc;
use alilo_shared::wire::StdResponse;
use alilo_shared::wire::auth::*;
use alilo_shared::{ApiJson, ApiResult, AppState};
use axum::Extension;
use axum::extract::{FromRequest, Request, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Every route this function serves.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
        .routes(routes!(users))
        .routes(routes!(create_user))
        .routes(routes!(update_user))
        .routes(routes!(delete_user))
        .routes(routes!(revoke_sessions))
        .routes(routes!(tokens))
        .routes(routes!(create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(audit))
        // A page, not an API route: outside the OpenAPI document.
        .route("/login", axum::routing::get(login_page))
}

/// Sign in with a name and password: sets the `alilo_session` cookie (Secure,
/// HttpOnly, SameSite=Lax). Failed attempts are rate-limited per name and address.
#[utoipa::path(post, path = "/v1/auth/login", tag = "AuthService", request_body = LoginRequest,
    responses((status = 200, body = MeResponse), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(State(app): State<AppState>, request: Request) -> Response {
    let address = client_address(&request);
    let body = match ApiJson::<LoginRequest>::from_request(request, &()).await {
        Ok(ApiJson(b)) => b,
        Err(e) => return e.into_response(),
    };
    let name = body.name.trim().chars().take(100).collect::<String>();
    let mut response = match svc::login(&app, body, &address).await {
        Ok(done) => {
            let cookie = svc::session_cookie(&done.session_id, app.auth.session_ttl_secs, app.auth.cookie_secure);
            ([(header::SET_COOKIE, cookie)], axum::Json(done.response)).into_response()
        }
        Err(e) => e.into_response(),
    };
    response.extensions_mut().insert(AuditActor(name));
    response
}

/// End this browser's session and clear its cookie.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "AuthService",
    responses((status = 200, body = StdResponse)))]
pub async fn logout(State(app): State<AppState>, request: Request) -> Response {
    let id = cookie(request.headers(), COOKIE).map(str::to_string);
    let actor = request.extensions().get::<Principal>().map(|p| p.name.clone());
    let mut response = match svc::logout(&app, id.as_deref()).await {
        Ok(ok) => ([(header::SET_COOKIE, svc::cleared_cookie(app.auth.cookie_secure))], axum::Json(ok)).into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(a) = actor {
        response.extensions_mut().insert(AuditActor(a));
    }
    response
}

/// The sign-in page; after signing in it returns to `?next=` (a path on this site).
pub async fn login_page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store"), (header::X_FRAME_OPTIONS, "DENY")], Html(LOGIN_PAGE))
}

/// Nothing on the page comes from the request: `next` is read and checked by the
/// script (a same-site path only) and never written into the document.
const LOGIN_PAGE: &str = include_str!("login.html");

/// Who is calling.
#[utoipa::path(post, path = "/v1/auth/me", tag = "AuthService", responses((status = 200, body = MeResponse)))]
pub async fn me(Extension(p): Extension<Principal>) -> axum::Json<MeResponse> {
    axum::Json(svc::whoami(&p))
}

/// Every user (admin).
#[utoipa::path(post, path = "/v1/auth/users", tag = "AuthService", responses((status = 200, body = UsersResponse)))]
pub async fn users(State(app): State<AppState>) -> ApiResult<axum::Json<UsersResponse>> {
    svc::users(&app).await.map(axum::Json)
}

/// Create a user with a password and a role (admin).
#[utoipa::path(post, path = "/v1/auth/user/create", tag = "AuthService", request_body = CreateUserRequest,
    responses((status = 200, body = CreatedResponse), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<CreateUserRequest>,
) -> ApiResult<axum::Json<CreatedResponse>> {
    svc::create_user(&app, req).await.map(axum::Json)
}

/// Change a user's role, projects, password or disabled flag; a new password or
/// disabling ends their sessions (admin).
#[utoipa::path(post, path = "/v1/auth/user/update", tag = "AuthService", request_body = UpdateUserRequest,
    responses((status = 200, body = StdResponse), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<UpdateUserRequest>,
) -> ApiResult<axum::Json<StdResponse>> {
    svc::update_user(&app, req).await.map(axum::Json)
}

/// Delete a user (admin; not yourself).
#[utoipa::path(post, path = "/v1/auth/user/delete", tag = "AuthService", request_body = IdRequest,
    responses((status = 200, body = StdResponse), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_user(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<IdRequest>,
) -> ApiResult<axum::Json<StdResponse>> {
    svc::delete_user(&app, &p, req).await.map(axum::Json)
}

/// End every session of a user (admin).
#[utoipa::path(post, path = "/v1/auth/sessions/revoke", tag = "AuthService", request_body = UserIdRequest,
    responses((status = 200, body = StdResponse)))]
pub async fn revoke_sessions(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<UserIdRequest>,
) -> ApiResult<axum::Json<StdResponse>> {
    svc::revoke_sessions(&app, req).await.map(axum::Json)
}

/// Every API token, without its value (admin).
#[utoipa::path(post, path = "/v1/auth/tokens", tag = "AuthService", responses((status = 200, body = TokensResponse)))]
pub async fn tokens(State(app): State<AppState>) -> ApiResult<axum::Json<TokensResponse>> {
    svc::tokens(&app).await.map(axum::Json)
}

/// Create an API token with a name, role and expiry; the answer shows it once (admin).
#[utoipa::path(post, path = "/v1/auth/token/create", tag = "AuthService", request_body = CreateTokenRequest,
    responses((status = 200, body = CreateTokenResponse), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(app): State<AppState>,
    Extension(p): Extension<Principal>,
    ApiJson(req): ApiJson<CreateTokenRequest>,
) -> ApiResult<axum::Json<CreateTokenResponse>> {
    svc::create_token(&app, &p, req).await.map(axum::Json)
}

/// Revoke an API token (admin).
#[utoipa::path(post, path = "/v1/auth/token/revoke", tag = "AuthService", request_body = IdRequest,
    responses((status = 200, body = StdResponse), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<IdRequest>,
) -> ApiResult<axum::Json<StdResponse>> {
    svc::revoke_token(&app, req).await.map(axum::Json)
}

/// The audit log, newest first, filtered by actor, project and time (admin).
#[utoipa::path(post, path = "/v1/audit", tag = "AuthService", request_body = AuditRequest,
    responses((status = 200, body = AuditResponse), (status = 422, body = ErrorBody)))]
pub async fn audit(
    State(app): State<AppState>,
    ApiJson(req): ApiJson<AuditRequest>,
) -> ApiResult<axum::Json<AuditResponse>> {
    svc::audit(&app, req).await.map(axum::Json)
}
