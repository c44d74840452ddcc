//! The dashboard and the alert rules name only metrics the server exports.

use std::collections::BTreeSet;

use http_body_util::Full;
use partnership::pb;

use partnership::server::{ServerConfig, TlsConfig};

use crate::support::{App, TestDb, create_sme, http1};

/// Every metric name in a PromQL expression: the identifiers of the
/// service's and the process's metric families (functions, labels and
/// keywords are not among them).
fn metric_names(expr: &str, out: &mut BTreeSet<String>) {
    let mut word = String::new();
    let mut in_quotes = false;
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c == '"' {
            in_quotes = !in_quotes;
        }
        if !in_quotes && (c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            word.push(c);
            continue;
        }
        if ["grpc_server_", "partnership_", "process_"]
            .iter()
            .any(|p| word.starts_with(p))
        {
            out.insert(std::mem::take(&mut word));
        }
        word.clear();
    }
}

/// The metric families a scrape declares (`# TYPE name kind`), histograms
/// with their `_bucket`, `_sum` and `_count` series.
fn exported(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            out.insert(name.to_owned());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    out.insert(format!("{name}{suffix}"));
                }
            }
        }
    }
    out
}

/// The metric families a server's `/metrics` declares.
async fn scrape(app: &App) -> BTreeSet<String> {
    let request = http::Request::get(format!("http://{}/metrics", app.metrics_addr))
        .body(Full::default())
        .expect("request");
    let (_, _, body) = http1(request).await;
    exported(std::str::from_utf8(&body).expect("utf-8"))
}

/// After a write, a read and a refused read, a scrape of a running server
/// (and of one serving TLS with client certificates, for the certificate
/// expiry) declares every metric the Grafana dashboard and the Prometheus
/// alert rules in `deploy/` name.
pub async fn dashboard_and_alerts_name_only_exported_metrics(db: TestDb) {
    let mut app = App::spawn(&db).await;
    let made = create_sme(&mut app, "watched").await;
    app.smes
        .get_sme(pb::GetSmeRequest { name: made.name })
        .await
        .expect("get");
    let _ = app
        .smes
        .get_sme(pb::GetSmeRequest {
            name: "smes/missing".into(),
        })
        .await
        .expect_err("not found");

    let mut named = BTreeSet::new();
    let dashboard: serde_json::Value = serde_json::from_str(include_str!(
        "../../deploy/grafana/dashboards/partnership.json"
    ))
    .expect("dashboard JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    assert!(panels.len() >= 10, "a panel for each part of the service");
    for panel in panels {
        for target in panel["targets"].as_array().expect("targets") {
            metric_names(target["expr"].as_str().expect("expr"), &mut named);
        }
    }
    let rules: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../deploy/prometheus/alerts.yml"))
            .expect("alert rules YAML");
    let mut alerts = 0;
    for group in rules["groups"].as_sequence().expect("groups") {
        for rule in group["rules"].as_sequence().expect("rules") {
            metric_names(rule["expr"].as_str().expect("expr"), &mut named);
            assert!(
                rule["annotations"]["runbook"]
                    .as_str()
                    .is_some_and(|r| r.len() > 40),
                "{:?} says what to do",
                rule["alert"]
            );
            alerts += 1;
        }
    }
    assert!(alerts >= 6);

    let mut exported = scrape(&app).await;
    let pki = crate::transport::pki();
    let tls = App::spawn_with(
        &db,
        ServerConfig {
            tls: Some(TlsConfig {
                cert: pki.server_cert.clone().into_bytes(),
                key: pki.server_key.clone().into_bytes(),
                client_ca: Some(pki.ca.clone().into_bytes()),
            }),
            ..ServerConfig::default()
        },
    )
    .await;
    exported.extend(scrape(&tls).await);
    tls.stop().await;
    app.stop().await;
    let missing: Vec<&String> = named.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "named by the dashboard or the alerts but not exported: {missing:?}"
    );
    assert!(named.len() >= 10, "{named:?}");
}
