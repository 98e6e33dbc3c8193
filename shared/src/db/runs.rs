//! Run queries the resource API needs (the run service extends this).

use super::{Db, id32};
use crate::http::ApiResult;

/// Status name and id of the scenario's latest run, if any.
pub async fn last_of_scenario(db: &Db, scenario_id: i64) -> ApiResult<Option<(String, i32)>> {
    let conn = db.conn().await?;
    let row = conn
        .query_opt("SELECT status, id FROM runs WHERE scenario_id = $1 ORDER BY id DESC LIMIT 1", &[&scenario_id])
        .await?;
    Ok(row.map(|r| (r.get(0), id32(r.get(1)))))
}
