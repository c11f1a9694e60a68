//! The two signatures of spec §3, signed and checked in one place: the
//! webhook sink signs with them, `owui-bridge listen` checks deliveries with
//! them, and the inbound endpoint checks callers with the first.
//!
//! * `X-Webhook-Signature`: lowercase hex HMAC-SHA256 of the body (what the
//!   seed's `verify_webhook(payload, signature, secret)` checks). When
//!   checking, a `sha256=` prefix (GitHub's spelling) and upper-case hex are
//!   accepted too: both tell the same MAC, and a sender that writes them
//!   should not be refused for it. We always send the bare lowercase form.
//! * Standard Webhooks: `webhook-signature: v1,<base64 HMAC-SHA256 of
//!   "<id>.<timestamp>.<body>">`, possibly several space-separated; the
//!   timestamp must be within [`TOLERANCE_SECS`] of now.
//!
//! Comparisons are constant-time (`Mac::verify_slice`).

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::secret::SecretKey;

/// Standard Webhooks' tolerance for `webhook-timestamp`.
pub const TOLERANCE_SECS: i64 = 300;

fn mac(key: &SecretKey) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("HMAC takes any key length")
}

/// The `X-Webhook-Signature` value for `body`: lowercase hex HMAC-SHA256.
pub fn sign_hex(key: &SecretKey, body: &[u8]) -> String {
    let mut m = mac(key);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// The `webhook-signature` value: `v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`.
pub fn sign_standard(key: &SecretKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    let mut m = standard_mac(key, id, &timestamp.to_string());
    m.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(m.finalize().into_bytes())
    )
}

fn standard_mac(key: &SecretKey, id: &str, timestamp: &str) -> Hmac<Sha256> {
    let mut m = mac(key);
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.as_bytes());
    m.update(b".");
    m
}

/// Whether `header` (an `X-Webhook-Signature` value) is the HMAC of `body`.
pub fn verify_hex(key: &SecretKey, body: &[u8], header: &str) -> bool {
    let sig = header.trim();
    let sig = sig.strip_prefix("sha256=").unwrap_or(sig);
    let Ok(raw) = hex::decode(sig) else {
        return false;
    };
    let mut m = mac(key);
    m.update(body);
    m.verify_slice(&raw).is_ok()
}

/// Standard Webhooks: some `v1,<base64>` in `header` signs `id.timestamp.body`,
/// and the timestamp is within five minutes of `now`. The error says why not.
pub fn verify_standard(
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
        let mut m = standard_mac(key, id, timestamp.trim());
        m.update(body);
        if m.verify_slice(&raw).is_ok() {
            return Ok(());
        }
    }
    Err("no v1 signature in webhook-signature matches".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The known-answer vector of the Standard Webhooks specification.
    const STD_KEY: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const STD_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const STD_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const STD_SIG: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    // python3 -c 'import hmac,hashlib;print(hmac.new(b"my-secret",b"{\"id\":\"evt_1\",\"event\":\"chat.completed\"}",hashlib.sha256).hexdigest())'
    const HEX_BODY: &[u8] = br#"{"id":"evt_1","event":"chat.completed"}"#;
    const HEX_SIG: &str = "db7ed9878e26f2992da6065481ce2f3b06ec75e32c2eab7193347577d46836a4";

    #[test]
    fn standard_webhooks_known_answer() {
        let key = SecretKey::from_secret(STD_KEY).unwrap();
        assert_eq!(sign_standard(&key, STD_ID, 1649367553, STD_BODY), STD_SIG);
        assert!(verify_standard(&key, STD_ID, "1649367553", STD_BODY, STD_SIG, 1649367553).is_ok());
        // One good signature among several is enough.
        let several = format!("v1,AAAA {STD_SIG}");
        assert!(
            verify_standard(&key, STD_ID, "1649367553", STD_BODY, &several, 1649367853).is_ok()
        );
        // Five minutes and one second late, another id, another body.
        assert!(
            verify_standard(&key, STD_ID, "1649367553", STD_BODY, STD_SIG, 1649367854).is_err()
        );
        assert!(verify_standard(
            &key,
            "msg_other",
            "1649367553",
            STD_BODY,
            STD_SIG,
            1649367553
        )
        .is_err());
        assert!(verify_standard(&key, STD_ID, "1649367553", b"{}", STD_SIG, 1649367553).is_err());
        assert!(verify_standard(&key, STD_ID, "soon", STD_BODY, STD_SIG, 1649367553).is_err());
    }

    #[test]
    fn hex_known_answer_and_accepted_spellings() {
        let key = SecretKey::from_secret("my-secret").unwrap();
        assert_eq!(sign_hex(&key, HEX_BODY), HEX_SIG);
        assert!(verify_hex(&key, HEX_BODY, HEX_SIG));
        assert!(verify_hex(&key, HEX_BODY, &format!("sha256={HEX_SIG}")));
        assert!(verify_hex(&key, HEX_BODY, &HEX_SIG.to_uppercase()));
        assert!(verify_hex(&key, HEX_BODY, &format!(" {HEX_SIG}\n")));
        assert!(!verify_hex(&key, HEX_BODY, &format!("sha1={HEX_SIG}")));
        assert!(!verify_hex(&key, b"x", HEX_SIG));
        assert!(!verify_hex(&key, HEX_BODY, "db7e"));
        assert!(!verify_hex(&key, HEX_BODY, ""));
        let other = SecretKey::from_secret("other-secret").unwrap();
        assert!(!verify_hex(&other, HEX_BODY, HEX_SIG));
    }
}
