//! The bridge's counters, gauges and the delivery-latency histogram, and
//! their Prometheus text rendering (`GET /metrics`). One process-wide
//! registry; labels stay bounded (event names, sink names, outcomes), never
//! ids. Gauges that live on disk (outbox pending, dead letters) are read from
//! the outbox when scraped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Upper bounds of the latency histogram, in seconds.
const BUCKETS: &[f64] = &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

#[derive(Default)]
pub struct Metrics {
    pub lines: AtomicU64,
    pub records: AtomicU64,
    pub docker_reconnects: AtomicU64,
    pub rules_loaded: AtomicU64,
    pub rule_reload_errors: AtomicU64,
    pub inbound_webhooks: AtomicU64,
    events: Mutex<BTreeMap<String, u64>>,
    deliveries: Mutex<BTreeMap<(String, &'static str), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
}

#[derive(Default, Clone)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::default);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn event(&self, name: &str) {
        *lock(&self.events).entry(name.to_string()).or_default() += 1;
    }

    /// One delivery attempt and how it ended (`delivered`, `retry`, `rejected`).
    pub fn delivery(&self, sink: &str, outcome: &'static str, took: Duration) {
        *lock(&self.deliveries)
            .entry((sink.to_string(), outcome))
            .or_default() += 1;
        let mut lat = lock(&self.latency);
        let h = lat.entry(sink.to_string()).or_insert_with(|| Histogram {
            counts: vec![0; BUCKETS.len()],
            ..Default::default()
        });
        let secs = took.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                h.counts[i] += 1;
            }
        }
        h.sum += secs;
        h.count += 1;
    }

    /// How many rules are in force (after a start or a reload).
    pub fn set_rules_loaded(&self, n: usize) {
        self.rules_loaded.store(n as u64, Ordering::Relaxed);
    }

    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self, pending: &BTreeMap<String, u64>, dead: &BTreeMap<String, u64>) -> String {
        let mut o = String::new();
        let counter = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            &mut o,
            "owui_bridge_lines_total",
            "Log lines read.",
            self.lines.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "owui_bridge_records_total",
            "Records assembled from lines.",
            self.records.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "owui_bridge_docker_reconnects_total",
            "Times a container's log stream was attached again.",
            self.docker_reconnects.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "owui_bridge_rule_reload_errors_total",
            "Rule reloads refused because a file was invalid.",
            self.rule_reload_errors.load(Ordering::Relaxed),
        );
        counter(
            &mut o,
            "owui_bridge_inbound_webhooks_total",
            "Events accepted on POST /api/v1/webhook.",
            self.inbound_webhooks.load(Ordering::Relaxed),
        );
        let _ = writeln!(o, "# HELP owui_bridge_rules_loaded Rules in force.\n# TYPE owui_bridge_rules_loaded gauge\nowui_bridge_rules_loaded {}", self.rules_loaded.load(Ordering::Relaxed));

        let _ = writeln!(o, "# HELP owui_bridge_events_total Events produced, by event name.\n# TYPE owui_bridge_events_total counter");
        for (name, v) in lock(&self.events).iter() {
            let _ = writeln!(
                o,
                "owui_bridge_events_total{{event=\"{}\"}} {v}",
                escape(name)
            );
        }
        let _ = writeln!(o, "# HELP owui_bridge_deliveries_total Delivery attempts, by sink and outcome.\n# TYPE owui_bridge_deliveries_total counter");
        for ((sink, outcome), v) in lock(&self.deliveries).iter() {
            let _ = writeln!(
                o,
                "owui_bridge_deliveries_total{{sink=\"{}\",outcome=\"{outcome}\"}} {v}",
                escape(sink)
            );
        }
        let _ = writeln!(o, "# HELP owui_bridge_delivery_seconds Time of one delivery attempt.\n# TYPE owui_bridge_delivery_seconds histogram");
        for (sink, h) in lock(&self.latency).iter() {
            let s = escape(sink);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    o,
                    "owui_bridge_delivery_seconds_bucket{{sink=\"{s}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                o,
                "owui_bridge_delivery_seconds_bucket{{sink=\"{s}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                o,
                "owui_bridge_delivery_seconds_sum{{sink=\"{s}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                o,
                "owui_bridge_delivery_seconds_count{{sink=\"{s}\"}} {}",
                h.count
            );
        }
        let _ = writeln!(o, "# HELP owui_bridge_outbox_pending Events waiting for delivery, by sink.\n# TYPE owui_bridge_outbox_pending gauge");
        for (sink, v) in pending {
            let _ = writeln!(
                o,
                "owui_bridge_outbox_pending{{sink=\"{}\"}} {v}",
                escape(sink)
            );
        }
        let _ = writeln!(o, "# HELP owui_bridge_dead_letters Events given up on and kept on disk, by sink.\n# TYPE owui_bridge_dead_letters gauge");
        for (sink, v) in dead {
            let _ = writeln!(
                o,
                "owui_bridge_dead_letters{{sink=\"{}\"}} {v}",
                escape(sink)
            );
        }
        o
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        Metrics::add(&m.lines, 3);
        m.event("file.uploaded");
        m.delivery("webhook", "delivered", Duration::from_millis(30));
        let mut pending = BTreeMap::new();
        pending.insert("webhook".to_string(), 2);
        let text = m.render(&pending, &BTreeMap::new());
        assert!(text.contains("owui_bridge_lines_total 3\n"));
        assert!(text.contains("owui_bridge_events_total{event=\"file.uploaded\"} 1\n"));
        assert!(text
            .contains("owui_bridge_deliveries_total{sink=\"webhook\",outcome=\"delivered\"} 1\n"));
        assert!(
            text.contains("owui_bridge_delivery_seconds_bucket{sink=\"webhook\",le=\"0.025\"} 0\n")
        );
        assert!(
            text.contains("owui_bridge_delivery_seconds_bucket{sink=\"webhook\",le=\"0.05\"} 1\n")
        );
        assert!(text.contains("owui_bridge_outbox_pending{sink=\"webhook\"} 2\n"));
    }
}
