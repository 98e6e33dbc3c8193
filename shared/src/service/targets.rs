//! The target allow-list of a project's scripts (docs/security.md): reading and
//! setting a project's own list, and the checks at save, import and start
//! against the effective one (the global list AND the project's,
//! [`crate::auth::targets::Effective`]). A refusal is a 422 naming the field,
//! the host and the list.

use crate::auth::targets::{Effective, TargetList};
use crate::db::{self, known_id};
use crate::http::{ApiError, ApiResult};
use crate::state::AppState;
use crate::wire::projects::{ProjectTargetsRequest, ProjectTargetsResponse, SetProjectTargetsRequest};

/// The lists that apply to the scripts of scenario `scenario_id` (404 when
/// there is no such scenario).
pub async fn of_scenario(app: &AppState, scenario_id: i64) -> ApiResult<Effective> {
    let (project_id, entries) = db::projects::targets_of_scenario(&app.db, scenario_id)
        .await?
        .ok_or_else(|| ApiError::not_found("scenario", scenario_id))?;
    // Entries were checked when set; one that no longer parses (a stricter rule
    // since) refuses the script rather than letting it through.
    let list = TargetList::from_entries(entries.unwrap_or_default()).map_err(|e| {
        ApiError::unprocessable(
            "allowed_targets",
            format!("project {project_id}'s stored target allow-list {e}: set it again"),
        )
    })?;
    Ok(Effective::of_project(&app.auth.targets, project_id, Some(list)))
}

/// 422 unless `lists` let a script send to `path`'s host and read its data
/// file from `ammo_url`; `field` prefixes the message
/// (`simple_script` gives `simple_script.path: host "x" is not in …`).
pub fn check_simple(app: &AppState, lists: &Effective, field: &str, path: &str, ammo_url: &str) -> ApiResult<()> {
    if let Some(host) = crate::auth::targets::host_of(path) {
        lists.check_target(&host).map_err(|why| ApiError::unprocessable(&format!("{field}.path"), why))?;
    }
    lists
        .check_data_url(ammo_url, app.storage.bucket())
        .map_err(|why| ApiError::unprocessable(&format!("{field}.ammo_url"), why))
}

fn answer(app: &AppState, project_id: i32, entries: Option<Vec<String>>, message: String) -> ProjectTargetsResponse {
    ProjectTargetsResponse {
        status: true,
        message,
        project_id,
        allowed_targets: entries.unwrap_or_default(),
        global_allowed_targets: app.auth.targets.entries().to_vec(),
    }
}

/// `/v1/project/targets`: a project's list and the global one.
pub async fn get(app: &AppState, req: ProjectTargetsRequest) -> ApiResult<ProjectTargetsResponse> {
    let id = known_id("project", req.project_id.into())?;
    let entries = db::projects::targets(&app.db, id).await?.ok_or_else(|| ApiError::not_found("project", id))?;
    Ok(answer(app, req.project_id, entries, String::new()))
}

/// `/v1/project/targets/set`: replaces a project's list (an empty one removes
/// it). Scripts already saved are checked again when they start.
pub async fn set(app: &AppState, req: SetProjectTargetsRequest) -> ApiResult<ProjectTargetsResponse> {
    let id = known_id("project", req.project_id.into())?;
    let given = req.allowed_targets.ok_or_else(|| {
        ApiError::bad_request("allowed_targets", "is required: a list of hosts, *.suffix, IPs or CIDRs ([] removes it)")
    })?;
    let list = TargetList::from_entries(&given).map_err(|e| ApiError::unprocessable("allowed_targets", e))?;
    let entries = list.is_set().then(|| list.entries().to_vec());
    if !db::projects::set_targets(&app.db, id, entries.as_deref()).await? {
        return Err(ApiError::not_found("project", id));
    }
    let message = match &entries {
        Some(e) => format!(
            "project {id}'s scripts may target {} entries (and what {} allows)",
            e.len(),
            crate::auth::targets::VAR
        ),
        None => format!("project {id} has no target allow-list of its own"),
    };
    Ok(answer(app, req.project_id, entries, message))
}
