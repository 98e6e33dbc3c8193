//! A job's target allow-list in the client: the lists the backend put into
//! the job spec (`allowed_targets`, see [`alilo_agent_api::targets`]) and
//! where a refusal is reported. The check itself runs where a host is
//! resolved ([`super::transport::Endpoint::resolve`]), the one step every
//! request passes through before a connection exists: the load path's
//! endpoint, each origin of the full exchange and every redirect's target.
//! A refused request is never sent; the full exchange answers it with
//! [`super::ErrorKind::NotAllowed`] and tells the job's [`Refusals`].

use std::sync::{Arc, OnceLock};

use alilo_agent_api::targets::Policy;

/// Where the client reports a request it refused (the job's failed-request
/// log), with the message naming the host and the list.
pub trait Refusals: Send + Sync {
    /// One request to a host not on the list was not sent.
    fn refused(&self, message: &str);
}

/// The lists and the report of refusals.
#[derive(Default)]
pub struct Allow {
    policy: Policy,
    refusals: Option<Arc<dyn Refusals>>,
}

impl Allow {
    /// No list: every host passes (`alilo-agent run`, data-file downloads).
    pub fn open() -> Arc<Allow> {
        static OPEN: OnceLock<Arc<Allow>> = OnceLock::new();
        OPEN.get_or_init(|| Arc::new(Allow::default())).clone()
    }

    /// `policy`, reporting refusals to `refusals`.
    pub fn new(policy: Policy, refusals: Arc<dyn Refusals>) -> Allow {
        Allow { policy, refusals: Some(refusals) }
    }

    /// The lists.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Reports a refused request.
    pub fn refused(&self, message: &str) {
        if let Some(r) = &self.refusals {
            r.refused(message);
        }
    }
}
