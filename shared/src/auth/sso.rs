//! Single sign-on in AWS: the HTTP API's JWT authorizer validates the identity
//! provider's token (signature, issuer, audience, expiry) on the `/sso/v1/…`
//! routes and hands the function the token's claims in the request context. This
//! module turns those claims into a [`Principal`]: one claim names the role,
//! directly (`admin`) or through a map of the provider's values (a group name).
//!
//! Pure and tested without I/O; the claims reach it through [`GatewayClaims`],
//! which only `router::gateway_app` sets, from the gateway's own request context
//! (a client cannot send it). See docs/security.md, "SSO".

use super::principal::{Principal, Via};
use super::rules::Role;
use crate::config::Vars;
use std::collections::HashMap;

/// The JWT claims the gateway's authorizer validated, put in the request's
/// extensions by `router::gateway_app`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatewayClaims(pub HashMap<String, String>);

/// `ALILO_OIDC_*`: how claims map to a principal. Present only when
/// `ALILO_OIDC_ISSUER` is set (the template sets it with the JWT authorizer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoConfig {
    /// `ALILO_OIDC_ISSUER`: claims whose `iss` differs are refused (a second check
    /// behind the gateway's own).
    pub issuer: String,
    /// `ALILO_OIDC_ROLE_CLAIM` (default `alilo_role`): the claim that names the role.
    pub role_claim: String,
    /// `ALILO_OIDC_ROLE_MAP`: `value=role,…`, e.g. `alilo-admins=admin,qa=tester`.
    /// A claim value that is itself a role name needs no entry.
    pub role_map: Vec<(String, Role)>,
    /// `ALILO_OIDC_DEFAULT_ROLE`: the role of a signed-in person whose claim maps to
    /// none; unset refuses them (403).
    pub default_role: Option<Role>,
    /// `ALILO_OIDC_NAME_CLAIM` (default `email`, then `preferred_username`, then `sub`).
    pub name_claim: String,
}

pub const DEFAULT_ROLE_CLAIM: &str = "alilo_role";
pub const DEFAULT_NAME_CLAIM: &str = "email";

impl SsoConfig {
    /// `None` when `ALILO_OIDC_ISSUER` is unset: SSO is off and claims are ignored.
    pub fn from_vars(vars: &impl Vars) -> Result<Option<Self>, String> {
        let Some(issuer) = vars.var("ALILO_OIDC_ISSUER").map(|v| v.trim().trim_end_matches('/').to_string()) else {
            return Ok(None);
        };
        let role_map = parse_role_map(&vars.var("ALILO_OIDC_ROLE_MAP").unwrap_or_default())?;
        let default_role = vars
            .var("ALILO_OIDC_DEFAULT_ROLE")
            .map(|r| Role::parse(&r).map_err(|e| format!("ALILO_OIDC_DEFAULT_ROLE: {e}")))
            .transpose()?;
        Ok(Some(Self {
            issuer,
            role_claim: vars.var("ALILO_OIDC_ROLE_CLAIM").unwrap_or_else(|| DEFAULT_ROLE_CLAIM.into()).trim().into(),
            role_map,
            default_role,
            name_claim: vars.var("ALILO_OIDC_NAME_CLAIM").unwrap_or_else(|| DEFAULT_NAME_CLAIM.into()).trim().into(),
        }))
    }

    /// The principal the claims describe, or why they are refused: `Err((401, …))`
    /// for claims that are not ours, `Err((403, …))` for a person without a role.
    pub fn principal(&self, claims: &HashMap<String, String>) -> Result<Principal, SsoRefusal> {
        let iss = claims.get("iss").map(|i| i.trim_end_matches('/')).unwrap_or_default();
        if iss != self.issuer {
            return Err(SsoRefusal::NotOurs(format!("the token's issuer {iss:?} is not ALILO_OIDC_ISSUER")));
        }
        let who = [self.name_claim.as_str(), "preferred_username", "sub"]
            .iter()
            .find_map(|c| claims.get(*c).map(|v| v.trim()).filter(|v| !v.is_empty()))
            .ok_or_else(|| SsoRefusal::NotOurs("the token names nobody (no sub claim)".into()))?;
        let name = format!("sso:{}", who.chars().take(200).collect::<String>());
        let values = claim_values(claims.get(&self.role_claim).map(String::as_str).unwrap_or_default());
        let role = values.iter().filter_map(|v| self.role_of(v)).max().or(self.default_role).ok_or_else(|| {
            SsoRefusal::NoRole(format!(
                "{name} has no Alilo role: claim {:?} is {values:?}, which ALILO_OIDC_ROLE_MAP does not map",
                self.role_claim
            ))
        })?;
        Ok(Principal { name, user_id: None, token_id: None, role, projects: None, via: Via::Sso })
    }

    fn role_of(&self, value: &str) -> Option<Role> {
        self.role_map.iter().find(|(v, _)| v == value).map(|(_, r)| *r).or_else(|| Role::parse(value).ok())
    }
}

/// Why claims give no principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoRefusal {
    /// Not a token of our issuer, or naming nobody: 401.
    NotOurs(String),
    /// A person the map gives no role: 403.
    NoRole(String),
}

/// `value=role,…`.
fn parse_role_map(raw: &str) -> Result<Vec<(String, Role)>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (value, role) =
                entry.rsplit_once('=').ok_or_else(|| format!("ALILO_OIDC_ROLE_MAP: {entry:?} is not value=role"))?;
            let role = Role::parse(role).map_err(|e| format!("ALILO_OIDC_ROLE_MAP: {entry:?}: {e}"))?;
            Ok((value.trim().to_string(), role))
        })
        .collect()
}

/// A claim's values. The HTTP API flattens claims to strings: a list arrives as
/// `[a b c]`; a plain string may also list values separated by commas or spaces.
fn claim_values(raw: &str) -> Vec<String> {
    let inner = raw.trim().trim_start_matches('[').trim_end_matches(']');
    inner
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|v| v.trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISS: &str = "https://login.example.com/tenant";

    fn config(map: &str, default_role: Option<&str>) -> SsoConfig {
        let mut vars = vec![("ALILO_OIDC_ISSUER", ISS), ("ALILO_OIDC_ROLE_MAP", map)];
        if let Some(r) = default_role {
            vars.push(("ALILO_OIDC_DEFAULT_ROLE", r));
        }
        SsoConfig::from_vars(&Map(vars)).unwrap().unwrap()
    }

    struct Map<'a>(Vec<(&'a str, &'a str)>);
    impl Vars for Map<'_> {
        fn var(&self, name: &str) -> Option<String> {
            self.0.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_string())
        }
    }

    fn claims(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect()
    }

    #[test]
    fn claims_map_to_roles() {
        let map = "alilo-admins=admin, qa=tester";
        // (role claim, default role, expected role or refusal)
        let table: &[(&str, Option<&str>, Result<Role, &str>)] = &[
            ("admin", None, Ok(Role::Admin)),
            ("Viewer", None, Ok(Role::Viewer)),
            ("alilo-admins", None, Ok(Role::Admin)),
            ("qa", None, Ok(Role::Tester)),
            ("[staff qa]", None, Ok(Role::Tester)),
            ("[viewer alilo-admins]", None, Ok(Role::Admin)),
            ("staff,qa", None, Ok(Role::Tester)),
            ("staff", None, Err("no Alilo role")),
            ("", None, Err("no Alilo role")),
            ("staff", Some("viewer"), Ok(Role::Viewer)),
            ("qa", Some("viewer"), Ok(Role::Tester)),
        ];
        for (value, default_role, want) in table {
            let got =
                config(map, *default_role).principal(&claims(&[("iss", ISS), ("sub", "42"), ("alilo_role", value)]));
            match (want, got) {
                (Ok(role), Ok(p)) => assert_eq!(p.role, *role, "{value:?}"),
                (Err(needle), Err(SsoRefusal::NoRole(m))) => assert!(m.contains(needle), "{value:?}: {m}"),
                (want, got) => panic!("{value:?} ({default_role:?}): want {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn the_name_comes_from_email_then_username_then_sub() {
        let c = config("", None);
        let table = [
            (vec![("email", "a@x.io"), ("preferred_username", "al"), ("sub", "1")], "sso:a@x.io"),
            (vec![("preferred_username", "al"), ("sub", "1")], "sso:al"),
            (vec![("email", " "), ("sub", "1")], "sso:1"),
        ];
        for (mut pairs, want) in table {
            pairs.extend([("iss", ISS), ("alilo_role", "viewer")]);
            let p = c.principal(&claims(&pairs)).unwrap();
            assert_eq!((p.name.as_str(), p.via, p.user_id, p.token_id), (want, Via::Sso, None, None));
        }
    }

    #[test]
    fn claims_of_another_issuer_or_naming_nobody_are_refused() {
        let c = config("", Some("admin"));
        let other = c.principal(&claims(&[("iss", "https://evil.example"), ("sub", "1")]));
        assert!(matches!(other, Err(SsoRefusal::NotOurs(m)) if m.contains("evil.example")));
        assert!(matches!(c.principal(&claims(&[("sub", "1")])), Err(SsoRefusal::NotOurs(_))));
        assert!(matches!(c.principal(&claims(&[("iss", ISS)])), Err(SsoRefusal::NotOurs(m)) if m.contains("sub")));
        // A trailing slash on either side is the same issuer.
        let iss = format!("{ISS}/");
        assert!(c.principal(&claims(&[("iss", iss.as_str()), ("sub", "1")])).is_ok());
    }

    #[test]
    fn configuration_errors_name_the_variable() {
        assert_eq!(SsoConfig::from_vars(&Map(vec![])).unwrap(), None);
        let bad = [
            (("ALILO_OIDC_ROLE_MAP", "admins"), "ALILO_OIDC_ROLE_MAP"),
            (("ALILO_OIDC_ROLE_MAP", "admins=root"), "ALILO_OIDC_ROLE_MAP"),
            (("ALILO_OIDC_DEFAULT_ROLE", "boss"), "ALILO_OIDC_DEFAULT_ROLE"),
        ];
        for (pair, name) in bad {
            let err = SsoConfig::from_vars(&Map(vec![("ALILO_OIDC_ISSUER", ISS), pair])).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
        let c =
            SsoConfig::from_vars(&Map(vec![("ALILO_OIDC_ISSUER", "https://x/"), ("ALILO_OIDC_ROLE_CLAIM", "groups")]))
                .unwrap()
                .unwrap();
        assert_eq!((c.issuer.as_str(), c.role_claim.as_str(), c.name_claim.as_str()), ("https://x", "groups", "email"));
    }
}
