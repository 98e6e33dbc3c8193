//! ScriptService: simple scripts (one HTTP request template each).

use super::required;
use super::scenarios::existing as existing_scenario;
use super::scripts::{move_target, placement};
use crate::db::{self, known_id};
use crate::http::{ApiError, ApiResult};
use crate::model::scripts::SimpleScriptInput;
use crate::state::AppState;
use crate::wire::StdResponse;
use crate::wire::scripts::*;

async fn existing(app: &AppState, id: i32) -> ApiResult<SimpleScript> {
    let id = known_id("simple script", id.into())?;
    db::simple_scripts::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("simple script", id))
}

pub async fn get(app: &AppState, req: SimpleScriptIdRequest) -> ApiResult<GetSimpleScriptResponse> {
    let script = existing(app, req.simple_script_id).await?;
    Ok(GetSimpleScriptResponse { status: true, message: String::new(), simple_script: Some(script) })
}

/// The simple script as an equivalent extended (k6-style) script: what its
/// `script_file_url` answers to a GET. `raw_id` is the query's `simple_script_id`.
pub async fn eject(app: &AppState, raw_id: Option<&str>) -> ApiResult<String> {
    let raw = raw_id.unwrap_or("").trim();
    if raw.is_empty() {
        return Err(ApiError::bad_request("simple_script_id", "is required: ?simple_script_id=N"));
    }
    let id: i32 =
        raw.parse().map_err(|_| ApiError::bad_request("simple_script_id", format!("{raw:?} is not a number")))?;
    let script = existing(app, id).await?;
    let secs = crate::model::load::LoadDuration::parse(&script.duration).map_or(60, |d| d.secs());
    Ok(crate::eject::k6_script(&script, secs))
}

/// The target allow-lists of the scenario's project (and the global one).
async fn check_targets(app: &AppState, scenario_id: i64, input: &SimpleScriptInput) -> ApiResult<()> {
    let lists = super::targets::of_scenario(app, scenario_id).await?;
    super::targets::check_simple(app, &lists, "simple_script", &input.path, &input.ammo_url)
}

pub async fn create(app: &AppState, req: SimpleScriptRequest) -> ApiResult<CreateSimpleScriptResponse> {
    let wire = required("simple_script", &req.simple_script)?;
    let input = SimpleScriptInput::parse(wire, app.limits.max_static_ammo)?;
    let scenario = placement(app, "simple_script", wire.scenario_id, wire.project_id).await?;
    check_targets(app, scenario, &input).await?;
    let conn = app.db.conn().await?;
    let id = db::simple_scripts::create(&conn, scenario, &input, false, None).await?;
    Ok(CreateSimpleScriptResponse { status: true, simple_script_id: db::id32(id), message: String::new() })
}

pub async fn update(app: &AppState, req: SimpleScriptRequest) -> ApiResult<StdResponse> {
    let wire = required("simple_script", &req.simple_script)?;
    let current = existing(app, wire.script_id).await?;
    let input = SimpleScriptInput::parse(wire, app.limits.max_static_ammo)?;
    let scenario_id = if wire.scenario_id == 0 { current.scenario_id } else { wire.scenario_id };
    let scenario = placement(app, "simple_script", scenario_id, wire.project_id).await?;
    check_targets(app, scenario, &input).await?;
    db::simple_scripts::update(&app.db, current.script_id.into(), scenario, &input).await?;
    Ok(StdResponse::ok(format!("The script {} was updated!", input.name)))
}

pub async fn delete(app: &AppState, req: SimpleScriptIdRequest) -> ApiResult<StdResponse> {
    let id = known_id("simple script", req.simple_script_id.into())?;
    if !db::simple_scripts::delete(&app.db, id).await? {
        return Err(ApiError::not_found("simple script", id));
    }
    Ok(StdResponse::ok("Script was deleted!"))
}

pub async fn move_to(app: &AppState, req: MoveSimpleScriptRequest) -> ApiResult<StdResponse> {
    if req.target_scenario_id == 0 {
        return Err(ApiError::bad_request("target_scenario_id", "is required"));
    }
    let script = existing(app, req.simple_script_id).await?;
    let target = move_target(app, script.scenario_id, 0, Some(req.target_scenario_id)).await?;
    db::simple_scripts::set_scenario(&app.db, script.script_id.into(), target).await?;
    Ok(StdResponse::ok(format!("The script {} was moved to scenario {target}", script.name)))
}

pub async fn copy(app: &AppState, req: CopySimpleScriptRequest) -> ApiResult<CreateSimpleScriptResponse> {
    let script = existing(app, req.source_simple_script_id).await?;
    let target = existing_scenario(app, req.target_scenario_id).await?;
    let conn = app.db.conn().await?;
    let ids =
        db::simple_scripts::copy_into(&conn, target.scenario_id.into(), None, Some(script.script_id.into())).await?;
    let id = ids.first().copied().ok_or_else(|| ApiError::not_found("simple script", script.script_id))?;
    Ok(CreateSimpleScriptResponse { status: true, simple_script_id: db::id32(id), message: String::new() })
}
