//! Connectors to the MDMs an organization already runs, and notifications to people.
//!
//! This crate holds the HTTP clients and the sync logic; it returns typed results
//! ([`amapi::PulledDevice`], [`ItemError`], [`amapi::PushPlan`]) and never touches the
//! database: the server stores them through `storage` on the same evaluation path as an
//! agent's check-in.
//!
//! - [`config`]: the `[[connector]]` sections of `server.toml`.
//! - [`amapi`]: Google's Android Management API (service-account JWT, devices pull with
//!   paging, read-modify-write merge of `BLOCKED` apps into a policy, reconcile).
//! - [`intune`]: Microsoft Intune through Graph (client credentials, `managedDevices` and
//!   `detectedApps`, iOS `restrictedApps` split by 100, Android Enterprise `uninstall`).
//! - [`nanomdm`]: Apple MDM through a NanoMDM-compatible command API (command plists
//!   enqueued with `PUT /v1/enqueue/{ids}`, the acknowledge webhook's HMAC and body).
//! - [`http`]: the retrying JSON client every connector shares (429 with `Retry-After`, 5xx,
//!   expired tokens).
//! - [`notify`]: webhooks signed with HMAC-SHA256.

pub mod amapi;
pub mod config;
pub mod http;
pub mod intune;
pub mod nanomdm;
pub mod notify;

pub use config::{ConnectorConfig, PushMode};

/// A connector failure that stops a sync (the whole pull or push).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnError {
    /// Configuration or credentials unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// The service answered with an error status, after the retries.
    #[error("{method} {url}: HTTP {status}: {body}")]
    Status {
        /// Method.
        method: String,
        /// URL without query.
        url: String,
        /// HTTP status.
        status: u16,
        /// First bytes of the body.
        body: String,
    },
    /// Transport failure (connection, timeout), after the retries.
    #[error("{method} {url}: {message}")]
    Transport {
        /// Method.
        method: String,
        /// URL without query.
        url: String,
        /// What happened.
        message: String,
    },
    /// The service's answer is not what its API description says.
    #[error("malformed response from {url}: {message}")]
    Malformed {
        /// URL.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Authentication refused (token endpoint error).
    #[error("authentication: {0}")]
    Auth(String),
    /// A read-modify-write lost to concurrent writers too many times.
    #[error("conflict: {0}")]
    Conflict(String),
}

impl ConnError {
    /// Whether a later attempt may succeed (the scheduler retries the sync at its next run).
    pub fn is_conflict(&self) -> bool {
        matches!(self, ConnError::Conflict(_))
            || matches!(self, ConnError::Status { status: 409, .. })
    }
}

/// A bad item in an MDM's answer: reported, named, and skipped; the other items go on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemError {
    /// The item (e.g. `enterprises/LC01/devices/3a9f`, or that with `/applicationReports[2]`).
    pub item: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.item, self.message)
    }
}
