//! The client of the agents' control API (`docs/agent-api.md`): start, change the
//! rate of, stop and read a job, read an agent's host figures.
//!
//! Every call carries that agent's own bearer credential, HMAC(`ALILO_AGENT_KEY`,
//! "host:port") (`auth::secrets::agent_credential`, never logged): the backend never
//! sends a fleet-wide secret, so an agent registered at a host an attacker controls
//! learns only the credential of that host. Calls have short timeouts: a controller
//! pass must not hang on one dead agent.

use crate::config::Secret;
use alilo_agent_api::{AgentInfo, FailureSample, JobSpec, JobStatus, RateChange, StopRequest};
use std::time::Duration;

/// How long connecting to an agent may take.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1_500);
/// How long one call may take. A stop waits for in-flight requests up to
/// [`STOP_WAIT`]; the timeout leaves room for it.
const CALL_TIMEOUT: Duration = Duration::from_secs(6);
/// How long a poll or a health probe may take: they answer at once from memory,
/// and one silent agent must not stretch every controller pass.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a stop waits for the requests in flight.
pub const STOP_WAIT: &str = "2s";

/// Why an agent call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// The agent did not answer (refused, timed out, reset).
    #[error("agent unreachable: {0}")]
    Unreachable(String),
    /// The agent does not know the job (restarted agent, forgotten job).
    #[error("job unknown to the agent")]
    NotFound,
    /// The agent answered an error status.
    #[error("agent answered {0}: {1}")]
    Status(u16, String),
}

/// A client of every agent; cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    key: Secret,
}

impl std::fmt::Debug for AgentClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentClient { key: *** }")
    }
}

/// The control URL of an agent registered as `host_name` and `port`.
pub fn base_url(host_name: &str, port: &str) -> String {
    if host_name.contains(':') && !host_name.starts_with('[') {
        format!("http://[{host_name}]:{port}")
    } else {
        format!("http://{host_name}:{port}")
    }
}

impl AgentClient {
    /// A client deriving each agent's credential from the fleet `key` (an empty
    /// key sends none: agents started with `--insecure-no-auth` on loopback).
    pub fn new(key: Secret) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("a reqwest client with rustls builds");
        Self { http, key }
    }

    /// Whether a fleet key is configured (agents get credentials).
    pub fn has_key(&self) -> bool {
        !self.key.expose().is_empty()
    }

    /// The credential of the agent at `base` (its control URL).
    pub fn credential(&self, base: &str) -> String {
        crate::auth::secrets::agent_credential(self.key.expose(), crate::auth::secrets::authority_of(base))
    }

    fn request(&self, method: reqwest::Method, url: String) -> reqwest::RequestBuilder {
        let credential = (!self.key.expose().is_empty()).then(|| self.credential(&url));
        let builder = self.http.request(method, url);
        match credential {
            Some(c) => builder.bearer_auth(c),
            None => builder,
        }
    }

    async fn send<T: serde::de::DeserializeOwned>(builder: reqwest::RequestBuilder) -> Result<T, AgentError> {
        let response = builder.send().await.map_err(|e| AgentError::Unreachable(root(&e)))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(AgentError::NotFound);
        }
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            let message = serde_json::from_str::<alilo_agent_api::ErrorBody>(&text).map(|b| b.error).unwrap_or(text);
            return Err(AgentError::Status(status.as_u16(), message));
        }
        response.json().await.map_err(|e| AgentError::Unreachable(root(&e)))
    }

    /// The key of job `job_key`'s failed-request log: HMAC(`ALILO_AGENT_KEY`,
    /// "log:" + job key), so only the backend (and the agent, told at start)
    /// knows it. The v1 `log_file_name` is `<job key>~<log key>`.
    pub fn log_key(&self, job_key: &str) -> String {
        let mac = crate::auth::secrets::agent_credential(self.key.expose(), &format!("log:{job_key}"));
        mac.chars().filter(char::is_ascii_alphanumeric).take(32).collect()
    }

    /// `GET /v1/jobs/{key}/failures`: the job's failed-request sample.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn failures(&self, base: &str, key: &str) -> Result<FailureSample, AgentError> {
        Self::send(self.request(reqwest::Method::GET, format!("{base}/v1/jobs/{key}/failures")).timeout(READ_TIMEOUT))
            .await
    }

    /// `PUT /v1/jobs/{key}`: start a job (idempotent for the same spec).
    #[tracing::instrument(skip(self, spec), err(Display))]
    pub async fn start(&self, base: &str, key: &str, spec: &JobSpec) -> Result<JobStatus, AgentError> {
        Self::send(self.request(reqwest::Method::PUT, format!("{base}/v1/jobs/{key}")).json(spec)).await
    }

    /// `GET /v1/jobs/{key}?since=`: read the job's new seconds; renews its lease.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn poll(&self, base: &str, key: &str, since: u64) -> Result<JobStatus, AgentError> {
        Self::send(
            self.request(reqwest::Method::GET, format!("{base}/v1/jobs/{key}?since={since}")).timeout(READ_TIMEOUT),
        )
        .await
    }

    /// `POST /v1/jobs/{key}/rate`: change the rate live.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn rate(&self, base: &str, key: &str, change: &RateChange) -> Result<JobStatus, AgentError> {
        Self::send(self.request(reqwest::Method::POST, format!("{base}/v1/jobs/{key}/rate")).json(change)).await
    }

    /// `POST /v1/jobs/{key}/stop?since=`: stop issuing; the final status.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn stop(&self, base: &str, key: &str, since: u64) -> Result<JobStatus, AgentError> {
        let body = StopRequest { wait: Some(STOP_WAIT.into()) };
        Self::send(self.request(reqwest::Method::POST, format!("{base}/v1/jobs/{key}/stop?since={since}")).json(&body))
            .await
    }

    /// `GET /v1/agent`: versions and host figures; answers whether the agent is alive.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn info(&self, base: &str) -> Result<AgentInfo, AgentError> {
        Self::send(self.request(reqwest::Method::GET, format!("{base}/v1/agent")).timeout(READ_TIMEOUT)).await
    }
}

/// The innermost cause: "Connection refused (os error 111)".
fn root(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(base_url("10.0.0.1", "8888"), "http://10.0.0.1:8888");
        assert_eq!(base_url("::1", "8888"), "http://[::1]:8888");
    }

    #[test]
    fn the_key_never_prints() {
        let client = AgentClient::new(Secret::new("s3cret"));
        assert!(!format!("{client:?}").contains("s3cret"));
    }

    #[test]
    fn each_agent_gets_its_own_credential() {
        let client = AgentClient::new(Secret::new("fleet"));
        let a = client.credential(&base_url("10.0.0.1", "8888"));
        assert_eq!(a, client.credential("http://10.0.0.1:8888/v1/jobs/x"), "the path does not matter");
        assert_ne!(a, client.credential(&base_url("10.0.0.2", "8888")));
        assert!(!a.contains("fleet"));
    }
}
