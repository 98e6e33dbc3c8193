//! Planning: which agents get which share of each script's rate.
//!
//! A script runs on enabled, healthy agents whose tags include its tag (an empty
//! tag accepts any agent). Each agent offers its own capacity: the rate it
//! announced when it registered (#13), else `AGENT_CAPACITY_RPS` ([`capacity`]).
//! Agents are taken least-utilised first (load over capacity), ties broken by
//! agent id, so the same input always gives the same plan, until their
//! capacities together cover the script's rate (at least one agent, at most
//! every eligible one). Each chosen agent gets a share in proportion to its
//! capacity: equal shares when the capacities are equal.

use std::collections::BTreeMap;

/// An agent that may receive work, with the rate it already carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub agent_id: i64,
    pub tags: Vec<String>,
    pub load_rps: f64,
    /// The rate it offers ([`capacity`]).
    pub capacity_rps: f64,
}

impl Candidate {
    /// Load over capacity: 1 is full.
    fn utilisation(&self, load_rps: f64) -> f64 {
        load_rps / self.capacity_rps.max(1.0)
    }
}

/// The rate an agent offers: what it announced (a self-registered agent), else
/// the global `AGENT_CAPACITY_RPS` (a manual agent, or one that announced
/// nothing usable).
pub fn capacity(announced: Option<f64>, default_rps: f64) -> f64 {
    announced.filter(|c| c.is_finite() && *c >= 1.0).unwrap_or(default_rps).max(1.0)
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
pub fn plan(demands: &[Demand], candidates: &[Candidate]) -> Result<Vec<Assignment>, Vec<String>> {
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
        eligible.sort_by(|a, b| {
            a.utilisation(load[&a.agent_id])
                .total_cmp(&b.utilisation(load[&b.agent_id]))
                .then(a.agent_id.cmp(&b.agent_id))
        });
        let mut offered = 0.0;
        let n = eligible
            .iter()
            .position(|c| {
                offered += c.capacity_rps;
                offered >= demand.rps
            })
            .map_or(eligible.len(), |i| i + 1);
        let chosen = &eligible[..n];
        let total: f64 = chosen.iter().map(|c| c.capacity_rps).sum();
        for c in chosen {
            let share = c.capacity_rps / total;
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

/// The agent a lost share moves to: the least-utilised eligible candidate, ties by id.
pub fn least_loaded<'a>(candidates: &'a [Candidate], tag: &str) -> Option<&'a Candidate> {
    candidates.iter().filter(|c| carries(&c.tags, tag)).min_by(|a, b| {
        a.utilisation(a.load_rps).total_cmp(&b.utilisation(b.load_rps)).then(a.agent_id.cmp(&b.agent_id))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: i64, tags: &[&str], load: f64) -> Candidate {
        sized(id, tags, load, 5000.0)
    }

    fn sized(id: i64, tags: &[&str], load: f64, capacity_rps: f64) -> Candidate {
        Candidate { agent_id: id, tags: tags.iter().map(|t| (*t).to_string()).collect(), load_rps: load, capacity_rps }
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
        let got = plan(&[demand("a", 50.0)], &agents).unwrap();
        assert_eq!(table(&got), vec![(0, 2, 1.0)]);
    }

    #[test]
    fn scripts_spread_over_agents_as_load_accumulates() {
        let agents = [agent(1, &["a"], 0.0), agent(2, &["a"], 0.0)];
        let got = plan(&[demand("a", 100.0), demand("a", 40.0), demand("a", 70.0)], &agents).unwrap();
        // 100 → agent 1; 40 → agent 2 (0 < 100); 70 → agent 2 (40 < 100).
        assert_eq!(table(&got), vec![(0, 1, 1.0), (1, 2, 1.0), (2, 2, 1.0)]);
    }

    #[test]
    fn a_rate_above_capacity_is_split_equally() {
        let agents = [agent(1, &["a"], 0.0), agent(2, &["a"], 0.0), agent(3, &["a"], 0.0)];
        let got = plan(&[demand("a", 9000.0)], &agents).unwrap();
        assert_eq!(table(&got), vec![(0, 1, 0.5), (0, 2, 0.5)]);
        let got = plan(&[demand("a", 100_000.0)], &agents).unwrap();
        let third = 1.0 / 3.0;
        assert_eq!(table(&got), vec![(0, 1, third), (0, 2, third), (0, 3, third)]);
    }

    #[test]
    fn tags_select_agents_and_an_empty_tag_takes_any() {
        let agents = [agent(1, &["eu"], 0.0), agent(2, &["us"], 0.0)];
        let got = plan(&[demand("us", 10.0), demand("", 10.0), demand("eu", 10.0)], &agents).unwrap();
        assert_eq!(table(&got), vec![(0, 2, 1.0), (1, 1, 1.0), (2, 1, 1.0)]);
    }

    #[test]
    fn missing_tags_are_all_named_once() {
        let agents = [agent(1, &["eu"], 0.0)];
        let err = plan(&[demand("x", 1.0), demand("eu", 1.0), demand("b", 1.0), demand("x", 1.0)], &agents);
        assert_eq!(err.unwrap_err(), vec!["b".to_string(), "x".to_string()]);
        assert_eq!(plan(&[demand("", 1.0)], &[]).unwrap_err(), vec![String::new()]);
    }

    #[test]
    fn the_plan_is_deterministic_whatever_the_candidate_order() {
        let a = [agent(3, &["a"], 0.0), agent(1, &["a"], 0.0), agent(2, &["a"], 0.0)];
        let b = [agent(1, &["a"], 0.0), agent(2, &["a"], 0.0), agent(3, &["a"], 0.0)];
        let demands: Vec<Demand> = (0..7).map(|i| demand("a", f64::from(i * 10 + 5))).collect();
        assert_eq!(plan(&demands, &a), plan(&demands, &b));
    }

    #[test]
    fn an_agent_offers_what_it_announced_else_the_global_capacity() {
        for (announced, want) in [
            (Some(800.0), 800.0),
            (Some(20_000.0), 20_000.0),
            (None, 5000.0),
            (Some(0.0), 5000.0),
            (Some(f64::NAN), 5000.0),
        ] {
            assert_eq!(capacity(announced, 5000.0), want, "{announced:?}");
        }
    }

    #[test]
    fn each_agent_s_own_capacity_decides_how_many_agents_and_what_shares() {
        // (rate, capacities) → (agent, share) in plan order.
        type Row<'a> = (f64, &'a [f64], &'a [(i64, f64)]);
        let table: [Row; 5] = [
            // A big agent alone covers 9,000 rps: no split.
            (9000.0, &[10_000.0, 1000.0, 1000.0], &[(1, 1.0)]),
            // 2,500 rps on agents of 1,000: three of them, equal shares.
            (2500.0, &[1000.0, 1000.0, 1000.0, 1000.0], &[(1, 1.0 / 3.0), (2, 1.0 / 3.0), (3, 1.0 / 3.0)]),
            // Shares in proportion to capacity: 3,000 + 1,000 cover 4,000.
            (4000.0, &[3000.0, 1000.0, 1000.0], &[(1, 0.75), (2, 0.25)]),
            // More than every agent offers: all of them, still in proportion.
            (100_000.0, &[3000.0, 1000.0], &[(1, 0.75), (2, 0.25)]),
            // A small rate: one agent.
            (10.0, &[500.0, 500.0], &[(1, 1.0)]),
        ];
        for (rps, capacities, want) in table {
            let agents: Vec<Candidate> = capacities.iter().zip(1..).map(|(c, id)| sized(id, &["a"], 0.0, *c)).collect();
            let got: Vec<(i64, f64)> =
                plan(&[demand("a", rps)], &agents).unwrap().iter().map(|a| (a.agent_id, a.share)).collect();
            assert_eq!(got, want, "{rps} rps over {capacities:?}");
        }
    }

    #[test]
    fn the_least_utilised_agent_comes_first_not_the_least_loaded() {
        // Agent 1 carries 900 of 1,000 (90 %), agent 2 carries 2,000 of 10,000 (20 %).
        let agents = [sized(1, &["a"], 900.0, 1000.0), sized(2, &["a"], 2000.0, 10_000.0)];
        assert_eq!(table(&plan(&[demand("a", 100.0)], &agents).unwrap()), vec![(0, 2, 1.0)]);
        assert_eq!(least_loaded(&agents, "a").map(|c| c.agent_id), Some(2));
    }

    #[test]
    fn a_lost_share_moves_to_the_least_loaded_carrier() {
        let agents = [agent(1, &["a"], 50.0), agent(2, &["b"], 0.0), agent(3, &["a"], 50.0)];
        assert_eq!(least_loaded(&agents, "a").map(|c| c.agent_id), Some(1));
        assert_eq!(least_loaded(&agents, "c").map(|c| c.agent_id), None);
    }
}
