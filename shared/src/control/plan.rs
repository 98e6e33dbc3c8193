//! Planning: which agents get which share of each script's rate.
//!
//! A script runs on enabled, healthy agents whose tags include its tag (an empty
//! tag accepts any agent). Its rate is split over as many agents as the rate
//! needs (`ceil(rps / capacity)`, at least one, at most every eligible agent),
//! least-loaded first, ties broken by agent id, so the same input always gives
//! the same plan. Each chosen agent gets an equal share.

use std::collections::BTreeMap;

/// An agent that may receive work, with the rate it already carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub agent_id: i64,
    pub tags: Vec<String>,
    pub load_rps: f64,
}

/// What one script needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub tag: String,
    pub rps: f64,
}

/// One script's share on one agent: `share` of the script's rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    /// Index of the script in the demands.
    pub script: usize,
    pub agent_id: i64,
    pub share: f64,
}

/// Whether an agent with `tags` may run a script tagged `tag`.
pub fn carries(tags: &[String], tag: &str) -> bool {
    tag.is_empty() || tags.iter().any(|t| t == tag)
}

/// The plan, or the tags no candidate carries (sorted, each once).
pub fn plan(demands: &[Demand], candidates: &[Candidate], capacity_rps: f64) -> Result<Vec<Assignment>, Vec<String>> {
    let mut load: BTreeMap<i64, f64> = candidates.iter().map(|c| (c.agent_id, c.load_rps)).collect();
    let mut missing: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for (index, demand) in demands.iter().enumerate() {
        let mut eligible: Vec<&Candidate> = candidates.iter().filter(|c| carries(&c.tags, &demand.tag)).collect();
        if eligible.is_empty() {
            if !missing.contains(&demand.tag) {
                missing.push(demand.tag.clone());
            }
            continue;
        }
        eligible.sort_by(|a, b| load[&a.agent_id].total_cmp(&load[&b.agent_id]).then(a.agent_id.cmp(&b.agent_id)));
        let needed = (demand.rps / capacity_rps.max(1.0)).ceil().max(1.0);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let n = (needed as usize).min(eligible.len());
        #[allow(clippy::cast_precision_loss)]
        let share = 1.0 / n as f64;
        for c in eligible.into_iter().take(n) {
            *load.get_mut(&c.agent_id).expect("every candidate has a load") += demand.rps * share;
            out.push(Assignment { script: index, agent_id: c.agent_id, share });
        }
    }
    if missing.is_empty() {
        Ok(out)
    } else {
        missing.sort();
        Err(missing)
    }
}

/// The agent a lost share moves to: the least-loaded eligible candidate, ties by id.
pub fn least_loaded<'a>(candidates: &'a [Candidate], tag: &str) -> Option<&'a Candidate> {
    candidates
        .iter()
        .filter(|c| carries(&c.tags, tag))
        .min_by(|a, b| a.load_rps.total_cmp(&b.load_rps).then(a.agent_id.cmp(&b.agent_id)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: i64, tags: &[&str], load: f64) -> Candidate {
        Candidate { agent_id: id, tags: tags.iter().map(|t| (*t).to_string()).collect(), load_rps: load }
    }

    fn demand(tag: &str, rps: f64) -> Demand {
        Demand { tag: tag.into(), rps }
    }

    fn table(plan: &[Assignment]) -> Vec<(usize, i64, f64)> {
        plan.iter().map(|a| (a.script, a.agent_id, a.share)).collect()
    }

    #[test]
    fn a_script_under_capacity_goes_to_the_least_loaded_agent() {
        let agents = [agent(1, &["a"], 300.0), agent(2, &["a"], 100.0), agent(3, &["a"], 100.0)];
        let got = plan(&[demand("a", 50.0)], &agents, 5000.0).unwrap();
        assert_eq!(table(&got), vec![(0, 2, 1.0)]);
    }

    #[test]
    fn scripts_spread_over_agents_as_load_accumulates() {
        let agents = [agent(1, &["a"], 0.0), agent(2, &["a"], 0.0)];
        let got = plan(&[demand("a", 100.0), demand("a", 40.0), demand("a", 70.0)], &agents, 5000.0).unwrap();
        // 100 → agent 1; 40 → agent 2 (0 < 100); 70 → agent 2 (40 < 100).
        assert_eq!(table(&got), vec![(0, 1, 1.0), (1, 2, 1.0), (2, 2, 1.0)]);
    }

    #[test]
    fn a_rate_above_capacity_is_split_equally() {
        let agents = [agent(1, &["a"], 0.0), agent(2, &["a"], 0.0), agent(3, &["a"], 0.0)];
        let got = plan(&[demand("a", 9000.0)], &agents, 5000.0).unwrap();
        assert_eq!(table(&got), vec![(0, 1, 0.5), (0, 2, 0.5)]);
        let got = plan(&[demand("a", 100_000.0)], &agents, 5000.0).unwrap();
        let third = 1.0 / 3.0;
        assert_eq!(table(&got), vec![(0, 1, third), (0, 2, third), (0, 3, third)]);
    }

    #[test]
    fn tags_select_agents_and_an_empty_tag_takes_any() {
        let agents = [agent(1, &["eu"], 0.0), agent(2, &["us"], 0.0)];
        let got = plan(&[demand("us", 10.0), demand("", 10.0), demand("eu", 10.0)], &agents, 5000.0).unwrap();
        assert_eq!(table(&got), vec![(0, 2, 1.0), (1, 1, 1.0), (2, 1, 1.0)]);
    }

    #[test]
    fn missing_tags_are_all_named_once() {
        let agents = [agent(1, &["eu"], 0.0)];
        let err = plan(&[demand("x", 1.0), demand("eu", 1.0), demand("b", 1.0), demand("x", 1.0)], &agents, 10.0);
        assert_eq!(err.unwrap_err(), vec!["b".to_string(), "x".to_string()]);
        assert_eq!(plan(&[demand("", 1.0)], &[], 10.0).unwrap_err(), vec![String::new()]);
    }

    #[test]
    fn the_plan_is_deterministic_whatever_the_candidate_order() {
        let a = [agent(3, &["a"], 0.0), agent(1, &["a"], 0.0), agent(2, &["a"], 0.0)];
        let b = [agent(1, &["a"], 0.0), agent(2, &["a"], 0.0), agent(3, &["a"], 0.0)];
        let demands: Vec<Demand> = (0..7).map(|i| demand("a", f64::from(i * 10 + 5))).collect();
        assert_eq!(plan(&demands, &a, 5000.0), plan(&demands, &b, 5000.0));
    }

    #[test]
    fn a_lost_share_moves_to_the_least_loaded_carrier() {
        let agents = [agent(1, &["a"], 50.0), agent(2, &["b"], 0.0), agent(3, &["a"], 50.0)];
        assert_eq!(least_loaded(&agents, "a").map(|c| c.agent_id), Some(1));
        assert_eq!(least_loaded(&agents, "c").map(|c| c.agent_id), None);
    }
}
