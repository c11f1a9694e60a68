//! The inbound endpoint under load: thousands of requests a second on
//! loopback, with bad signatures, wrong secrets, malformed and oversized
//! bodies mixed into the good ones. Nothing that should be refused is
//! accepted or delivered, everything answered 202 reaches the receiver once,
//! memory stays bounded, and the flood is logged once, not per request.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::bridge::{free_port, Scratch};
use crate::support::receiver::Receiver;

const SECRET: &str = "load-test-secret";
const REQUESTS: usize = 6000;
const CONCURRENCY: usize = 48;
/// Numbers at or above this mark requests that must be refused.
const BAD: u64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Good,
    BadSignature,
    WrongSecret,
    NotJson,
    NoEvent,
    Oversized,
}

impl Kind {
    fn of(i: usize) -> Kind {
        match i % 10 {
            0..=5 => Kind::Good,
            6 => Kind::BadSignature,
            7 => Kind::WrongSecret,
            8 => Kind::NotJson,
            _ if i % 100 == 9 => Kind::Oversized,
            _ => Kind::NoEvent,
        }
    }

    /// What the endpoint must answer (`None`: the connection may be closed
    /// before the answer, as for a body over the limit).
    fn refusal(self) -> Option<u16> {
        match self {
            Kind::Good => None,
            Kind::BadSignature | Kind::WrongSecret => Some(401),
            Kind::NotJson | Kind::NoEvent => Some(400),
            Kind::Oversized => Some(413),
        }
    }
}

fn request(http: &reqwest::Client, url: &str, i: usize, kind: Kind) -> reqwest::RequestBuilder {
    let good = format!(r#"{{"event":"load.test","data":{{"n":{i}}}}}"#);
    let bad = format!(
        r#"{{"event":"load.test","data":{{"n":{}}}}}"#,
        BAD + i as u64
    );
    let post = http.post(url).header("Content-Type", "application/json");
    match kind {
        Kind::Good => post.header("X-Webhook-Secret", SECRET).body(good),
        Kind::BadSignature => post.header("X-Webhook-Signature", "0".repeat(64)).body(bad),
        Kind::WrongSecret => post.header("X-Webhook-Secret", "not-the-secret").body(bad),
        Kind::NotJson => post.header("X-Webhook-Secret", SECRET).body(format!(
            "{{\"event\":\"load.test\",\"n\":{}",
            BAD + i as u64
        )),
        Kind::NoEvent => post
            .header("X-Webhook-Secret", SECRET)
            .body(format!(r#"{{"data":{{"n":{}}}}}"#, BAD + i as u64)),
        Kind::Oversized => {
            let mut body = bad.into_bytes();
            body.truncate(body.len() - 2);
            body.resize(body.len() + (1 << 20) + 4096, b' ');
            body.extend(b"}}");
            post.header("X-Webhook-Secret", SECRET).body(body)
        }
    }
}

fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_endpoint_under_load_accepts_only_what_it_should_and_loses_nothing_it_answered() {
    let s = Scratch::new();
    let rx = Receiver::start(SECRET).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let url = rx.url();
    let bridge = s.serve(
        &listen,
        &[("WEBHOOK_URL", url.as_str()), ("WEBHOOK_SECRET", SECRET)],
    );
    let pid = bridge.child.id();

    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .unwrap();
    let endpoint = Arc::new(format!("http://{listen}/api/v1/webhook"));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..CONCURRENCY {
        let (http, endpoint, next) = (http.clone(), endpoint.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut answers = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= REQUESTS {
                    return answers;
                }
                let kind = Kind::of(i);
                let answer = match request(&http, &endpoint, i, kind).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        Ok((status, body))
                    }
                    Err(e) => Err(e.to_string()),
                };
                answers.push((i, kind, answer));
            }
        }));
    }
    let mut answers = Vec::new();
    for w in workers {
        answers.extend(w.await.unwrap());
    }
    let elapsed = started.elapsed();

    let mut accepted: BTreeMap<String, usize> = BTreeMap::new();
    let mut tally: BTreeMap<(Kind, String), usize> = BTreeMap::new();
    for (i, kind, answer) in &answers {
        let label = match answer {
            Ok((status, _)) => status.to_string(),
            Err(_) => "closed".to_string(),
        };
        *tally.entry((*kind, label)).or_default() += 1;
        match (kind.refusal(), answer) {
            (None, Ok((202, body))) => {
                let v: serde_json::Value = serde_json::from_str(body).unwrap();
                let id = v["id"]
                    .as_str()
                    .expect("202 names the event id")
                    .to_string();
                assert_eq!(v["sinks"], serde_json::json!(["webhook"]), "{body}");
                assert!(accepted.insert(id, *i).is_none(), "one id for two requests");
            }
            (None, Ok((429, _))) => {}
            (Some(want), Ok((status, body))) => {
                assert_eq!(*status, want, "{kind:?} request {i}: {body}")
            }
            (Some(_), Err(_)) if *kind == Kind::Oversized => {}
            (_, other) => panic!("{kind:?} request {i}: unexpected answer {other:?}"),
        }
    }
    eprintln!(
        "{REQUESTS} requests in {:.2} s ({:.0}/s, {CONCURRENCY} at once): {tally:?}",
        elapsed.as_secs_f64(),
        REQUESTS as f64 / elapsed.as_secs_f64()
    );
    assert!(!accepted.is_empty(), "{tally:?}");

    // Everything answered 202 arrives, once; nothing else does.
    let got = rx
        .wait_for_accepted(accepted.len(), Duration::from_secs(120))
        .await;
    let mut delivered = BTreeSet::new();
    for r in &got {
        assert!(
            delivered.insert(r.id().to_string()),
            "{} delivered twice",
            r.id()
        );
        // Data values are strings in the payload, as captures are.
        let n: u64 = r.json["data"]["n"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no n in {}", r.json));
        assert!(n < BAD, "a refused request was delivered: {}", r.json);
        assert_eq!(
            accepted.get(r.id()).map(|&i| i as u64),
            Some(n),
            "{}",
            r.json
        );
    }
    let missing: Vec<_> = accepted
        .keys()
        .filter(|id| !delivered.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "answered 202 but never delivered: {missing:?}"
    );

    let peak_mib = peak_rss_kib(pid) / 1024;
    eprintln!("bridge peak RSS {peak_mib} MiB");
    assert!(
        peak_mib < 200,
        "memory grew to {peak_mib} MiB under load: bodies are held beyond the request"
    );

    // The flood is said once when it starts (and once when it is over), not
    // per request; refusals for bad signatures or bodies are not logged at all.
    let text = bridge.log_text();
    let floods = text.matches("events a second arrive on POST").count();
    let over = text.matches("the flood is over").count();
    let refused = answers
        .iter()
        .filter(|(_, k, a)| *k == Kind::Good && matches!(a, Ok((429, _))))
        .count();
    if refused > 0 {
        assert!(floods >= 1, "{refused} refused with 429 but no flood said");
    }
    assert!(floods <= over + 1, "the flood was said {floods} times");
    let lines = text.lines().count();
    assert!(
        lines <= accepted.len() + 40,
        "{lines} log lines for {} accepted events: something is logged per request",
        accepted.len()
    );
    assert!(bridge.terminate().is_some());
}
