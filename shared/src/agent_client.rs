//! The client of the agents' control API (`docs/agent-api.md`): start, change the
//! rate of, stop and read a job, read an agent's host figures.
//!
//! Every call carries that agent's own bearer credential, HMAC(`ALILO_AGENT_KEY`,
//! "host:port") (`auth::secrets::agent_credential`, never logged): the backend never
//! sends a fleet-wide secret, so an agent registered at a host an attacker controls
//! learns only the credential of that host. Calls have short timeouts: a controller
//! pass must not hang on one dead agent.
//!
//! An agent is called where its [`Endpoint`] says: `http://host:port`, or, for an
//! agent with a certificate pin, `https://host:port` accepting only that
//! certificate ([`crate::agent_tls`]). A pinned agent is never called over http,
//! and an https endpoint without a pin is never called at all. With
//! `ALILO_AGENT_TLS_REQUIRED` ([`AgentClient::requiring_tls`]) no agent without a
//! pin is called either: the backend speaks to agents over pinned TLS only.

use crate::config::Secret;
use alilo_agent_api::{
    AgentInfo, CertPins, FailureSample, JobSpec, JobStatus, PollJob, PollRequest, PollResponse, RateChange, StopRequest,
};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
/// An agent that does not serve `POST /v1/poll` (an older one) is polled one
/// job per call for this long, then asked again (it may have been upgraded).
const UNBATCHED_FOR: Duration = Duration::from_secs(600);
/// Per-job polls in flight at once for one agent that does not batch.
const UNBATCHED_FAN_OUT: usize = 8;

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
    /// The agent could not be trusted: not the pinned certificate, or an https
    /// agent without a pin. Nothing was sent to it.
    #[error("agent not trusted: {0}")]
    Untrusted(String),
}

/// Where an agent's control API answers, and the certificate pins it must
/// present when that is https.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    url: String,
    pins: Option<CertPins>,
}

impl Endpoint {
    /// The agent registered at `host_name` and `port` with `pins` as stored
    /// (`sha256:…[,…]`): https when it has any. Pins that do not parse leave an
    /// https endpoint without pins, which is refused, never called over http.
    pub fn of(host_name: &str, port: &str, pins: Option<&str>) -> Self {
        let url = base_url(host_name, port);
        match pins.filter(|p| !p.trim().is_empty()) {
            Some(p) => Self::stored(url.replacen("http://", "https://", 1), Some(p)),
            None => Self { url, pins: None },
        }
    }

    /// As stored with a job: its URL and pins. Pins that no longer parse leave
    /// none, so an https call is refused, never made.
    pub fn stored(url: String, pins: Option<&str>) -> Self {
        Self { url, pins: pins.and_then(|p| CertPins::parse(p).ok().flatten()) }
    }

    /// `http(s)://host:port`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The pins (https), or `None` (http).
    pub fn pins(&self) -> Option<&CertPins> {
        self.pins.as_ref()
    }

    /// The pins as stored (`sha256:…[,…]`).
    pub fn pins_text(&self) -> Option<String> {
        self.pins.as_ref().map(CertPins::to_string)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl From<String> for Endpoint {
    /// An endpoint without pins (an https one is then never called).
    fn from(url: String) -> Self {
        Self { url, pins: None }
    }
}

impl From<&str> for Endpoint {
    fn from(url: &str) -> Self {
        Self::from(url.to_string())
    }
}

/// One client per pin set: a rustls configuration holds its verifier. At most
/// this many are kept (one per TLS agent); beyond, the cache starts over.
const MAX_PINNED_CLIENTS: usize = 4096;

/// A client of every agent; cheap to clone.
#[derive(Clone)]
pub struct AgentClient {
    http: reqwest::Client,
    pinned: Arc<Mutex<HashMap<CertPins, reqwest::Client>>>,
    /// Agents found not to serve `POST /v1/poll`, and since when.
    unbatched: Arc<Mutex<HashMap<String, Instant>>>,
    key: Secret,
    /// `ALILO_AGENT_TLS_REQUIRED`: plain-http agents are refused.
    tls_required: bool,
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
        let http = Self::builder().build().expect("a reqwest client with rustls builds");
        Self { http, pinned: Arc::default(), unbatched: Arc::default(), key, tls_required: false }
    }

    /// This client, refusing (`required`) or not to call an agent without a
    /// certificate pin (`ALILO_AGENT_TLS_REQUIRED`).
    #[must_use]
    pub fn requiring_tls(self, required: bool) -> Self {
        Self { tls_required: required, ..self }
    }

    /// Whether only agents with a certificate pin are called.
    pub fn tls_required(&self) -> bool {
        self.tls_required
    }

    fn builder() -> reqwest::ClientBuilder {
        reqwest::Client::builder()
            // An agent never redirects: a redirect is not followed to another host.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT)
            .pool_idle_timeout(Duration::from_secs(30))
    }

    /// The client to call `at` with: the plain one for http, the one accepting
    /// only its pins for https; an error for https without pins (or pins on http).
    fn client_for(&self, at: &Endpoint) -> Result<reqwest::Client, AgentError> {
        let https = at.url.starts_with("https://");
        match &at.pins {
            None if !https && self.tls_required => Err(AgentError::Untrusted(format!(
                "{at} has no certificate pin and ALILO_AGENT_TLS_REQUIRED is set: agents are called over TLS only (set the agent's tls_pin)"
            ))),
            None if !https => Ok(self.http.clone()),
            None => Err(AgentError::Untrusted(format!("{at} has no certificate pin: set the agent's tls_pin"))),
            Some(_) if !https => Err(AgentError::Untrusted(format!("{at}: a pinned agent is called over https only"))),
            Some(pins) => {
                let mut cache = self.pinned.lock().expect("pinned clients lock");
                if let Some(client) = cache.get(pins) {
                    return Ok(client.clone());
                }
                if cache.len() >= MAX_PINNED_CLIENTS {
                    cache.clear();
                }
                let client = Self::builder()
                    .use_preconfigured_tls(crate::agent_tls::pinned_config(pins))
                    .https_only(true)
                    .build()
                    .map_err(|e| AgentError::Untrusted(format!("{at}: cannot build its TLS client: {e}")))?;
                cache.insert(pins.clone(), client.clone());
                Ok(client)
            }
        }
    }

    /// Whether a fleet key is configured (agents get credentials).
    pub fn has_key(&self) -> bool {
        !self.key.expose().is_empty()
    }

    /// The credential of the agent at `base` (its control URL).
    pub fn credential(&self, base: &str) -> String {
        crate::auth::secrets::agent_credential(self.key.expose(), crate::auth::secrets::authority_of(base))
    }

    /// A call of `path` on the agent at `at`, carrying its credential.
    fn request(
        &self,
        at: &Endpoint,
        method: reqwest::Method,
        path: &str,
    ) -> Result<reqwest::RequestBuilder, AgentError> {
        let builder = self.client_for(at)?.request(method, format!("{}{path}", at.url));
        Ok(match (!self.key.expose().is_empty()).then(|| self.credential(&at.url)) {
            Some(c) => builder.bearer_auth(c),
            None => builder,
        })
    }

    async fn send<T: serde::de::DeserializeOwned>(
        builder: Result<reqwest::RequestBuilder, AgentError>,
    ) -> Result<T, AgentError> {
        let response = builder?.send().await.map_err(|e| match crate::agent_tls::not_pinned(&e) {
            Some(why) => AgentError::Untrusted(why.to_string()),
            None => AgentError::Unreachable(root(&e)),
        })?;
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
    pub async fn failures(&self, at: &Endpoint, key: &str) -> Result<FailureSample, AgentError> {
        let path = format!("/v1/jobs/{key}/failures");
        Self::send(self.request(at, reqwest::Method::GET, &path).map(|r| r.timeout(READ_TIMEOUT))).await
    }

    /// `PUT /v1/jobs/{key}`: start a job (idempotent for the same spec).
    #[tracing::instrument(skip(self, spec), err(Display))]
    pub async fn start(&self, at: &Endpoint, key: &str, spec: &JobSpec) -> Result<JobStatus, AgentError> {
        Self::send(self.request(at, reqwest::Method::PUT, &format!("/v1/jobs/{key}")).map(|r| r.json(spec))).await
    }

    /// `GET /v1/jobs/{key}?since=`: read the job's new seconds; renews its lease.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn poll(&self, at: &Endpoint, key: &str, since: u64) -> Result<JobStatus, AgentError> {
        let path = format!("/v1/jobs/{key}?since={since}");
        Self::send(self.request(at, reqwest::Method::GET, &path).map(|r| r.timeout(READ_TIMEOUT))).await
    }

    /// Read several jobs of the agent at `at`, each `(key, since)`, renewing
    /// their leases: one `POST /v1/poll`, or, for an agent that does not serve
    /// it (it answers 404 or 405: an older one), `GET /v1/jobs/{key}?since=`
    /// for each. One answer per job, in order; a job the agent does not know
    /// is [`AgentError::NotFound`], and a failed call fails every job.
    #[tracing::instrument(skip_all, fields(agent = %at, jobs = jobs.len()))]
    pub async fn poll_many(&self, at: &Endpoint, jobs: &[(&str, u64)]) -> Vec<Result<JobStatus, AgentError>> {
        if !self.batches(at) {
            return self.poll_each(at, jobs).await;
        }
        let body =
            PollRequest { jobs: jobs.iter().map(|(id, since)| PollJob { id: (*id).into(), since: *since }).collect() };
        let request = self.request(at, reqwest::Method::POST, "/v1/poll").map(|r| r.timeout(READ_TIMEOUT).json(&body));
        match Self::send::<PollResponse>(request).await {
            Ok(answer) => {
                // In the order asked.
                let mut answered = answer.jobs.into_iter();
                jobs.iter()
                    .map(|(id, _)| match answered.next() {
                        Some(p) if p.id != *id => Err(AgentError::Status(200, format!("answered {:?} for it", p.id))),
                        Some(p) if !p.found => Err(AgentError::NotFound),
                        Some(p) => p.status.ok_or_else(|| AgentError::Status(200, "found, without a status".into())),
                        None => Err(AgentError::Status(200, "the agent's answer left the job out".into())),
                    })
                    .collect()
            }
            Err(AgentError::NotFound | AgentError::Status(405, _)) => {
                tracing::info!(agent = %at, "the agent does not serve POST /v1/poll: polled one job per call");
                self.unbatched_now(at);
                self.poll_each(at, jobs).await
            }
            Err(e) => jobs.iter().map(|_| Err(e.clone())).collect(),
        }
    }

    /// Remember that the agent at `at` does not serve `POST /v1/poll`.
    fn unbatched_now(&self, at: &Endpoint) {
        let mut unbatched = self.unbatched.lock().expect("unbatched agents lock");
        if unbatched.len() >= MAX_PINNED_CLIENTS {
            unbatched.clear();
        }
        unbatched.insert(at.url.clone(), Instant::now());
    }

    /// Whether the agent at `at` is asked with `POST /v1/poll`: not when it did
    /// not serve it within [`UNBATCHED_FOR`].
    fn batches(&self, at: &Endpoint) -> bool {
        let unbatched = self.unbatched.lock().expect("unbatched agents lock");
        unbatched.get(&at.url).is_none_or(|since| since.elapsed() >= UNBATCHED_FOR)
    }

    /// One `GET /v1/jobs/{key}?since=` per job, a few at a time.
    async fn poll_each(&self, at: &Endpoint, jobs: &[(&str, u64)]) -> Vec<Result<JobStatus, AgentError>> {
        let polls: Vec<_> = jobs.iter().map(|&(key, since)| self.poll(at, key, since)).collect();
        futures::stream::iter(polls).buffered(UNBATCHED_FAN_OUT).collect().await
    }

    /// `POST /v1/jobs/{key}/rate`: change the rate live.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn rate(&self, at: &Endpoint, key: &str, change: &RateChange) -> Result<JobStatus, AgentError> {
        let path = format!("/v1/jobs/{key}/rate");
        Self::send(self.request(at, reqwest::Method::POST, &path).map(|r| r.json(change))).await
    }

    /// `POST /v1/jobs/{key}/stop?since=`: stop issuing; the final status.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn stop(&self, at: &Endpoint, key: &str, since: u64) -> Result<JobStatus, AgentError> {
        let body = StopRequest { wait: Some(STOP_WAIT.into()) };
        let path = format!("/v1/jobs/{key}/stop?since={since}");
        Self::send(self.request(at, reqwest::Method::POST, &path).map(|r| r.json(&body))).await
    }

    /// `GET /v1/agent`: versions and host figures; answers whether the agent is alive.
    #[tracing::instrument(skip(self), err(Display))]
    pub async fn info(&self, at: &Endpoint) -> Result<AgentInfo, AgentError> {
        Self::send(self.request(at, reqwest::Method::GET, "/v1/agent").map(|r| r.timeout(READ_TIMEOUT))).await
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
    fn pinned_agents_are_https_and_unpinned_ones_http() {
        let pins = CertPins::of_der(b"cert");
        let pinned = Endpoint::of("10.0.0.1", "8888", Some(&pins.to_string()));
        assert_eq!((pinned.url(), pinned.pins()), ("https://10.0.0.1:8888", Some(&pins)));
        assert_eq!(Endpoint::of("::1", "8888", None).url(), "http://[::1]:8888");
        assert_eq!(Endpoint::of("::1", "8888", Some("")).url(), "http://[::1]:8888");
        let garbled = Endpoint::of("10.0.0.1", "8888", Some("sha256:nope"));
        assert_eq!((garbled.url(), garbled.pins()), ("https://10.0.0.1:8888", None), "never http");
        let stored = Endpoint::stored(pinned.url().into(), pinned.pins_text().as_deref());
        assert_eq!(stored, pinned, "a job's stored endpoint is the agent's");
    }

    #[test]
    fn an_https_agent_without_a_pin_or_a_pinned_one_over_http_is_never_called() {
        let client = AgentClient::new(Secret::new("fleet"));
        let unpinned = Endpoint::from("https://10.0.0.1:8888");
        assert!(matches!(client.client_for(&unpinned), Err(AgentError::Untrusted(m)) if m.contains("tls_pin")));
        let garbled = Endpoint::stored("https://10.0.0.1:8888".into(), Some("sha256:nope"));
        assert!(matches!(client.client_for(&garbled), Err(AgentError::Untrusted(_))), "a bad stored pin: refused");
        let plain = Endpoint { url: "http://10.0.0.1:8888".into(), pins: Some(CertPins::of_der(b"c")) };
        assert!(matches!(client.client_for(&plain), Err(AgentError::Untrusted(_))));
    }

    #[test]
    fn with_tls_required_a_plain_http_agent_is_never_called() {
        let client = AgentClient::new(Secret::new("fleet")).requiring_tls(true);
        let plain = Endpoint::of("10.0.0.1", "8888", None);
        assert!(
            matches!(client.client_for(&plain), Err(AgentError::Untrusted(m)) if m.contains("ALILO_AGENT_TLS_REQUIRED")),
        );
        let pinned = Endpoint::of("10.0.0.1", "8888", Some(&CertPins::of_der(b"cert").to_string()));
        assert!(client.client_for(&pinned).is_ok(), "a pinned agent still is");
        assert!(AgentClient::new(Secret::new("fleet")).client_for(&plain).is_ok(), "off by default");
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
