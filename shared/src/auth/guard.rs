//! The guard in front of every route, in Lambda and in `alilo-local` alike
//! (in-function checks, see docs/security.md): cross-site refusal, then who is
//! calling, then whether the rule table lets them, then — for a change — which
//! projects it touches, and an audit row with the outcome.

use super::cache;
use super::csrf::{self, Refusal};
use super::principal::{Principal, forbidden, unauthorized};
use super::rules::{self, Need};
use super::scope::{self, Touched};
use super::secrets;
use super::sso::{GatewayClaims, SsoRefusal};
use super::timing;
use crate::db;
use crate::http::{ApiError, DEFAULT_BODY_LIMIT};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::time::Duration;

/// The session cookie's name.
pub const COOKIE: &str = "alilo_session";
/// Bodies above this are not read for ids (a data-file upload); the route still is audited.
const MAX_SCANNED_BODY: usize = 256 * 1024;
/// Answers above this are not read for ids.
const MAX_SCANNED_ANSWER: usize = 64 * 1024;

/// Who an audit row names when the handler knows better than the guard (a login
/// names the account tried), set as a response extension.
#[derive(Debug, Clone)]
pub struct AuditActor(pub String);

/// The caller's address: the socket's peer in `alilo-local`, else the first
/// `X-Forwarded-For` entry (API Gateway sets it).
pub fn client_address(req: &Request) -> String {
    if let Some(ConnectInfo(addr)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
        return addr.ip().to_string();
    }
    req.headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().chars().take(64).collect())
        .unwrap_or_default()
}

/// The value of cookie `name`, if well-formed.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// A credential a request presents, before it is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'a> {
    /// `Authorization: Bearer <token>`.
    Token(&'a str),
    /// The session cookie's id.
    Session(&'a str),
}

impl Presented<'_> {
    /// What a 401 says when the credential is not (or no longer) live.
    fn not_live(self) -> &'static str {
        match self {
            Presented::Token(_) => "unknown, expired or revoked token",
            Presented::Session(_) => "the session has expired or was ended",
        }
    }
}

/// The credential in `headers` (a bearer token wins over a cookie): `Ok(None)`
/// when none was sent, 401 for a malformed one. Pure: no look-up.
pub fn presented(headers: &HeaderMap) -> Result<Option<Presented<'_>>, ApiError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| unauthorized("the Authorization header is not text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty() && t.len() <= 200)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        return Ok(Some(Presented::Token(token)));
    }
    if let Some(id) = cookie(headers, COOKIE) {
        if id.len() != 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unauthorized("malformed session cookie"));
        }
        return Ok(Some(Presented::Session(id)));
    }
    Ok(None)
}

/// The principal of a presented credential: remembered for a few seconds
/// (`auth::cache`, refreshed in the background ahead of its expiry while in
/// use), else looked up by its digest; 401 when it is not live.
async fn principal_for(app: &AppState, credential: Presented<'_>) -> Result<Principal, ApiError> {
    let digest = match credential {
        Presented::Token(secret) | Presented::Session(secret) => secrets::digest(secret),
    };
    let token = matches!(credential, Presented::Token(_));
    match cache::get(&digest) {
        Some(cache::Remembered::Fresh(p)) => return Ok(p),
        Some(cache::Remembered::Refresh(p, generation)) => {
            let app = app.clone();
            tokio::spawn(async move {
                match look_up(&app, token, &digest).await {
                    Ok(found) => cache::refreshed(&digest, found.as_ref(), generation),
                    Err(e) => {
                        tracing::warn!(error = %e.message, "a credential's refresh failed; the next request retries");
                        cache::refresh_failed(&digest);
                    }
                }
            });
            return Ok(p);
        }
        None => {}
    }
    let p = look_up(app, token, &digest).await?.ok_or_else(|| unauthorized(credential.not_live()))?;
    cache::put(&digest, &p);
    Ok(p)
}

/// The principal of the token (`token`) or session whose digest is `digest`, if live.
async fn look_up(app: &AppState, token: bool, digest: &[u8]) -> Result<Option<Principal>, ApiError> {
    if token {
        db::auth::token_principal(&app.db, digest).await
    } else {
        db::auth::session_principal(&app.db, digest).await
    }
}

/// Who is calling: `Ok(None)` when no credentials were sent; 401 for bad ones.
/// Claims the gateway's JWT authorizer validated (`/sso/v1/…` in AWS) come first:
/// that route set has no other way in.
pub async fn authenticate(
    app: &AppState,
    headers: &HeaderMap,
    claims: Option<&GatewayClaims>,
) -> Result<Option<Principal>, ApiError> {
    if !app.auth.enabled {
        return Ok(Some(Principal::no_auth()));
    }
    if let Some(GatewayClaims(claims)) = claims {
        let Some(sso) = &app.auth.sso else {
            return Err(unauthorized("single sign-on is not configured here (ALILO_OIDC_ISSUER is unset)"));
        };
        return match sso.principal(claims) {
            Ok(p) => Ok(Some(p)),
            Err(SsoRefusal::NotOurs(why)) => Err(unauthorized(&why)),
            Err(SsoRefusal::NoRole(why)) => Err(forbidden(why)),
        };
    }
    match presented(headers)? {
        Some(credential) => principal_for(app, credential).await.map(Some),
        None => Ok(None),
    }
}

/// The middleware (see the module doc).
pub async fn guard(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let clock = timing::start();
    let path = req.uri().path().to_string();
    let rule = rules::rule_for(&path);
    let method = req.method().clone();
    let address = client_address(&req);
    let audit = Audit { app: &app, route: &path, address: &address, enabled: rule.mutates };

    let refused = csrf::check_origin(&method, req.headers(), &app.auth.allowed_origins)
        .and_then(|()| csrf::check_content_type(&method, req.headers(), csrf::has_body(req.headers())));
    if let Err(refusal) = refused {
        let err = match refusal {
            Refusal::CrossSite(m) => ApiError::new(StatusCode::FORBIDDEN, m),
            Refusal::ContentType(m) => ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, m),
        };
        audit.record(None, &Touched::default(), err.status, &err.message, None).await;
        return err.into_response();
    }

    // The fleet's routes check their own credential (the fleet token or the
    // agent's): no session or API-token look-up for each heartbeat.
    let principal = if rule.need == Need::Fleet {
        Ok(None)
    } else {
        authenticate(&app, req.headers(), req.extensions().get::<GatewayClaims>()).await
    };
    if rule.need <= Need::Fleet {
        // Public: a stale cookie must not stop a login.
        if let Ok(Some(p)) = principal {
            req.extensions_mut().insert(p);
        }
        if !rule.mutates {
            timing::record(clock, Duration::ZERO);
            return next.run(req).await;
        }
        timing::record(clock, Duration::ZERO);
        let response = next.run(req).await;
        let actor = response.extensions().get::<AuditActor>().map(|a| a.0.clone());
        let status = response.status();
        audit.record(None, &Touched::default(), status, "", actor).await;
        return response;
    }
    let principal = match principal {
        Ok(Some(p)) => p,
        Ok(None) => {
            let err = unauthorized("no credentials");
            audit.record(None, &Touched::default(), err.status, &err.message, None).await;
            return err.into_response();
        }
        Err(err) => {
            audit.record(None, &Touched::default(), err.status, &err.message, None).await;
            return err.into_response();
        }
    };
    if let Err(err) = principal.require(rule.need) {
        audit.record(Some(&principal), &Touched::default(), err.status, &err.message, None).await;
        return err.into_response();
    }
    if !rule.mutates {
        req.extensions_mut().insert(principal);
        timing::record(clock, Duration::ZERO);
        return next.run(req).await;
    }

    // A change: read the body for the ids it touches.
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, DEFAULT_BODY_LIMIT).await else {
        let err = ApiError::too_large("body", format!("request body exceeds the limit of {DEFAULT_BODY_LIMIT} bytes"));
        audit.record(Some(&principal), &Touched::default(), err.status, &err.message, None).await;
        return err.into_response();
    };
    let mut touched = if bytes.len() <= MAX_SCANNED_BODY { scope::touched(&path, &bytes) } else { Touched::default() };
    let projects = match projects_of(&app, &touched).await {
        Ok(p) => p,
        Err(err) => return err.into_response(),
    };
    if let Err(err) = principal.require_projects(&projects, path == "/v1/project/create") {
        audit.record_with(Some(&principal), &touched, err.status, &err.message, Some(projects)).await;
        return err.into_response();
    }
    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(principal.clone());
    let before = clock.map(|c| c.elapsed()).unwrap_or_default();
    let response = next.run(req).await;
    let clock = clock.map(|_| std::time::Instant::now());

    let (parts, body) = response.into_parts();
    let answer = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    if answer.len() <= MAX_SCANNED_ANSWER {
        scope::merge_answer(&path, &answer, &mut touched);
    }
    let message = if parts.status.is_success() { String::new() } else { error_message(&answer) };
    audit.record_with(Some(&principal), &touched, parts.status, &message, Some(projects)).await;
    timing::record(clock, before);
    Response::from_parts(parts, Body::from(answer))
}

/// The projects of the ids a change touches (none: no query).
async fn projects_of(app: &AppState, t: &Touched) -> Result<Vec<i64>, ApiError> {
    if t.projects.is_empty()
        && t.scenarios.is_empty()
        && t.scripts.is_empty()
        && t.simple_scripts.is_empty()
        && t.runs.is_empty()
    {
        return Ok(Vec::new());
    }
    db::auth::projects_of(&app.db, &t.projects, &t.scenarios, &t.scripts, &t.simple_scripts, &t.runs).await
}

fn error_message(answer: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(answer)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(|m| m.chars().take(500).collect()))
        .unwrap_or_default()
}

struct Audit<'a> {
    app: &'a AppState,
    route: &'a str,
    address: &'a str,
    enabled: bool,
}

impl Audit<'_> {
    async fn record(
        &self,
        who: Option<&Principal>,
        t: &Touched,
        status: StatusCode,
        message: &str,
        actor: Option<String>,
    ) {
        if !self.enabled {
            return;
        }
        self.write(who, t, status, message, actor, Vec::new()).await;
    }

    async fn record_with(
        &self,
        who: Option<&Principal>,
        t: &Touched,
        status: StatusCode,
        message: &str,
        projects: Option<Vec<i64>>,
    ) {
        self.write(who, t, status, message, None, projects.unwrap_or_default()).await;
    }

    async fn write(
        &self,
        who: Option<&Principal>,
        t: &Touched,
        status: StatusCode,
        message: &str,
        actor: Option<String>,
        project_ids: Vec<i64>,
    ) {
        let entry = db::auth::AuditEntry {
            actor: actor.or_else(|| who.map(|p| p.name.clone())).unwrap_or_else(|| "anonymous".into()),
            user_id: who.and_then(|p| p.user_id),
            token_id: who.and_then(|p| p.token_id),
            via: who.map_or("none", |p| p.via.as_str()),
            address: self.address.to_string(),
            route: self.route.to_string(),
            ids: serde_json::Value::Object(t.all.clone()),
            project_ids,
            status: i32::from(status.as_u16()),
            message: message.to_string(),
        };
        if let Err(e) = db::auth::audit(&self.app.db, &entry).await {
            tracing::error!(route = self.route, error = %e, "cannot write the audit row");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn the_presented_credential_is_read_from_the_headers() {
        let id = "ab".repeat(32);
        let cookie_header = format!("theme=dark; {COOKIE}={id}");
        // (headers, the credential or a 401 naming why)
        type Case<'a> = (&'a [(&'a str, &'a str)], Result<Option<Presented<'a>>, &'a str>);
        let table: &[Case] = &[
            (&[], Ok(None)),
            (&[("authorization", "Bearer alilo_x")], Ok(Some(Presented::Token("alilo_x")))),
            (&[("cookie", &cookie_header)], Ok(Some(Presented::Session(&id)))),
            // A bearer token wins over a cookie.
            (&[("cookie", &cookie_header), ("authorization", "Bearer t")], Ok(Some(Presented::Token("t")))),
            (&[("authorization", "Basic dTpw")], Err("Bearer <token>")),
            (&[("authorization", "Bearer ")], Err("Bearer <token>")),
            (&[("cookie", "alilo_session=short")], Err("malformed session cookie")),
            (&[("cookie", "other=1")], Ok(None)),
        ];
        for (pairs, want) in table {
            let h = headers(pairs);
            match (presented(&h), want) {
                (Ok(got), Ok(want)) => assert_eq!(&got, want, "{pairs:?}"),
                (Err(e), Err(needle)) => {
                    assert_eq!(e.status, StatusCode::UNAUTHORIZED);
                    assert!(e.message.contains(needle), "{pairs:?}: {}", e.message);
                }
                (got, want) => panic!("{pairs:?}: got {got:?}, want {want:?}"),
            }
        }
        let long = format!("Bearer {}", "x".repeat(201));
        assert!(presented(&headers(&[("authorization", &long)])).is_err());
    }
}
