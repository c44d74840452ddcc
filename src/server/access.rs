//! The gate every call passes before its service: who is calling
//! (authentication), whether they may (the scope table, before the service
//! looks anything up, AIP-193), whether they are within their rate, and
//! whether the server has room for one more call (load shedding: a call
//! over the limit is refused at once, never queued).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use crate::auth::{Access, Auth, Refusal, access_of, certificate_names};

/// The caller label of calls while authentication is off.
const ANONYMOUS: &str = "anonymous";
/// The caller label of calls refused for want of valid credentials.
const UNAUTHENTICATED: &str = "unauthenticated";

/// How long a shed caller is told to wait.
const SHED_RETRY_AFTER: Duration = Duration::from_millis(100);

pub struct Gate {
    auth: Option<Arc<Auth>>,
    calls: Arc<Semaphore>,
    max_calls: usize,
}

/// A call let through: its caller, and its place among the calls in
/// flight, held until the call ends (for a stream, its last message).
pub struct Admitted {
    pub caller: Arc<str>,
    pub permit: Option<OwnedSemaphorePermit>,
}

/// A call turned away, and the caller it is counted under.
pub struct Refused {
    pub caller: Arc<str>,
    pub refusal: Refusal,
}

impl Gate {
    pub fn new(auth: Option<Arc<Auth>>, max_calls: usize) -> Self {
        let max_calls = max_calls.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            auth,
            calls: Arc::new(Semaphore::new(max_calls)),
            max_calls,
        }
    }

    pub fn admit<B>(&self, req: &http::Request<B>) -> Result<Admitted, Refused> {
        let path = req.uri().path();
        let access = access_of(path);
        let caller = match &self.auth {
            None => None,
            Some(_) if access == Some(Access::Open) => None,
            Some(auth) => {
                let authorization = req.headers().get(http::header::AUTHORIZATION);
                let caller = auth
                    .authenticate(authorization.map(|v| v.as_bytes()), || peer_names(req))
                    .map_err(|refusal| Refused {
                        caller: UNAUTHENTICATED.into(),
                        refusal,
                    })?;
                Some(caller)
            }
        };
        let name: Arc<str> = caller
            .as_ref()
            .map_or_else(|| ANONYMOUS.into(), |c| c.name.clone());
        let refused = |refusal| Refused {
            caller: name.clone(),
            refusal,
        };
        if access == Some(Access::Open) {
            // Health and reflection: no credentials, no scope, and no place
            // in the limit, so probes answer even when the server is full.
            return Ok(Admitted {
                caller: name,
                permit: None,
            });
        }
        if let Some(caller) = &caller {
            if let Some(Access::Needs(scope)) = access
                && !caller.scopes.contains(scope)
            {
                return Err(refused(Refusal::MissingScope {
                    caller: caller.name.clone(),
                    scope,
                    method: path.to_owned(),
                }));
            }
            caller.take_call().map_err(refused)?;
        }
        let permit = self.calls.clone().try_acquire_owned().map_err(|_| {
            refused(Refusal::Overloaded {
                max: self.max_calls,
                retry_after: SHED_RETRY_AFTER,
            })
        })?;
        Ok(Admitted {
            caller: name,
            permit: Some(permit),
        })
    }
}

/// The names the client certificate of a mutual-TLS connection carries.
fn peer_names<B>(req: &http::Request<B>) -> Vec<String> {
    req.extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
        .and_then(|certs| certs.first().map(|c| certificate_names(c.as_ref())))
        .unwrap_or_default()
}
