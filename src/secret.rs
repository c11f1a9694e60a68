//! Secrets and the way they are shown: the HMAC key of `WEBHOOK_SECRET`, the
//! secret's text, and URLs whose paths are credentials (Discord, Slack and
//! Telegram put their tokens there). Nothing here is ever printed whole:
//! `Debug` says only that a secret is set, and [`mask_url`] keeps the host.
//!
//! A leaf: every stage may use it, it uses none.

use std::fmt;

use base64::Engine;
use reqwest::Url;

/// An HMAC key. Never printed: `Debug` shows only that it is set.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey(Vec<u8>);

impl SecretKey {
    /// Spec §3: the bytes of the secret; with a `whsec_` prefix, the base64 decoding of the rest.
    pub fn from_secret(secret: &str) -> Result<SecretKey, String> {
        match secret.strip_prefix("whsec_") {
            Some(b64) => {
                let key = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("starts with whsec_ but the rest is not valid base64 ({e}); use the secret exactly as your receiver shows it"))?;
                if key.is_empty() {
                    return Err("starts with whsec_ but holds no key bytes".into());
                }
                Ok(SecretKey(key))
            }
            None => Ok(SecretKey(secret.as_bytes().to_vec())),
        }
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(****)")
    }
}

/// A secret's text (the inbound webhook compares it). Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(pub String);

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(****)")
    }
}

/// A URL safe to print: scheme, host and port, the first path segment, and `****` for
/// the rest (webhook paths and query strings are credentials).
pub fn mask_url(url: &Url) -> String {
    let mut out = format!("{}://{}", url.scheme(), url.host_str().unwrap_or(""));
    if let Some(port) = url.port() {
        out.push_str(&format!(":{port}"));
    }
    let mut segs = url
        .path_segments()
        .into_iter()
        .flatten()
        .filter(|s| !s.is_empty());
    if let Some(first) = segs.next() {
        out.push('/');
        out.push_str(first);
    }
    if segs.next().is_some() || url.query().is_some() {
        out.push_str("/****");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whsec_secret_is_base64_decoded() {
        let k = SecretKey::from_secret("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(k.bytes().len(), 24);
        assert!(SecretKey::from_secret("whsec_***").is_err());
        assert_eq!(format!("{k:?}"), "SecretKey(****)");
    }

    #[test]
    fn masked_urls_hide_tokens() {
        let u = Url::parse("https://discord.com/api/webhooks/123/abcdefTOKEN?wait=true").unwrap();
        assert_eq!(mask_url(&u), "https://discord.com/api/****");
        let u = Url::parse("http://127.0.0.1:9000/").unwrap();
        assert_eq!(mask_url(&u), "http://127.0.0.1:9000");
    }
}
