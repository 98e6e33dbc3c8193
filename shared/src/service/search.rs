//! SearchService: search and page-of-an-entry.

use super::valid;
use crate::db::{self, search::Scope};
use crate::http::{ApiError, ApiResult};
use crate::model::search::{self, Anchor};
use crate::state::AppState;
use crate::wire::search::*;

pub async fn search(app: &AppState, req: SearchRequest) -> ApiResult<SearchResponse> {
    let query = valid("search_query", search::query(&req.search_query))?;
    let scope = match (req.project_id.filter(|p| *p != 0), req.scenario_id.filter(|s| *s != 0)) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("id", "give project_id or scenario_id, not both")),
        (Some(p), None) => Scope::Project(p.into()),
        (None, Some(s)) => Scope::Scenario(s.into()),
        (None, None) => Scope::All,
    };
    if query.is_empty() && matches!(scope, Scope::All) {
        return Err(ApiError::bad_request("search_query", "is required unless project_id or scenario_id is given"));
    }
    let anchor = match (req.start_with, req.end_with) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("with", "give start_with or end_with, not both")),
        (Some(true), None) => Anchor::Start,
        (None, Some(true)) => Anchor::End,
        _ => Anchor::Anywhere,
    };
    let pattern = search::like_pattern(&query, anchor);
    let found = db::search::search(&app.db, &pattern, req.not_like.unwrap_or(false), scope).await?;
    Ok(SearchResponse {
        status: true,
        scripts: found.scripts,
        simple_scripts: found.simple_scripts,
        projects: found.projects,
        scenarios: found.scenarios,
        message: String::new(),
    })
}

/// The 1-based page holding the 1-based `position` with `limit` rows per page.
pub fn page_of(position: i64, limit: i64) -> i64 {
    (position - 1) / limit + 1
}

pub async fn page_num(app: &AppState, req: PageNumRequest) -> ApiResult<PageNumResponse> {
    if req.id < 1 {
        return Err(ApiError::bad_request("id", "must be a positive id"));
    }
    if req.limit < 1 {
        return Err(ApiError::bad_request("limit", "must be at least 1"));
    }
    let id = i64::from(req.id);
    let position = match req.type_entry {
        1 => db::projects::position(&app.db, id).await?.ok_or_else(|| ApiError::not_found("project", id))?,
        2 => db::scenarios::position(&app.db, id).await?.ok_or_else(|| ApiError::not_found("scenario", id))?,
        _ => return Err(ApiError::bad_request("type_entry", "must be TYPES_ENTRY_PROJECTS or TYPES_ENTRY_SCENARIOS")),
    };
    let page = page_of(position, req.limit.into());
    Ok(PageNumResponse { page_num: i32::try_from(page).unwrap_or(i32::MAX), status: true, message: String::new() })
}

#[cfg(test)]
mod tests {
    #[test]
    fn exact_multiples_stay_on_their_page() {
        assert_eq!([1, 9, 10, 11, 20, 21].map(|p| super::page_of(p, 10)), [1, 1, 1, 2, 2, 3]);
    }
}
