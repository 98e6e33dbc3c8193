//! Who may call what: THE rule table. Every route the API serves has one row here;
//! a test walks the OpenAPI document and fails for a route without a row, so a new
//! route cannot slip through unguarded. A route missing at run time is treated as
//! admin-only (fail closed).
//!
//! Roles, each including the one before:
//! - `viewer`: reads everything except data-file contents;
//! - `tester`: also reads data files and changes projects, scenarios, scripts,
//!   files and runs (optionally limited to some projects: see [`crate::auth::scope`]);
//! - `admin`: also agents, users, tokens, settings and the audit log.

use serde::{Deserialize, Serialize};

/// A role, in increasing power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Tester,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Tester => "tester",
            Role::Admin => "admin",
        }
    }

    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Role::Viewer),
            "tester" => Ok(Role::Tester),
            "admin" => Ok(Role::Admin),
            other => Err(format!("{other:?} is not a role (viewer, tester, admin)")),
        }
    }

    /// Whether this role has `need`.
    pub fn allows(self, need: Need) -> bool {
        match need {
            Need::Nothing | Need::Fleet | Need::Read => true,
            Need::ReadData | Need::Test => self >= Role::Tester,
            Need::Admin => self == Role::Admin,
        }
    }
}

/// What a route needs, in increasing demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Anyone, signed in or not (login, the login page).
    Nothing,
    /// Self-registering agents: the route checks the fleet token or the
    /// agent's own credential itself; no session or API token is looked up.
    Fleet,
    /// Any signed-in role.
    Read,
    /// Data-file contents and the bucket listing: tester or admin.
    ReadData,
    /// Change projects, scenarios, scripts, files and runs: tester or admin.
    Test,
    /// Agents, users, tokens, the audit log: admin.
    Admin,
}

impl Need {
    /// The permission named in a 403.
    pub fn permission(self) -> &'static str {
        match self {
            Need::Nothing | Need::Read => "read",
            Need::Fleet => "the fleet token (ALILO_FLEET_TOKEN) or the agent's own credential",
            Need::ReadData => "read data files (tester or admin)",
            Need::Test => "change projects, scenarios, scripts, files and runs (tester or admin)",
            Need::Admin => "administer agents, users, tokens and the audit log (admin)",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub path: &'static str,
    pub need: Need,
    /// Changes state: audited, and subject to a tester's project limit.
    pub mutates: bool,
}

const fn read(path: &'static str) -> Rule {
    Rule { path, need: Need::Read, mutates: false }
}
const fn data(path: &'static str) -> Rule {
    Rule { path, need: Need::ReadData, mutates: false }
}
const fn test(path: &'static str) -> Rule {
    Rule { path, need: Need::Test, mutates: true }
}
const fn admin(path: &'static str) -> Rule {
    Rule { path, need: Need::Admin, mutates: true }
}
const fn admin_read(path: &'static str) -> Rule {
    Rule { path, need: Need::Admin, mutates: false }
}
const fn public(path: &'static str, mutates: bool) -> Rule {
    Rule { path, need: Need::Nothing, mutates }
}
const fn fleet(path: &'static str, mutates: bool) -> Rule {
    Rule { path, need: Need::Fleet, mutates }
}

/// Every route and what it needs, sorted by resource.
pub const RULES: &[Rule] = &[
    // Sessions (login and logout are audited: they change who is signed in).
    public("/v1/auth/login", true),
    public("/v1/auth/logout", true),
    public("/login", false),
    read("/v1/auth/me"),
    // Users, tokens, audit.
    admin_read("/v1/auth/users"),
    admin("/v1/auth/user/create"),
    admin("/v1/auth/user/update"),
    admin("/v1/auth/user/delete"),
    admin_read("/v1/auth/tokens"),
    admin("/v1/auth/token/create"),
    admin("/v1/auth/token/revoke"),
    admin("/v1/auth/sessions/revoke"),
    admin_read("/v1/audit"),
    // Agents: registering one decides where the backend sends its calls.
    read("/v1/agents"),
    read("/v1/agent"),
    read("/v1/agent/get"), // the original UI's alias of /v1/agent
    read("/v1/agent/tags"),
    read("/v1/agents/by-tag"),
    admin("/v1/agent/set"),
    admin("/v1/agent/update"),
    admin("/v1/agent/delete"),
    admin("/v1/agent/credential"),
    admin("/v1/remove-logs"),
    // Self-registering agents (#13): registration needs the fleet token, the
    // heartbeat and deregistration the agent's own credential. Heartbeats are
    // not audited (one per agent every 10 s); joining and leaving are.
    fleet("/v1/fleet/register", true),
    fleet("/v1/fleet/heartbeat", false),
    fleet("/v1/fleet/deregister", true),
    read("/v1/fleet/agents"),
    // Projects.
    read("/v1/projects"),
    read("/v1/project"),
    test("/v1/project/create"),
    test("/v1/project/update"),
    test("/v1/project/delete"),
    read("/v1/project/targets"),
    test("/v1/project/targets/set"),
    // Scenarios.
    read("/v1/scenarios"),
    read("/v1/scenario"),
    read("/v1/scenario/duration"),
    read("/v1/scenario/steps"),
    read("/v1/scenario/rps"),
    read("/v1/scenario/last-run-status"),
    read("/v1/scenario/grafanaStructure"),
    read("/v1/scenario/grafanaStructureByIds"),
    test("/v1/scenario/create"),
    test("/v1/scenario/update"),
    test("/v1/scenario/delete"),
    test("/v1/scenario/copy"),
    test("/v1/scenario/teg"),
    // Scripts.
    read("/v1/scripts"),
    read("/v1/script"),
    read("/v1/simple-script"),
    test("/v1/script/create"),
    test("/v1/script/update"),
    test("/v1/script/delete"),
    test("/v1/script/copy"),
    test("/v1/script/move"),
    test("/v1/simple-script/create"),
    test("/v1/simple-script/update"),
    test("/v1/simple-script/delete"),
    test("/v1/simple-script/copy"),
    test("/v1/simple-script/move"),
    // Import.
    read("/v1/parsing/CUrl"),
    test("/v1/parsing/curl/import"),
    test("/v1/parsing/har/import"),
    // Files: listing names is a read, contents need a tester.
    read("/v1/files"),
    data("/v1/file/data"),
    data("/v1/s3/getBucketList"),
    test("/v1/file/upload"),
    test("/v1/s3/uploadFile"),
    test("/v1/s3/deleteBucketFile"),
    test("/api/delete/file"), // the original UI's alias of /v1/s3/deleteBucketFile
    // Search.
    read("/v1/search"),
    read("/v1/search/script"), // the original UI's alias of /v1/search
    read("/v1/page-num"),
    // Runs.
    read("/v1/runs"),
    read("/v1/run"),
    read("/v1/run/by-status"),
    read("/v1/run/rps"),
    read("/v1/run/metrics"),
    read("/v1/run/summary"),
    read("/v1/run/logs"),
    read("/v1/run/timeRange"),
    read("/v1/run/scriptrun"),
    read("/v1/run/scriptruns"),
    read("/v1/run/is-change-loadlevel"),
    test("/v1/run/start"),
    test("/v1/run/start/script"),
    test("/v1/run/start/simple-script"),
    test("/v1/run/stop"),
    test("/v1/run/stop/script-run"),
    test("/v1/run/adjustment"),
    test("/v1/run/increase/script"),
    test("/v1/run/increase/simple-script"),
    test("/v1/command/new"),
    // Verdicts (#12).
    read("/v1/thresholds"),
    test("/v1/thresholds/set"),
    test("/v1/scenario/baseline"),
    read("/v1/run/verdict"),
    test("/v1/run/report"),
    read("/v1/run/compare"),
];

/// Paths outside the API that anyone may read (documentation).
pub const PUBLIC_PREFIXES: &[&str] = &["/swagger"];

/// The rule of `path`; an unknown `/v1/` path is admin-only, and other paths
/// (documentation, 404s) need nothing.
pub fn rule_for(path: &str) -> Rule {
    if let Some(rule) = RULES.iter().find(|r| r.path == path) {
        return *rule;
    }
    if path.starts_with("/v1/") || path == "/v1" {
        return Rule { path: "(unlisted)", need: Need::Admin, mutates: true };
    }
    // The live run pages (#12) show run data: any signed-in role.
    if path.starts_with("/ui/") {
        return Rule { path: "/ui/", need: Need::Read, mutates: false };
    }
    Rule { path: "(not the API)", need: Need::Nothing, mutates: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_has_one_rule() {
        let mut paths: Vec<_> = RULES.iter().map(|r| r.path).collect();
        paths.sort_unstable();
        let before = paths.len();
        paths.dedup();
        assert_eq!(before, paths.len(), "a path is listed twice");
    }

    #[test]
    fn roles_include_the_ones_before() {
        assert!(Role::Viewer.allows(Need::Read) && !Role::Viewer.allows(Need::Test));
        assert!(!Role::Viewer.allows(Need::ReadData), "a viewer cannot read data files");
        assert!(Role::Tester.allows(Need::Test) && !Role::Tester.allows(Need::Admin));
        assert!(Role::Admin.allows(Need::Admin));
    }

    #[test]
    fn an_unlisted_api_path_is_admin_only() {
        assert_eq!(rule_for("/v1/new-thing").need, Need::Admin);
        assert_eq!(rule_for("/v1/agent/set").need, Need::Admin);
        assert_eq!(rule_for("/swagger.json").need, Need::Nothing);
    }
}
