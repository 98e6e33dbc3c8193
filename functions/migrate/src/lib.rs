//! The migrate step. In AWS it runs as a CloudFormation custom resource on every
//! deploy (Create and Update apply the migrations; Delete does nothing, so data
//! outlives a stack), or by a plain invoke, which answers the applied names.

use serde::Deserialize;
use serde_json::{Value, json};

/// The fields of a CloudFormation custom-resource event that we use.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceEvent {
    pub request_type: String,
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    pub stack_id: String,
    pub request_id: String,
    pub logical_resource_id: String,
}

/// Apply the migrations; the names of those applied now.
pub async fn migrate() -> anyhow::Result<Vec<&'static str>> {
    let config = alilo_shared::config::Config::from_env_and_secrets().await.map_err(anyhow::Error::msg)?;
    let db = alilo_shared::db::Db::connect(&config.dsn)?;
    alilo_shared::db::migrate(&db).await
}

/// What CloudFormation expects at the response URL.
pub fn cfn_response(event: &CustomResourceEvent, outcome: &Result<Vec<&str>, String>) -> Value {
    let (status, reason, applied) = match outcome {
        Ok(applied) => ("SUCCESS", format!("applied {} migrations", applied.len()), applied.join(",")),
        Err(e) => ("FAILED", e.clone(), String::new()),
    };
    json!({
        "Status": status,
        "Reason": reason,
        "PhysicalResourceId": "alilo-migrations",
        "StackId": event.stack_id,
        "RequestId": event.request_id,
        "LogicalResourceId": event.logical_resource_id,
        "Data": {"Applied": applied},
    })
}

/// Handle one invocation.
pub async fn handle(event: Value) -> anyhow::Result<Value> {
    let Ok(cfn) = serde_json::from_value::<CustomResourceEvent>(event) else {
        let applied = migrate().await?;
        return Ok(json!({"applied": applied}));
    };
    let outcome =
        if cfn.request_type == "Delete" { Ok(Vec::new()) } else { migrate().await.map_err(|e| format!("{e:#}")) };
    let body = cfn_response(&cfn, &outcome);
    reqwest::Client::new().put(&cfn.response_url).json(&body).send().await?.error_for_status()?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_is_reported_to_cloudformation_with_its_reason() {
        let event = CustomResourceEvent {
            request_type: "Create".into(),
            response_url: "https://example.invalid".into(),
            stack_id: "s".into(),
            request_id: "r".into(),
            logical_resource_id: "Migrations".into(),
        };
        let failed = cfn_response(&event, &Err("cannot connect".into()));
        assert_eq!((failed["Status"].as_str(), failed["Reason"].as_str()), (Some("FAILED"), Some("cannot connect")));
        let ok = cfn_response(&event, &Ok(vec!["0001_resources.sql"]));
        assert_eq!(ok["Data"]["Applied"], "0001_resources.sql");
        assert_eq!(ok["PhysicalResourceId"], "alilo-migrations");
    }
}
