//! Who is calling: the principal the guard finds for a request (a user through a
//! session cookie, a token, or the loopback `--no-auth` developer) and puts in the
//! request's extensions for the handlers that need it.

use super::rules::{Need, Role};
use crate::http::ApiError;
use axum::http::StatusCode;

/// How the caller proved who they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
    /// An identity provider's JWT, validated by the API gateway (`auth::sso`).
    Sso,
    /// `alilo-local --no-auth` on loopback: everyone is an admin.
    NoAuth,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Session => "session",
            Via::Token => "token",
            Via::Sso => "sso",
            Via::NoAuth => "no-auth",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's name, `token:<name>` or `sso:<email>`.
    pub name: String,
    pub user_id: Option<i64>,
    pub token_id: Option<i64>,
    pub role: Role,
    /// `Some`: a tester who may change only these projects.
    pub projects: Option<Vec<i64>>,
    pub via: Via,
}

impl Principal {
    /// The developer of `--no-auth`.
    pub fn no_auth() -> Self {
        Self {
            name: "local".into(),
            user_id: None,
            token_id: None,
            role: Role::Admin,
            projects: None,
            via: Via::NoAuth,
        }
    }

    /// 403 naming the missing permission, unless the role has `need`.
    pub fn require(&self, need: Need) -> Result<(), ApiError> {
        if self.role.allows(need) {
            Ok(())
        } else {
            Err(forbidden(format!(
                "{} ({}) lacks the permission to {}",
                self.name,
                self.role.as_str(),
                need.permission()
            )))
        }
    }

    /// 403 unless every project in `touched` is one this principal may change.
    /// A limited tester may not create projects (`creates_project`).
    pub fn require_projects(&self, touched: &[i64], creates_project: bool) -> Result<(), ApiError> {
        let Some(allowed) = self.projects.as_ref().filter(|_| self.role != Role::Admin) else {
            return Ok(());
        };
        if creates_project {
            return Err(forbidden(format!(
                "{} is limited to projects {allowed:?} and cannot create projects",
                self.name
            )));
        }
        match touched.iter().find(|p| !allowed.contains(p)) {
            Some(p) => {
                Err(forbidden(format!("{} is limited to projects {allowed:?}; project {p} is not one", self.name)))
            }
            None => Ok(()),
        }
    }
}

/// 401: no credentials, or unknown/expired/revoked ones.
pub fn unauthorized(why: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        format!("authentication required: {why}; sign in at /login or send Authorization: Bearer <token>"),
    )
}

/// 403 with the reason.
pub fn forbidden(why: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, format!("forbidden: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tester(projects: Option<Vec<i64>>) -> Principal {
        Principal {
            name: "t".into(),
            user_id: Some(1),
            token_id: None,
            role: Role::Tester,
            projects,
            via: Via::Session,
        }
    }

    #[test]
    fn a_missing_permission_is_named() {
        let err = tester(None).require(Need::Admin).unwrap_err();
        assert_eq!(err.status, StatusCode::FORBIDDEN);
        assert!(err.message.contains("administer agents"), "{}", err.message);
        assert!(tester(None).require(Need::Test).is_ok());
    }

    #[test]
    fn a_limited_tester_changes_only_their_projects() {
        let t = tester(Some(vec![1, 2]));
        assert!(t.require_projects(&[1, 2], false).is_ok());
        assert!(t.require_projects(&[2, 3], false).unwrap_err().message.contains("project 3"));
        assert!(t.require_projects(&[], true).is_err(), "no new projects");
        assert!(tester(None).require_projects(&[9], true).is_ok());
    }
}
