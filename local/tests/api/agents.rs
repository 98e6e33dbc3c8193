use crate::helpers::spawn_app;
use serde_json::json;

fn agent(host: &str, enabled: bool, tags: &[&str]) -> serde_json::Value {
    json!({"agent": {"agent_id": 0, "host_name": host, "port": "8888", "enabled": enabled, "tags": tags, "cpu_used": 0, "mem_used": 0, "ports_used": 0}})
}

#[tokio::test]
async fn agents_are_registered_tagged_and_found_by_tag() {
    let app = spawn_app().await;
    let a = app.ok("/v1/agent/set", agent("b-host", true, &["eu", " gpu ", ""])).await["agent_id"].as_i64().unwrap();
    app.ok("/v1/agent/set", agent("a-host", false, &["us"])).await;
    app.ok("/v1/agent/set", agent("c-host", true, &["eu"])).await;
    let tags = app.ok("/v1/agent/tags", json!({})).await;
    assert_eq!(tags["tags"], json!(["eu", "gpu"]), "only enabled agents' tags");
    let eu = app.ok("/v1/agents/by-tag", json!({"tag": "eu"})).await;
    let hosts: Vec<&str> = eu["agents"].as_array().unwrap().iter().map(|a| a["host_name"].as_str().unwrap()).collect();
    assert_eq!(hosts, ["b-host", "c-host"]);
    let us = app.ok("/v1/agents/by-tag", json!({"tag": "us"})).await;
    assert_eq!(us["agents"][0]["enabled"], false, "disabled agents are listed by tag too");
    let all = app.ok("/v1/agents", json!({})).await;
    assert_eq!(all["agents"].as_array().unwrap().len(), 3);

    let got = app.ok("/v1/agent", json!({"agent_id": a})).await;
    assert_eq!(got["agent"]["tags"], json!(["eu", "gpu"]));
    assert_eq!(got["agent"]["port"], "8888");
    let mut changed = got["agent"].clone();
    changed["enabled"] = json!(false);
    app.ok("/v1/agent/update", json!({"agent": changed})).await;
    assert_eq!(app.ok("/v1/agent/tags", json!({})).await["tags"], json!(["eu"]));
    app.ok("/v1/agent/delete", json!({"agent_id": a})).await;
    app.fails("/v1/agent", json!({"agent_id": a}), 404, &format!("agent {a}")).await;
}

#[tokio::test]
async fn agent_input_is_checked() {
    let app = spawn_app().await;
    app.fails("/v1/agent/set", json!({}), 400, "agent").await;
    app.fails("/v1/agent/set", agent("", true, &[]), 422, "agent.host_name").await;
    app.fails("/v1/agent/set", agent("bad host", true, &[]), 422, "agent.host_name").await;
    let mut bad_port = agent("h", true, &[]);
    bad_port["agent"]["port"] = json!("99999");
    app.fails("/v1/agent/set", bad_port, 422, "agent.port").await;
    app.ok("/v1/agent/set", agent("h", true, &[])).await;
    app.fails("/v1/agent/set", agent("h", true, &[]), 409, "already registered").await;
    app.fails("/v1/agents/by-tag", json!({"tag": ""}), 400, "tag").await;
    app.fails("/v1/agent/update", agent("h", true, &[]), 404, "agent 0").await;
}
