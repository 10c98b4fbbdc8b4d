//! The Grafana dashboard cannot drift from the code: every metric a panel queries must be one
//! the release agent exports, scraped from a running agent that was driven through a write and
//! an eAPI failure so that every labelled series exists (a labelled family with no children
//! prints nothing, not even `# HELP`).

use std::collections::BTreeSet;
use std::time::Duration;

use doublezero_bgpstatus::serviceability::BgpStatus;
use doublezero_bgpstatus_e2e::devnet::Devnet;
use doublezero_bgpstatus_e2e::eapi_sim::Fault as SwitchFault;
use serde_json::Value;

const SETTLE: Duration = Duration::from_secs(30);

fn dashboard() -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../eos-extension/grafana-dashboard.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `expr` in the dashboard, panels and template variables alike.
fn exprs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr" | "definition", Value::String(expr)) => found.push(expr.clone()),
                    _ => exprs(value, found),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, found)),
        _ => {}
    }
}

/// The agent's metric names in a PromQL expression: every identifier of its prefixes. PromQL
/// functions and labels never start with them.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("doublezero_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(tail.len());
        names.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    names
}

/// Sample names in Prometheus text exposition (histograms as `_bucket`, `_sum`, `_count`).
fn exported(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .map(|line| {
            line.split(['{', ' '])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(r#"sum(rate(doublezero_a_bucket{device=~"$device"}[5m])) / doublezero_b"#),
        ["doublezero_a_bucket", "doublezero_b"]
    );
}

#[test]
fn every_panel_is_filtered_by_the_device_variable() {
    let dashboard = dashboard();
    let mut found = Vec::new();
    exprs(&dashboard["panels"], &mut found);
    assert!(found.len() > 10, "{found:?}");
    for expr in found {
        for name in metric_names(&expr) {
            let selector = format!("{name}{{device=~\"$device\"}}");
            assert!(
                expr.contains(&selector),
                "{name} is not filtered by $device in {expr}"
            );
        }
    }
    let device = &dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "device")
        .expect("a device variable")["definition"];
    assert_eq!(
        device,
        "label_values(doublezero_bgpstatus_build_info, device)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_the_dashboard_queries_is_exported_by_the_agent() {
    let devnet = Devnet::start(2, Duration::from_millis(400)).await.unwrap();
    devnet.session(0, Some("Established")).unwrap();
    let agent = devnet.spawn_agent(&[]).await.unwrap();
    // A write (submissions by result, latency, batching) …
    assert!(
        devnet
            .wait_until(SETTLE, |d| d.chain_status(0) == BgpStatus::Up
                && d.chain_status(1) == BgpStatus::Down)
            .await,
        "{}",
        agent.log()
    );
    // … and an eAPI failure (failures by kind).
    devnet.switch.set_fault(SwitchFault::SocketGone).unwrap();
    let mut failed = false;
    for _ in 0..100 {
        let sample =
            "doublezero_bgpstatus_eapi_observation_failures_total{kind=\"socket_missing\"}";
        if agent.metric(sample).await.is_some_and(|n| n >= 1.0) {
            failed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    devnet.switch.clear_fault().unwrap();
    assert!(failed, "{}", agent.log());

    let exported = exported(&agent.get("/metrics").await.unwrap());
    let mut found = Vec::new();
    exprs(&dashboard(), &mut found);
    let queried: BTreeSet<String> = found.iter().flat_map(|e| metric_names(e)).collect();
    let missing: Vec<&String> = queried.difference(&exported).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries metrics the agent does not export: {missing:?}\nexported: {exported:#?}"
    );
    assert!(queried.contains("doublezero_bgpstatus_fee_floor_lamports"));
    assert!(queried.contains("doublezero_telemetry_programdata_stale_cache_age_seconds"));
}
