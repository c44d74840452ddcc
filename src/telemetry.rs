//! Logging: tracing to stdout, text or JSON, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides the default `info`.
pub fn init(format: LogFormat) {
    // tonic reports refused TLS handshakes (a missing or untrusted client
    // certificate) at debug level only; an operator needs to see them.
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(
            "info,sqlx=warn,sea_orm=warn,h2=warn,tower=warn,tonic::transport::server::io_stream=debug",
        )
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let result = match format {
        LogFormat::Text => builder.try_init(),
        // The call's span once, as `span` (not again under `spans`).
        LogFormat::Json => builder.json().with_span_list(false).try_init(),
    };
    // A subscriber is already installed (tests start several servers).
    drop(result);
}
