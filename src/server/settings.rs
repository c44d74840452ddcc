//! The server's settings and their defaults.

use std::sync::Arc;
use std::time::Duration;

use super::incoming::ConnectionLimits;
use crate::auth::Auth;

/// Server settings beyond the database.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub health_interval: Duration,
    /// How long in-flight calls may run after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Serve TLS with this certificate and key (PEM).
    pub tls: Option<TlsConfig>,
    /// Browser origins allowed to call over gRPC-Web (CORS); empty: none.
    pub cors_origins: Vec<String>,
    pub limits: MessageLimits,
    pub connections: ConnectionLimits,
    pub keepalive: Keepalive,
    /// The longest a call may run when its caller set no shorter deadline.
    pub call_timeout: Duration,
    /// The callers who may call, from the operator's file; `None` lets
    /// anyone in (only on loopback, unless the operator insists).
    pub auth: Option<Arc<Auth>>,
    /// Most calls handled at once (health and reflection aside); more are
    /// refused at once with UNAVAILABLE and a RetryInfo.
    pub max_concurrent_calls: usize,
    /// Largest HTTP/2 header list (all metadata of a call) accepted.
    pub max_header_bytes: u32,
    /// How long journal entries are kept; older ones are deleted hourly.
    pub journal_retention: Duration,
    /// How long an idle change feed stream goes without a message.
    pub feed_heartbeat: Duration,
    /// Answer SummarizePrograms from an in-memory rollup kept current from
    /// the journal.
    pub summary_rollup: bool,
}

/// HTTP/2 keepalive pings: sent after `interval` without anything from the
/// peer; a connection that leaves one unanswered for `timeout` is closed.
#[derive(Debug, Clone, Copy)]
pub struct Keepalive {
    pub interval: Duration,
    pub timeout: Duration,
}

/// The defaults of every server setting, which the command line's flags
/// share.
pub mod defaults {
    /// Seconds between database health checks.
    pub const HEALTH_INTERVAL_SECS: u64 = 1;
    /// Seconds in-flight calls may run after a shutdown signal.
    pub const SHUTDOWN_GRACE_SECS: u64 = 20;
    /// Largest request message, in bytes.
    pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
    /// Largest response message, in bytes.
    pub const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
    /// Most connections open at once.
    pub const MAX_CONNECTIONS: usize = 4096;
    /// Seconds of silence after which a connection is closed.
    pub const CONNECTION_IDLE_TIMEOUT_SECS: u64 = 120;
    /// Seconds between HTTP/2 keepalive pings.
    pub const KEEPALIVE_INTERVAL_SECS: u64 = 30;
    /// Seconds a keepalive ping may go unanswered.
    pub const KEEPALIVE_TIMEOUT_SECS: u64 = 10;
    /// Seconds a call may run when its caller set no shorter deadline.
    pub const CALL_TIMEOUT_SECS: u64 = 60;
    /// Most calls handled at once.
    pub const MAX_CONCURRENT_CALLS: usize = 256;
    /// Largest header list of a call: room for bearer tokens and forwarded
    /// client certificates many times larger than real ones (a large JWT
    /// is 8 KiB, a PEM chain in a header 4–16 KiB). Over the limit the
    /// HTTP/2 layer itself answers `431 Request Header Fields Too Large`,
    /// before any gRPC code runs, so no `grpc-status` can be sent: the
    /// limit is set far above what a legitimate caller sends.
    pub const MAX_HEADER_BYTES: u32 = 256 * 1024;
    /// How long journal entries are kept: ten years. Public bodies keep
    /// audit records for years (the Public Records Management Act's
    /// retention classes run to 10 and 30 years and permanent), and a
    /// mirror may resume from any token within it; operators with a
    /// shorter rule, or an archive of their own, lower it.
    pub const JOURNAL_RETENTION: &str = "10years";
    /// An idle change feed stream's heartbeat: well inside the idle
    /// timeouts of common proxies and load balancers (60 s and more).
    pub const FEED_HEARTBEAT: &str = "15s";
}

impl Default for ServerConfig {
    fn default() -> Self {
        use defaults as d;
        Self {
            health_interval: Duration::from_secs(d::HEALTH_INTERVAL_SECS),
            shutdown_grace: Duration::from_secs(d::SHUTDOWN_GRACE_SECS),
            tls: None,
            cors_origins: Vec::new(),
            limits: MessageLimits::default(),
            connections: ConnectionLimits {
                max_connections: d::MAX_CONNECTIONS,
                idle_timeout: Duration::from_secs(d::CONNECTION_IDLE_TIMEOUT_SECS),
            },
            keepalive: Keepalive {
                interval: Duration::from_secs(d::KEEPALIVE_INTERVAL_SECS),
                timeout: Duration::from_secs(d::KEEPALIVE_TIMEOUT_SECS),
            },
            call_timeout: Duration::from_secs(d::CALL_TIMEOUT_SECS),
            auth: None,
            max_concurrent_calls: d::MAX_CONCURRENT_CALLS,
            max_header_bytes: d::MAX_HEADER_BYTES,
            journal_retention: default_duration(d::JOURNAL_RETENTION),
            feed_heartbeat: default_duration(d::FEED_HEARTBEAT),
            summary_rollup: true,
        }
    }
}

/// A default written as the flags take it (`10years`, `15s`); a test
/// holds every one to parsing. (Were one not to, the longest duration is
/// the safe reading: keep journal entries, send no heartbeat.)
fn default_duration(text: &str) -> Duration {
    humantime::parse_duration(text).unwrap_or(Duration::MAX)
}

#[cfg(test)]
#[test]
fn duration_defaults_parse() {
    for text in [defaults::JOURNAL_RETENTION, defaults::FEED_HEARTBEAT] {
        assert!(default_duration(text) < Duration::MAX, "{text}");
    }
}

/// PEM-encoded TLS material.
#[derive(Clone)]
pub struct TlsConfig {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<Vec<u8>>,
}

impl TlsConfig {
    /// When the served certificate (the first of `cert`) and the
    /// earliest-expiring CA of `client_ca` stop being valid (Unix seconds);
    /// a certificate that does not parse is left out (the TLS handshake
    /// setup names it).
    pub fn expiries(&self) -> Vec<(&'static str, i64)> {
        let mut out = Vec::new();
        if let Some(&first) = not_afters(&self.cert).first() {
            out.push(("server", first));
        }
        if let Some(earliest) = self
            .client_ca
            .as_deref()
            .and_then(|ca| not_afters(ca).into_iter().min())
        {
            out.push(("client_ca", earliest));
        }
        out
    }
}

/// The notAfter of every certificate in a PEM bundle, in order.
fn not_afters(pem: &[u8]) -> Vec<i64> {
    x509_parser::pem::Pem::iter_from_buffer(pem)
        .filter_map(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .filter_map(|p| {
            p.parse_x509()
                .ok()
                .map(|c| c.validity().not_after.timestamp())
        })
        .collect()
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("client_ca", &self.client_ca.is_some())
            .finish_non_exhaustive()
    }
}

/// Message limits, applied to every service in one place.
#[derive(Debug, Clone, Copy)]
pub struct MessageLimits {
    /// Largest request message accepted; larger is RESOURCE_EXHAUSTED.
    pub request_bytes: usize,
    /// Largest response message sent.
    pub response_bytes: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        Self {
            request_bytes: defaults::MAX_MESSAGE_BYTES,
            response_bytes: defaults::MAX_RESPONSE_BYTES,
        }
    }
}

/// A generated service server whose message sizes can be limited.
pub trait LimitedService: Sized {
    fn limited(self, limits: MessageLimits) -> Self;
}

/// Implements [`LimitedService`] for generated service servers.
macro_rules! limited_service {
    ($($server:ty),+ $(,)?) => {$(
        impl<T> LimitedService for $server {
            fn limited(self, limits: MessageLimits) -> Self {
                self.max_decoding_message_size(limits.request_bytes)
                    .max_encoding_message_size(limits.response_bytes)
            }
        }
    )+};
}
impl MessageLimits {
    pub(super) fn apply<S: LimitedService>(&self, service: S) -> S {
        service.limited(*self)
    }
}
pub(super) use limited_service;
