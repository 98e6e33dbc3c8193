//! ScenarioService.

use super::{required, valid};
use crate::db::{self, known_id};
use crate::http::{ApiError, ApiResult, quote};
use crate::model::load::{LoadDuration, Steps};
use crate::model::page::{Page, WhenUnlimited};
use crate::model::text;
use crate::state::AppState;
use crate::wire::StdResponse;
use crate::wire::scenarios::*;

pub async fn list(app: &AppState, req: GetAllScenariosRequest) -> ApiResult<GetAllScenariosResponse> {
    let project_id = known_id("project", req.project_id.into())?;
    let page = Page::new(req.limit, req.page_number, WhenUnlimited::All);
    let (scenarios, total) = db::scenarios::list(&app.db, project_id, page).await?;
    if total == 0 && db::projects::get(&app.db, project_id).await?.is_none() {
        return Err(ApiError::not_found("project", project_id));
    }
    Ok(GetAllScenariosResponse {
        status: true,
        scenarios,
        message: String::new(),
        total_pages: page.total_pages(total).to_string(),
    })
}

/// The scenario or a 404.
pub async fn existing(app: &AppState, id: i32) -> ApiResult<Scenario> {
    let id = known_id("scenario", id.into())?;
    db::scenarios::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("scenario", id))
}

pub async fn get(app: &AppState, req: ScenarioIdRequest) -> ApiResult<GetScenarioResponse> {
    let scenario = existing(app, req.scenario_id).await?;
    Ok(GetScenarioResponse { status: true, scenario: Some(scenario), message: String::new() })
}

/// Title, description and selectors of a scenario, validated.
struct ScenarioFields {
    title: String,
    descrip: String,
    selectors: Vec<ScenarioSelector>,
}

fn fields(s: &Scenario) -> ApiResult<ScenarioFields> {
    let title = valid("scenario.title", text::title(&s.title))?;
    let descrip = valid("scenario.descrip", text::description(&s.descrip))?;
    for (i, sel) in s.selectors.iter().enumerate() {
        valid(&format!("scenario.selectors[{i}].name"), text::line(&sel.name, 200))?;
        valid(&format!("scenario.selectors[{i}].source"), text::line(&sel.source, 200))?;
    }
    Ok(ScenarioFields { title, descrip, selectors: s.selectors.clone() })
}

async fn existing_project(app: &AppState, field: &str, id: i32) -> ApiResult<i64> {
    if id <= 0 {
        return Err(ApiError::bad_request(field, "is required"));
    }
    let id = i64::from(id);
    db::projects::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("project", id))?;
    Ok(id)
}

pub async fn create(app: &AppState, req: ScenarioRequest) -> ApiResult<CreateScenarioResponse> {
    let scenario = required("scenario", &req.scenario)?;
    let f = fields(scenario)?;
    let project_id = existing_project(app, "scenario.project_id", scenario.project_id).await?;
    let id = db::scenarios::create(&app.db, project_id, &f.title, &f.descrip, &f.selectors).await?;
    Ok(CreateScenarioResponse { status: true, scenario_id: db::id32(id), message: String::new() })
}

pub async fn update(app: &AppState, req: ScenarioRequest) -> ApiResult<StdResponse> {
    let scenario = required("scenario", &req.scenario)?;
    let current = existing(app, scenario.scenario_id).await?;
    let f = fields(scenario)?;
    // The v1 update changes title and description; selectors are kept.
    db::scenarios::update(&app.db, current.scenario_id.into(), &f.title, &f.descrip, &current.selectors).await?;
    Ok(StdResponse::ok(format!("Scenario {} successfully updated", f.title)))
}

pub async fn delete(app: &AppState, req: ScenarioIdRequest) -> ApiResult<StdResponse> {
    let id = known_id("scenario", req.scenario_id.into())?;
    if !db::scenarios::delete(&app.db, id).await? {
        return Err(ApiError::not_found("scenario", id));
    }
    Ok(StdResponse::ok("Scenario deleted with its scripts"))
}

/// The scenarios a bulk change applies to: a whole project (non-zero `project_id`
/// wins, as in the contract) or one scenario.
async fn targets(app: &AppState, project_id: Option<i32>, scenario_id: Option<i32>) -> ApiResult<Vec<i64>> {
    match (project_id.filter(|p| *p != 0), scenario_id.filter(|s| *s != 0)) {
        (Some(p), _) => {
            let p = existing_project(app, "project_id", p).await?;
            let conn = app.db.conn().await?;
            db::scenarios::ids_of_project(&conn, p).await
        }
        (None, Some(s)) => Ok(vec![existing(app, s).await?.scenario_id.into()]),
        (None, None) => Err(ApiError::bad_request("scenario_id", "scenario_id or project_id is required")),
    }
}

pub async fn set_duration(app: &AppState, req: SetDurationRequest) -> ApiResult<StdResponse> {
    let duration = valid("duration", LoadDuration::parse(&req.duration))?;
    let ids = targets(app, req.project_id, req.scenario_id).await?;
    let text = req.duration.trim();
    #[allow(clippy::cast_possible_wrap)]
    let n = db::scenarios::set_duration(&app.db, &ids, text, duration.secs() as i64).await?;
    Ok(StdResponse::ok(format!("Duration set to {text} on {n} scripts")))
}

pub async fn set_steps(app: &AppState, req: SetStepsRequest) -> ApiResult<StdResponse> {
    let steps = valid("steps", Steps::parse(&req.steps))?;
    let ids = targets(app, req.project_id, req.scenario_id).await?;
    #[allow(clippy::cast_possible_wrap)]
    let n = db::scenarios::set_steps(&app.db, &ids, steps.get() as i32).await?;
    Ok(StdResponse::ok(format!("Steps set to {} on {n} scripts", steps.get())))
}

pub async fn last_run_status(app: &AppState, req: ScenarioIdRequest) -> ApiResult<LastRunStatusResponse> {
    let scenario = existing(app, req.scenario_id).await?;
    let (status, id) = db::runs::last_of_scenario(&app.db, scenario.scenario_id.into())
        .await?
        .map(|(status, id)| (status.as_str().to_string(), id))
        .unwrap_or_default();
    Ok(LastRunStatusResponse { status: true, message: String::new(), last_run_status: status, last_run_id: id })
}

pub async fn copy(app: &AppState, req: CopyScenarioRequest) -> ApiResult<CopyScenarioResponse> {
    let source = existing(app, req.source_scenario_id).await?;
    // Everything is checked before the transaction opens: a request holding a
    // connection must never wait for a second one from the same pool.
    let target = match (req.target_scenario_id.filter(|t| *t != 0), &req.target_scenario_data) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request("target", "give target_scenario_id or target_scenario_data, not both"));
        }
        (None, None) => {
            return Err(ApiError::bad_request("target", "target_scenario_id or target_scenario_data is required"));
        }
        (Some(id), None) => CopyTarget::Existing(existing(app, id).await?.scenario_id.into()),
        (None, Some(data)) => {
            let f = fields(data)
                .map_err(|e| ApiError::new(e.status, e.message.replace("scenario.", "target_scenario_data.")))?;
            let project = existing_project(app, "target_scenario_data.project_id", data.project_id).await?;
            CopyTarget::New(project, f)
        }
    };
    let lists = match &target {
        CopyTarget::Existing(id) => super::targets::of_scenario(app, *id).await?,
        CopyTarget::New(project, _) => super::targets::of_project(app, *project).await?,
    };
    super::targets::check_scenario(app, &lists, source.scenario_id.into()).await?;
    let mut conn = app.db.conn().await?;
    let tx = conn.transaction().await?;
    let target = match target {
        CopyTarget::Existing(id) => id,
        CopyTarget::New(project, f) => {
            db::scenarios::create_with(&tx, project, &f.title, &f.descrip, &source.selectors).await?
        }
    };
    let source_id = i64::from(source.scenario_id);
    let scripts = db::scripts::copy_into(&tx, target, Some(source_id), None).await?;
    let simple = db::simple_scripts::copy_into(&tx, target, Some(source_id), None).await?.len();
    tx.commit().await?;
    Ok(CopyScenarioResponse {
        status: true,
        message: format!("Copied {scripts} scripts and {simple} simple scripts"),
        scenario_id: db::id32(target),
    })
}

/// Where a copy goes.
enum CopyTarget {
    Existing(i64),
    New(i64, ScenarioFields),
}

pub async fn rps(app: &AppState, req: ScenarioIdRequest) -> ApiResult<AmountRpsResponse> {
    let scenario = existing(app, req.scenario_id).await?;
    let sum = db::scenarios::rps_sum(&app.db, scenario.scenario_id.into()).await?;
    Ok(AmountRpsResponse { status: true, rps: sum.to_string() })
}

pub async fn set_tag(app: &AppState, req: SetTagRequest) -> ApiResult<SetTagResponse> {
    let scenario = existing(app, req.scenario_id).await?;
    let tag = valid("tag", text::line(&req.tag, 100))?;
    if !tag.is_empty() && !db::agents::enabled_with_tag(&app.db, &tag).await? {
        return Err(ApiError::unprocessable("tag", format!("no enabled agent carries the tag {}", quote(&tag))));
    }
    db::scenarios::set_tag(&app.db, scenario.scenario_id.into(), &tag).await?;
    Ok(SetTagResponse { status: true })
}
