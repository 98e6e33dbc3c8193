//! ScriptService: the extended (k6 file) scripts and the list of both kinds.

use super::required;
use super::scenarios::existing as existing_scenario;
use crate::db::{self, known_id};
use crate::extended;
use crate::http::{ApiError, ApiResult};
use crate::model::scripts::ExtendedScript;
use crate::state::AppState;
use crate::wire::StdResponse;
use crate::wire::scenarios::ScenarioIdRequest;
use crate::wire::scripts::*;

pub async fn list(app: &AppState, req: ScenarioIdRequest) -> ApiResult<GetAllScriptsResponse> {
    let id = known_id("scenario", req.scenario_id.into())?;
    let (scripts, simple_scripts) =
        db::scripts::list_both(&app.db, id).await?.ok_or_else(|| ApiError::not_found("scenario", id))?;
    Ok(GetAllScriptsResponse { status: true, scripts, simple_scripts, message: String::new() })
}

/// The scenario a script goes into: it must exist, and a non-zero `project_id` must
/// be that scenario's project.
pub(crate) async fn placement(app: &AppState, prefix: &str, scenario_id: i32, project_id: i32) -> ApiResult<i64> {
    if scenario_id <= 0 {
        return Err(ApiError::bad_request(&format!("{prefix}.scenario_id"), "is required"));
    }
    let scenario = existing_scenario(app, scenario_id).await?;
    if project_id != 0 && project_id != scenario.project_id {
        return Err(ApiError::unprocessable(
            &format!("{prefix}.project_id"),
            format!("scenario {scenario_id} belongs to project {}, not {project_id}", scenario.project_id),
        ));
    }
    Ok(scenario_id.into())
}

async fn existing(app: &AppState, id: i32) -> ApiResult<Script> {
    let id = known_id("script", id.into())?;
    db::scripts::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("script", id))
}

pub async fn get(app: &AppState, req: ScriptIdRequest) -> ApiResult<GetScriptResponse> {
    let script = existing(app, req.script_id).await?;
    Ok(GetScriptResponse { status: true, script: Some(script), message: String::new() })
}

pub async fn create(app: &AppState, req: ScriptRequest) -> ApiResult<CreateScriptResponse> {
    let wire = required("script", &req.script)?;
    let script = ExtendedScript::parse(wire)?;
    let scenario = placement(app, "script", wire.scenario_id, wire.project_id).await?;
    extended::validate::base_url(&super::targets::of_scenario(app, scenario).await?, wire)?;
    extended::validate::stored_script(&app.storage, &script.script_file, &script.ammo_id).await?;
    let id = db::scripts::create(&app.db, scenario, &script).await?;
    Ok(CreateScriptResponse { status: true, script_id: db::id32(id), message: String::new() })
}

pub async fn update(app: &AppState, req: ScriptRequest) -> ApiResult<StdResponse> {
    let wire = required("script", &req.script)?;
    let current = existing(app, wire.script_id).await?;
    let script = ExtendedScript::parse(wire)?;
    let scenario_id = if wire.scenario_id == 0 { current.scenario_id } else { wire.scenario_id };
    let scenario = placement(app, "script", scenario_id, wire.project_id).await?;
    extended::validate::base_url(&super::targets::of_scenario(app, scenario).await?, wire)?;
    extended::validate::stored_script(&app.storage, &script.script_file, &script.ammo_id).await?;
    db::scripts::update(&app.db, current.script_id.into(), scenario, &script).await?;
    Ok(StdResponse::ok(format!("The script {} was updated!", script.name)))
}

pub async fn delete(app: &AppState, req: ScriptIdRequest) -> ApiResult<StdResponse> {
    let id = known_id("script", req.script_id.into())?;
    if !db::scripts::delete(&app.db, id).await? {
        return Err(ApiError::not_found("script", id));
    }
    Ok(StdResponse::ok("Script was deleted!"))
}

/// The scenario a move goes to: `scenario_id` (0 = keep), checked against a
/// non-zero `project_id`.
pub(crate) async fn move_target(
    app: &AppState,
    current_scenario: i32,
    project_id: i32,
    scenario_id: Option<i32>,
) -> ApiResult<i64> {
    match scenario_id.filter(|s| *s != 0) {
        Some(s) => placement(app, "move", s, project_id).await,
        None => {
            let current = existing_scenario(app, current_scenario).await?;
            if project_id != 0 && project_id != current.project_id {
                return Err(ApiError::bad_request(
                    "scenario_id",
                    format!("is required to move into project {project_id}"),
                ));
            }
            Ok(current_scenario.into())
        }
    }
}

pub async fn move_to(app: &AppState, req: MoveScriptRequest) -> ApiResult<StdResponse> {
    let script = existing(app, req.script_id).await?;
    let target = move_target(app, script.scenario_id, req.project_id, req.scenario_id).await?;
    db::scripts::set_scenario(&app.db, script.script_id.into(), target).await?;
    Ok(StdResponse::ok(format!("The script {} was moved to scenario {target}", script.name)))
}

pub async fn copy(app: &AppState, req: CopyScriptRequest) -> ApiResult<StdResponse> {
    let script = existing(app, req.source_script_id).await?;
    let target = existing_scenario(app, req.target_scenario_id).await?;
    let conn = app.db.conn().await?;
    db::scripts::copy_into(&conn, target.scenario_id.into(), None, Some(script.script_id.into())).await?;
    Ok(StdResponse::ok(format!("The script {} was copied to scenario {}", script.name, target.scenario_id)))
}
