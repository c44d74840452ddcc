//! Signals: the shutdown signal and the latch the server's tasks wait on,
//! and SIGHUP, which reloads the callers' file.

use std::future::Future;
use std::sync::Arc;

use tracing::{info, warn};

use crate::auth::Auth;

/// Resolves once the shutdown signal has come; cheap to clone and wait on.
#[derive(Clone)]
pub(super) struct Stopped(tokio::sync::watch::Receiver<bool>);

impl Stopped {
    pub(super) fn after(shutdown: impl Future<Output = ()> + Send + 'static) -> Self {
        let (tx, rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = tx.send(true);
        });
        Self(rx)
    }

    /// Becomes true when the shutdown begins.
    pub(super) fn receiver(&self) -> tokio::sync::watch::Receiver<bool> {
        self.0.clone()
    }

    pub(super) async fn wait(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

#[cfg(unix)]
pub(super) type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
pub(super) type Hangups = ();

#[cfg(unix)]
pub(super) fn hangups() -> std::io::Result<Hangups> {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
}

#[cfg(not(unix))]
pub(super) fn hangups() -> std::io::Result<Hangups> {
    Ok(())
}

/// Reads the callers' file again on every SIGHUP; a file with a mistake
/// leaves the callers in force and the log says why.
#[cfg(unix)]
pub(super) async fn reload_on_sighup(auth: Arc<Auth>, mut hangups: Hangups) {
    while hangups.recv().await.is_some() {
        match auth.reload() {
            Ok(n) => info!(config = %auth.path().display(), callers = n, "auth config reloaded"),
            Err(e) => warn!(error = %e, "auth config not reloaded; the callers in force stay"),
        }
    }
}

#[cfg(not(unix))]
pub(super) async fn reload_on_sighup(_auth: Arc<Auth>, _hangups: Hangups) {}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
