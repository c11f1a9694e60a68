//! The receiver's side of spec §3: checking both signatures of a delivery, as
//! `owui-bridge listen` does (and as the README's snippets do).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::SecretKey;

/// Standard Webhooks' tolerance for `webhook-timestamp`.
pub const TOLERANCE_SECS: i64 = 300;

/// The seed's check: `X-Webhook-Signature` is the hex HMAC-SHA256 of the body.
pub fn seed_ok(key: &SecretKey, body: &[u8], signature: &str) -> bool {
    let Ok(raw) = hex::decode(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&raw).is_ok()
}

/// Standard Webhooks: any `v1,<base64>` in the header signs `id.timestamp.body`,
/// and the timestamp is within five minutes of `now`.
pub fn standard_ok(
    key: &SecretKey,
    id: &str,
    timestamp: &str,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<(), String> {
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| "webhook-timestamp is not a number".to_string())?;
    if (now - ts).abs() > TOLERANCE_SECS {
        return Err(format!("webhook-timestamp is {} s away from now (more than 5 minutes: replayed, or a clock is wrong)", now - ts));
    }
    for sig in header.split(' ') {
        let Some(b64) = sig.strip_prefix("v1,") else {
            continue;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64) else {
            continue;
        };
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()) else {
            continue;
        };
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.trim().as_bytes());
        mac.update(b".");
        mac.update(body);
        if mac.verify_slice(&raw).is_ok() {
            return Ok(());
        }
    }
    Err("no v1 signature in webhook-signature matches".into())
}

/// One delivery, readably, with its signatures checked.
pub fn describe_delivery(
    headers: &axum::http::HeaderMap,
    body: &[u8],
    key: Option<&SecretKey>,
) -> String {
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or(serde_json::Value::Null);
    let event = v["event"].as_str().unwrap_or(h("x-webhook-event"));
    let mut out = String::new();
    let verdict = match key {
        None => "signatures not checked (WEBHOOK_SECRET not set here)".to_string(),
        Some(k) => {
            let seed = if h("x-webhook-signature").is_empty() {
                "X-Webhook-Signature missing".to_string()
            } else if seed_ok(k, body, h("x-webhook-signature")) {
                "X-Webhook-Signature ok".into()
            } else {
                "X-Webhook-Signature BAD".into()
            };
            let std = match standard_ok(
                k,
                h("webhook-id"),
                h("webhook-timestamp"),
                body,
                h("webhook-signature"),
                chrono::Utc::now().timestamp(),
            ) {
                Ok(()) => "webhook-signature ok".to_string(),
                Err(e) => format!("webhook-signature BAD ({e})"),
            };
            let mark = if seed.ends_with(" ok") && std.ends_with(" ok") {
                "✔"
            } else {
                "✘ BAD SIGNATURE —"
            };
            format!("{mark} {seed}, {std}")
        }
    };
    out.push_str(&format!(
        "{event}  {}  {}\n  {verdict}\n",
        v["id"].as_str().unwrap_or(h("webhook-id")),
        v["timestamp"].as_str().unwrap_or("")
    ));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_and_tolerance() {
        let key = SecretKey::from_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        let sig = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
        assert!(standard_ok(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body,
            sig,
            1649367553
        )
        .is_ok());
        assert!(standard_ok(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body,
            &format!("v1,AAAA {sig}"),
            1649367853
        )
        .is_ok());
        assert!(standard_ok(
            &key,
            "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
            "1649367553",
            body,
            sig,
            1649367854
        )
        .is_err());
        assert!(standard_ok(&key, "msg_other", "1649367553", body, sig, 1649367553).is_err());
        let k2 = SecretKey::from_secret("my-secret").unwrap();
        assert!(seed_ok(
            &k2,
            br#"{"id":"evt_1","event":"chat.completed"}"#,
            "db7ed9878e26f2992da6065481ce2f3b06ec75e32c2eab7193347577d46836a4"
        ));
        assert!(!seed_ok(&k2, b"x", "db7e"));
    }
}
