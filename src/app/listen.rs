//! `owui-bridge listen`: a local receiver for trying things out. It prints
//! each event POSTed to it readably, with both signatures checked against
//! `WEBHOOK_SECRET`: a delivery is good when at least one signature scheme
//! it carries verifies and none it carries fails (a receiver needs only one
//! of them; a wrong one is worth a warning either way).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::ExitCode;

use axum::http::{HeaderMap, Method, StatusCode};

use super::{load_env, runtime, shutdown_signal, Fail};
use crate::cli::ListenArgs;
use crate::secret::SecretKey;
use crate::sink::signature;

pub(super) fn listen(args: ListenArgs) -> Result<ExitCode, Fail> {
    let env = load_env()?;
    let secret = env
        .secret("WEBHOOK_SECRET")
        .map_err(|e| Fail::usage(e.to_string()))?;
    let key = match &secret {
        Some(s) => Some(
            SecretKey::from_secret(s)
                .map_err(|r| Fail::usage(format!("invalid value for WEBHOOK_SECRET: {r}")))?,
        ),
        None => None,
    };
    let addr = args.addr.0;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Fail::usage(format!(
                "cannot listen on {addr}: {e}; choose another --addr"
            ))
        })?;
        println!(
            "listening on {addr} — set WEBHOOK_URL={} and run 'owui-bridge send-test'",
            url_to_reach(addr)
        );
        if addr.ip().is_unspecified() {
            println!("(from another container or machine, use this machine's address or name instead of 127.0.0.1)");
        }
        if key.is_none() {
            println!("WEBHOOK_SECRET is not set here, so signatures cannot be checked");
        }
        let app = axum::Router::new().fallback(
            move |method: Method, headers: HeaderMap, body: axum::body::Bytes| {
                let key = key.clone();
                async move { receive(&method, &headers, &body, key.as_ref()) }
            },
        );
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(|e| Fail::runtime(e.to_string()))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The URL a sender on this machine uses: a wildcard bind is reached on loopback.
fn url_to_reach(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}/", SocketAddr::new(ip, addr.port()))
}

/// One request: an event is printed and answered 200; anything else is
/// answered as a receiver would (405 for other methods, 400 for a body that
/// is not a JSON event) and said on one line.
fn receive(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&SecretKey>,
) -> (StatusCode, &'static str) {
    if method != Method::POST {
        println!("{method} request ignored: events arrive as POST (this answers 405)");
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            "owui-bridge listen takes events as POST requests\n",
        );
    }
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) if v.is_object() => {
            println!("{}", describe_delivery(&v, headers, body, key));
            (StatusCode::OK, "")
        }
        _ => {
            println!(
                "POST of {} bytes that is not a JSON object ignored (this answers 400)",
                body.len()
            );
            (StatusCode::BAD_REQUEST, "the body is not a JSON event\n")
        }
    }
}

/// One delivery, readably, with its signatures checked.
fn describe_delivery(
    v: &serde_json::Value,
    headers: &HeaderMap,
    body: &[u8],
    key: Option<&SecretKey>,
) -> String {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let event = v["event"].as_str().unwrap_or(h("x-webhook-event"));
    let verdict = match key {
        None => "signatures not checked (WEBHOOK_SECRET not set here)".to_string(),
        Some(k) => verdict(k, headers, body, chrono::Utc::now().timestamp()),
    };
    let mut out = format!(
        "{event}  {}  {}\n  {verdict}\n",
        v["id"].as_str().unwrap_or(h("webhook-id")),
        v["timestamp"].as_str().unwrap_or("")
    );
    if let Some(data) = v["data"].as_object() {
        for (k, val) in data {
            let text = val
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| val.to_string());
            out.push_str(&format!("  {k} = {}\n", crate::event::cut(&text, 300)));
        }
    }
    if let Some(log) = v["log"].as_str().filter(|l| !l.is_empty()) {
        out.push_str(&format!(
            "  log: {}\n",
            crate::event::cut(log.lines().next().unwrap_or(""), 300)
        ));
    }
    out
}

/// `✔ …` when a signature verifies and none fails, else `✘ …` with why.
fn verdict(key: &SecretKey, headers: &HeaderMap, body: &[u8], now: i64) -> String {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let hex = match h("x-webhook-signature") {
        "" => None,
        sig => Some(signature::verify_hex(key, body, sig)),
    };
    let standard = match h("webhook-signature") {
        "" => None,
        sig => Some(signature::verify_standard(
            key,
            h("webhook-id"),
            h("webhook-timestamp"),
            body,
            sig,
            now,
        )),
    };
    let hex_text = match hex {
        None => "X-Webhook-Signature missing".to_string(),
        Some(true) => "X-Webhook-Signature ok".into(),
        Some(false) => "X-Webhook-Signature BAD".into(),
    };
    let std_text = match &standard {
        None => "webhook-signature missing".to_string(),
        Some(Ok(())) => "webhook-signature ok".into(),
        Some(Err(e)) => format!("webhook-signature BAD ({e})"),
    };
    let any_good = hex == Some(true) || matches!(standard, Some(Ok(())));
    let any_bad = hex == Some(false) || matches!(standard, Some(Err(_)));
    let mark = match (any_good, any_bad) {
        (true, false) => "✔",
        (false, false) => "✘ UNSIGNED —",
        _ => "✘ BAD SIGNATURE —",
    };
    format!("{mark} {hex_text}, {std_text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn one_valid_scheme_is_enough_and_a_bad_one_is_flagged() {
        let key = SecretKey::from_secret("s3cret").unwrap();
        let body = br#"{"id":"evt_1","event":"test"}"#;
        let now = 1_800_000_000;
        let hex = signature::sign_hex(&key, body);
        let std = signature::sign_standard(&key, "evt_1", now, body);
        let std_headers = |sig: String| {
            vec![
                ("webhook-id", "evt_1".to_string()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", sig),
            ]
        };
        let only_hex = verdict(
            &key,
            &headers(&[("x-webhook-signature", hex.clone())]),
            body,
            now,
        );
        assert!(
            only_hex.starts_with("✔ X-Webhook-Signature ok, webhook-signature missing"),
            "{only_hex}"
        );
        let only_std = verdict(&key, &headers(&std_headers(std.clone())), body, now);
        assert!(
            only_std.starts_with("✔ X-Webhook-Signature missing, webhook-signature ok"),
            "{only_std}"
        );
        let mut both = std_headers(std);
        both.push(("x-webhook-signature", hex));
        assert_eq!(
            verdict(&key, &headers(&both), body, now),
            "✔ X-Webhook-Signature ok, webhook-signature ok"
        );
        both.pop();
        both.push(("x-webhook-signature", "00".repeat(32)));
        assert!(verdict(&key, &headers(&both), body, now).starts_with("✘ BAD SIGNATURE"));
        assert!(verdict(&key, &HeaderMap::new(), body, now).starts_with("✘ UNSIGNED"));
    }

    #[test]
    fn wildcard_binds_are_reached_on_loopback() {
        assert_eq!(
            url_to_reach("0.0.0.0:9000".parse().unwrap()),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(
            url_to_reach("[::]:9000".parse().unwrap()),
            "http://127.0.0.1:9000/"
        );
        assert_eq!(
            url_to_reach("192.0.2.7:80".parse().unwrap()),
            "http://192.0.2.7:80/"
        );
    }
}
