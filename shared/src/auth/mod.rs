//! Who may do what (issue #10): the rule table, the guard in front of every
//! route, credentials (passwords, sessions, tokens, agent credentials), the
//! cross-site checks and the target allow-list. See docs/security.md.
//!
//! Everything here but [`guard`] is pure and tested without I/O; queries live in
//! `db::auth`, the user/token/audit logic in `service::auth`.

pub mod cache;
pub mod csrf;
pub mod guard;
pub mod principal;
pub mod rules;
pub mod scope;
pub mod secrets;
pub mod sso;
pub mod targets;
pub mod timing;

pub use principal::{Principal, Via};
pub use rules::{Need, Role, Rule};

use crate::config::Vars;

/// How long a session lasts unless `ALILO_SESSION_TTL_SECS` says otherwise: a working day.
pub const DEFAULT_SESSION_TTL_SECS: i64 = 12 * 3600;

/// The security settings, read once with the rest of the configuration.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `false` only for `alilo-local --no-auth` on loopback: everyone is an admin.
    pub enabled: bool,
    /// `ALILO_ALLOWED_ORIGINS`: other origins whose pages may call the API.
    pub allowed_origins: csrf::AllowedOrigins,
    /// `ALILO_ALLOWED_TARGETS`: where scripts and data files may point.
    pub targets: targets::TargetList,
    /// `ALILO_COOKIE_SECURE` (default true): the session cookie's `Secure` flag.
    /// Browsers send Secure cookies to http://localhost; only a plain-http host
    /// other than localhost needs `false`.
    pub cookie_secure: bool,
    /// `ALILO_SESSION_TTL_SECS`.
    pub session_ttl_secs: i64,
    /// `ALILO_OIDC_*`: single sign-on through the API gateway's JWT authorizer.
    pub sso: Option<sso::SsoConfig>,
    /// `ALILO_FLEET_TOKEN`: what a self-registering agent presents to
    /// `/v1/fleet/register`; unset, self-registration is off (docs/fleet.md).
    pub fleet_token: Option<crate::config::Secret>,
    /// `ALILO_AGENT_TLS_REQUIRED` (default false): agents are called over TLS with
    /// a pinned certificate only. An agent without a pin is refused when added
    /// (`/v1/agent/set`, `/v1/fleet/register`: 422 naming `tls_pin`), gets no work
    /// from the planner, and is never called.
    pub agent_tls_required: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            allowed_origins: csrf::AllowedOrigins::default(),
            targets: targets::TargetList::default(),
            cookie_secure: true,
            session_ttl_secs: DEFAULT_SESSION_TTL_SECS,
            sso: None,
            fleet_token: None,
            agent_tls_required: false,
        }
    }
}

impl AuthConfig {
    pub fn from_vars(vars: &impl Vars) -> Result<Self, String> {
        let allowed_origins = csrf::AllowedOrigins::parse(&vars.var("ALILO_ALLOWED_ORIGINS").unwrap_or_default())
            .map_err(|e| format!("ALILO_{e}"))?;
        let targets = targets::parse_global(vars.var(targets::VAR).as_deref())?;
        let cookie_secure = flag(vars, "ALILO_COOKIE_SECURE", true)?;
        let agent_tls_required = flag(vars, "ALILO_AGENT_TLS_REQUIRED", false)?;
        let session_ttl_secs =
            match vars.var("ALILO_SESSION_TTL_SECS") {
                None => DEFAULT_SESSION_TTL_SECS,
                Some(v) => v.trim().parse::<i64>().ok().filter(|s| (60..=30 * 86400).contains(s)).ok_or_else(|| {
                    format!("ALILO_SESSION_TTL_SECS={v:?} is invalid: seconds between 60 and 2592000")
                })?,
            };
        let fleet_token = vars.var("ALILO_FLEET_TOKEN").map(|t| crate::config::Secret::new(t.trim()));
        if fleet_token.as_ref().is_some_and(|t| t.expose().len() < 16) {
            return Err(
                "ALILO_FLEET_TOKEN is too short: use at least 16 characters (e.g. `openssl rand -hex 32`)".into()
            );
        }
        let sso = sso::SsoConfig::from_vars(vars)?;
        Ok(Self {
            enabled: true,
            allowed_origins,
            targets,
            cookie_secure,
            session_ttl_secs,
            sso,
            fleet_token,
            agent_tls_required,
        })
    }
}

/// A yes/no variable: `1`/`true`/`yes`/`on` or `0`/`false`/`no`/`off`; unset: `default`.
fn flag(vars: &impl Vars, name: &str, default: bool) -> Result<bool, String> {
    match vars.var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
        Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
        Some(v) => Err(format!("{name}={v:?} is invalid: use true or false")),
    }
}
