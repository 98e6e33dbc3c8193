//! ProjectService.

use super::{required, valid};
use crate::db::{self, known_id};
use crate::http::{ApiError, ApiResult};
use crate::model::page::{Page, WhenUnlimited};
use crate::model::text;
use crate::state::AppState;
use crate::wire::projects::*;
use crate::wire::{PageRequest, StdResponse};

pub async fn list(app: &AppState, req: PageRequest) -> ApiResult<GetAllProjectsResponse> {
    let page = Page::new(req.limit, req.page_number, WhenUnlimited::All);
    let (projects, total) = db::projects::list(&app.db, page).await?;
    Ok(GetAllProjectsResponse {
        status: true,
        projects,
        message: String::new(),
        total_pages: page.total_pages(total).to_string(),
    })
}

pub async fn get(app: &AppState, req: IdRequest) -> ApiResult<GetProjectResponse> {
    let id = known_id("project", req.id.into())?;
    let project = db::projects::get(&app.db, id).await?.ok_or_else(|| ApiError::not_found("project", id))?;
    Ok(GetProjectResponse { status: true, project: Some(project), message: String::new() })
}

fn fields(p: &Project) -> ApiResult<(String, String)> {
    let title = valid("project.title", text::title(&p.title))?;
    let descrip = valid("project.descrip", text::description(&p.descrip))?;
    Ok((title, descrip))
}

pub async fn create(app: &AppState, req: ProjectRequest) -> ApiResult<CreateProjectResponse> {
    let (title, descrip) = fields(required("project", &req.project)?)?;
    let id = db::projects::create(&app.db, &title, &descrip).await?;
    Ok(CreateProjectResponse { status: true, id: db::id32(id), message: String::new() })
}

pub async fn update(app: &AppState, req: ProjectRequest) -> ApiResult<StdResponse> {
    let project = required("project", &req.project)?;
    let id = known_id("project", project.id.into())?;
    let (title, descrip) = fields(project)?;
    if !db::projects::update(&app.db, id, &title, &descrip).await? {
        return Err(ApiError::not_found("project", id));
    }
    Ok(StdResponse::ok(format!("Project {title} updated")))
}

pub async fn delete(app: &AppState, req: IdRequest) -> ApiResult<StdResponse> {
    let id = known_id("project", req.id.into())?;
    if !db::projects::delete(&app.db, id).await? {
        return Err(ApiError::not_found("project", id));
    }
    Ok(StdResponse::ok("Project deleted with its scenarios and scripts"))
}
