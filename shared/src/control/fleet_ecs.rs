//! The `ecs` fleet provider (#13, `ALILO_FLEET=ecs`): the fleet is an ECS
//! service running the agent image (`alilo-agent serve --register`, see
//! `template.yaml`'s optional agent fleet). Growing sets the service's desired
//! count (`UpdateService`) and waits, bounded, for the new tasks' agents to
//! register; releasing sets it to the minimum. Calls used: `DescribeServices`
//! and `UpdateService` (both implemented by moto's server, which the tests use).
//!
//! Errors are classified ([`classify`]): throttling and "no capacity" are
//! named as such in the run's change log; nothing is retried in a loop.

use super::fleet::{Fleet, FleetError, Offer, agents_needed};
use crate::config::{Config, FleetConfig};
use crate::db::Db;
use aws_sdk_ecs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_ecs::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;

/// An ECS service as the fleet.
pub struct EcsFleet {
    client: aws_sdk_ecs::Client,
    cluster: String,
    service: String,
    db: Db,
    expiry: Duration,
    agent_rps: f64,
    min: usize,
    max: usize,
    wait: Duration,
}

/// Credentials and where to reach ECS.
#[derive(Debug, Clone)]
pub struct EcsAccess {
    pub region: String,
    pub endpoint: Option<String>,
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

/// The provider the configuration names, with the function role's (or the
/// configured S3) credentials.
pub fn from_config(config: &Config, state: &crate::AppState) -> Result<Arc<dyn Fleet>, String> {
    let access = EcsAccess {
        region: config.s3.region.clone(),
        endpoint: config.fleet.ecs_endpoint.clone(),
        access_key: config.s3.access_key.expose().to_string(),
        secret_key: config.s3.secret_key.expose().to_string(),
        session_token: config.s3.session_token.as_ref().map(|t| t.expose().to_string()),
    };
    let expiry = super::agents::expiry(config.limits.fleet_heartbeat);
    Ok(Arc::new(EcsFleet::new(&access, &config.fleet, state.db.clone(), expiry)))
}

/// What an ECS error means for the run.
pub fn classify(code: Option<&str>, message: &str) -> FleetError {
    match code.unwrap_or_default() {
        "ThrottlingException" | "Throttling" | "RequestLimitExceeded" | "TooManyRequestsException" => {
            FleetError::Throttled(message.to_string())
        }
        "LimitExceededException" | "PlatformTaskDefinitionIncompatibilityException" => {
            FleetError::NoCapacity(message.to_string())
        }
        _ => FleetError::Failed(message.to_string()),
    }
}

fn failed<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    what: &str,
    e: aws_sdk_ecs::error::SdkError<E, R>,
) -> FleetError {
    let code = e.code().map(str::to_string);
    classify(code.as_deref(), &format!("{what}: {}", DisplayErrorContext(&e)))
}

impl EcsFleet {
    pub fn new(access: &EcsAccess, fleet: &FleetConfig, db: Db, expiry: Duration) -> Self {
        let credentials = Credentials::new(
            &access.access_key,
            &access.secret_key,
            access.session_token.clone(),
            None,
            "alilo-config",
        );
        let http =
            aws_smithy_http_client::Builder::new().tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
        let mut builder = aws_sdk_ecs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(access.region.clone()))
            .credentials_provider(credentials)
            .http_client(http);
        if let Some(url) = &access.endpoint {
            builder = builder.endpoint_url(url);
        }
        Self {
            client: aws_sdk_ecs::Client::from_conf(builder.build()),
            cluster: fleet.ecs_cluster.clone(),
            service: fleet.ecs_service.clone(),
            db,
            expiry,
            agent_rps: fleet.agent_rps,
            min: fleet.min,
            max: fleet.max,
            wait: fleet.wait,
        }
    }

    /// The ECS client (tests create their cluster and service with it).
    pub fn client(&self) -> &aws_sdk_ecs::Client {
        &self.client
    }

    /// The service's desired count now.
    pub async fn desired_count(&self) -> Result<usize, FleetError> {
        let out = self
            .client
            .describe_services()
            .cluster(&self.cluster)
            .services(&self.service)
            .send()
            .await
            .map_err(|e| failed("DescribeServices", e))?;
        let Some(service) = out.services().first() else {
            let why = out.failures().first().and_then(|f| f.reason()).unwrap_or("not found").to_string();
            return Err(FleetError::Failed(format!("service {} in cluster {}: {why}", self.service, self.cluster)));
        };
        Ok(usize::try_from(service.desired_count()).unwrap_or(0))
    }

    async fn set_desired(&self, count: usize) -> Result<(), FleetError> {
        self.client
            .update_service()
            .cluster(&self.cluster)
            .service(&self.service)
            .desired_count(i32::try_from(count).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| failed("UpdateService", e))?;
        tracing::info!(cluster = %self.cluster, service = %self.service, count, "ECS fleet: desired count set");
        Ok(())
    }

    async fn offer(&self, tag: &str) -> Result<(usize, f64), FleetError> {
        crate::db::fleet::offer(&self.db, tag, self.expiry, self.agent_rps)
            .await
            .map_err(|e| FleetError::Failed(format!("cannot read the registry: {}", e.message)))
    }

    async fn grow(&self, capacity_rps: f64, tag: &str) -> Result<Offer, FleetError> {
        let (agents, offered) = self.offer(tag).await?;
        if offered >= capacity_rps {
            return Ok(Offer { agents, capacity_rps: offered, started: 0 });
        }
        let desired = self.desired_count().await?;
        let n = agents_needed(capacity_rps, offered, self.agent_rps, desired, self.max);
        if n == 0 {
            return Err(FleetError::NoCapacity(format!(
                "the service runs {desired} task(s), the maximum (ALILO_FLEET_MAX={}); {offered:.0} of {capacity_rps:.0} rps offered",
                self.max
            )));
        }
        self.set_desired(desired + n).await?;
        let until = tokio::time::Instant::now() + self.wait;
        loop {
            let (now, capacity) = self.offer(tag).await?;
            if now >= agents + n {
                return Ok(Offer { agents: now, capacity_rps: capacity, started: n });
            }
            if tokio::time::Instant::now() >= until {
                return Err(FleetError::Slow(format!(
                    "{} of {n} new ECS task(s) registered an agent within {} s (desired count {})",
                    now.saturating_sub(agents),
                    self.wait.as_secs(),
                    desired + n
                )));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn shrink(&self) -> Result<(), FleetError> {
        if self.desired_count().await? > self.min {
            self.set_desired(self.min).await?;
        }
        Ok(())
    }
}

impl Fleet for EcsFleet {
    fn name(&self) -> &'static str {
        "ecs"
    }

    fn ensure<'a>(&'a self, capacity_rps: f64, tag: &'a str) -> BoxFuture<'a, Result<Offer, FleetError>> {
        Box::pin(self.grow(capacity_rps, tag))
    }

    fn release(&self) -> BoxFuture<'_, Result<(), FleetError>> {
        Box::pin(self.shrink())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecs_errors_say_throttled_or_no_capacity_when_they_are() {
        assert!(matches!(classify(Some("ThrottlingException"), "slow down"), FleetError::Throttled(_)));
        assert!(matches!(classify(Some("LimitExceededException"), "quota"), FleetError::NoCapacity(_)));
        let other = classify(Some("ServiceNotFoundException"), "UpdateService: service x not found");
        assert_eq!(other.to_string(), "the fleet provider failed: UpdateService: service x not found");
        assert!(matches!(classify(None, "dispatch failure"), FleetError::Failed(_)));
    }
}
