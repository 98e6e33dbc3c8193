//! The one list of agents that may carry load: enabled in the database, each with
//! the load it carries (the rate of its jobs not ended in active runs, by the one
//! [`crate::model::run::desired_rps`]). A new run is planned on it as the
//! database has it ([`enabled`]: no agent is called inside a user's request); the
//! run-controller moves a lost share, or the share of a job its agent never
//! accepted, to those of them that answer `GET /v1/agent` now ([`healthy`]).

use super::plan::Candidate;
use crate::http::ApiResult;
use crate::state::AppState;
use futures::future::join_all;
use std::collections::{BTreeMap, BTreeSet};

/// An agent that may carry load: where to call it and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Healthy {
    pub candidate: Candidate,
    pub base_url: String,
}

/// Each agent's load from `(agent, share, script run's desired rps)` rows. Pure.
pub fn loads(work: &[(i64, f64, f64)]) -> BTreeMap<i64, f64> {
    let mut out = BTreeMap::new();
    for (agent, share, rps) in work {
        *out.entry(*agent).or_insert(0.0) += share * rps;
    }
    out
}

/// Enabled agents, except `skip`, with their loads: the database only.
pub async fn enabled(app: &AppState, skip: &BTreeSet<i64>) -> ApiResult<Vec<Healthy>> {
    let (agents, work) = {
        let conn = app.db.conn().await?;
        crate::db::control::enabled_agents(&conn).await?
    };
    let loads = loads(&work);
    Ok(agents
        .into_iter()
        .filter(|a| !skip.contains(&a.id))
        .map(|a| Healthy {
            candidate: Candidate { agent_id: a.id, tags: a.tags, load_rps: loads.get(&a.id).copied().unwrap_or(0.0) },
            base_url: a.base_url,
        })
        .collect())
}

/// Enabled agents that answer now, except `skip` (known unreachable), probed in
/// parallel with the client's short timeouts. The database is read before any
/// agent is called, with no transaction open.
pub async fn healthy(app: &AppState, skip: &BTreeSet<i64>) -> ApiResult<Vec<Healthy>> {
    let agents = enabled(app, skip).await?;
    let alive = join_all(agents.iter().map(|a| app.agents.info(&a.base_url))).await;
    Ok(agents.into_iter().zip(alive).filter(|(_, ok)| ok.is_ok()).map(|(a, _)| a).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_agent_s_load_is_the_sum_of_its_shares_of_desired_rates() {
        let got = super::loads(&[(1, 0.5, 100.0), (2, 1.0, 30.0), (1, 1.0, 10.0)]);
        assert_eq!(got.into_iter().collect::<Vec<_>>(), vec![(1, 60.0), (2, 30.0)]);
    }
}
