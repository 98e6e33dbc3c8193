//! Polling several jobs of an agent in one call (`POST /v1/poll`, #13): a real
//! agent answers it as it answers one `GET /v1/jobs/{id}?since=` per job, and
//! an agent that does not serve it (an older one, simulated) is polled one job
//! per call by the same client call.

use crate::runs::{Agent, Target};
use crate::sim::SimFleet;
use alilo_agent_api::{JobSpec, JobStatus};
use alilo_shared::agent_client::{AgentClient, AgentError, Endpoint};
use alilo_shared::config::Secret;
use serde_json::json;
use std::time::{Duration, Instant};

fn spec(target: &Target, path: &str, duration: &str) -> JobSpec {
    serde_json::from_value(json!({
        "request": {"url": format!("http://{}{path}", target.addr)},
        "profile": {"rps": 20, "duration": duration},
    }))
    .unwrap()
}

/// Without what changes from one read to the next of an ended job.
fn steady(mut s: JobStatus) -> JobStatus {
    s.elapsed_ms = 0;
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_poll_answers_what_one_poll_per_job_answers() {
    let target = Target::start().await;
    let agent = Agent::start().await;
    let at = Endpoint::from(format!("http://127.0.0.1:{}", agent.port));
    let client = AgentClient::new(Secret::new(""));
    let info = client.info(&at).await.unwrap();
    assert!(info.capabilities.iter().any(|c| c == alilo_agent_api::BATCH_POLL), "{:?}", info.capabilities);
    for (key, path) in [("a", "/a"), ("b", "/b")] {
        client.start(&at, key, &spec(&target, path, "3s")).await.unwrap();
    }
    // Until both ended: their seconds and states no longer change.
    let t0 = Instant::now();
    while !futures::future::join_all(["a", "b"].map(|k| client.poll(&at, k, 0)))
        .await
        .iter()
        .all(|s| s.as_ref().is_ok_and(|s| s.state.is_terminal()))
    {
        assert!(t0.elapsed() < Duration::from_secs(20), "the jobs did not end");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let asked = [("a", 0), ("b", 2), ("nobody", 0), ("a", 1)];
    let batch = client.poll_many(&at, &asked[..3]).await;
    assert_eq!(batch.len(), 3, "one answer per job");
    for ((key, since), got) in asked.iter().zip(batch) {
        match client.poll(&at, key, *since).await {
            Ok(one) => {
                let got = got.unwrap();
                assert!(!one.buckets.is_empty() || *since > 0, "{key} has seconds");
                assert_eq!(steady(got), steady(one), "{key} since {since}");
            }
            Err(e) => {
                assert_eq!(e, AgentError::NotFound, "{key}");
                assert_eq!(got.unwrap_err(), AgentError::NotFound, "an unknown job in a batch is not found");
            }
        }
    }
    // Each job asked with its own cursor.
    let twice = client.poll_many(&at, &[asked[0], asked[3]]).await;
    let (from0, from1) = (twice[0].as_ref().unwrap(), twice[1].as_ref().unwrap());
    assert_eq!(from0.buckets[1..], from1.buckets[..], "since 1 leaves out second 0 only");
    assert!(target.count("/a") > 0 && target.count("/b") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_without_batch_polls_is_polled_one_job_per_call() {
    let target = Target::start().await;
    let client = AgentClient::new(Secret::new(""));
    for batch in [false, true] {
        let sim = SimFleet::start_with(1, batch).await;
        let at = Endpoint::from(format!("http://127.0.0.1:{}", sim.ports()[0]));
        for key in ["a", "b"] {
            client.start(&at, key, &spec(&target, "/x", "1h")).await.unwrap();
        }
        let before = sim.calls();
        let asked = [("a", 0), ("b", 0), ("c", 0)];
        let got = client.poll_many(&at, &asked).await;
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].as_ref().unwrap().id, "a");
        assert_eq!(got[1].as_ref().unwrap().id, "b");
        assert_eq!(got[2].as_ref().unwrap_err(), &AgentError::NotFound, "batch {batch}");
        // An older agent: its 404 is remembered, so later polls go per job at once.
        let again = client.poll_many(&at, &asked[..2]).await;
        assert!(again.iter().all(Result::is_ok), "batch {batch}: {again:?}");
        let calls = sim.calls() - before;
        if batch {
            assert_eq!(calls, 2, "one call per poll of the agent");
        } else {
            assert_eq!(calls, 3 + 2, "one call per job (the refused batch is not counted by the agent)");
        }
    }
}
