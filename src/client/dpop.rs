//! DPoP at the provider (RFC 9449): requests that obtain or use a session's bound tokens carry
//! a fresh proof of its key, and the provider's nonces are remembered and answered.
//!
//! A provider may ask for a nonce at any endpoint (`use_dpop_nonce`: a 400 from the token
//! endpoint, a 401 with `WWW-Authenticate: DPoP error="use_dpop_nonce"` from a resource such
//! as userinfo) and sends it in a `DPoP-Nonce` header: the request is made once more with it.
//! Every `DPoP-Nonce` seen is kept for that server (per provider and origin), so later
//! requests send it at once and a challenge is the exception.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::client::http::{HttpClient, HttpResponse};
use crate::error::ProviderError;
use crate::protocol::dpop::DpopKey;
use crate::util::clock::unix_now;

/// At most this many servers' nonces are kept per provider (its endpoints' origins: a few).
const MAX_SERVERS: usize = 16;

/// The last `DPoP-Nonce` of each of a provider's servers (by origin).
#[derive(Debug, Default)]
pub(crate) struct DpopNonces(Mutex<HashMap<String, String>>);

impl DpopNonces {
    fn origin(url: &str) -> Option<String> {
        url::Url::parse(url)
            .ok()
            .map(|u| u.origin().ascii_serialization())
    }

    /// The nonce last given by the server of `url`.
    pub fn get(&self, url: &str) -> Option<String> {
        let origin = Self::origin(url)?;
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&origin)
            .cloned()
    }

    /// Keeps `nonce` for the server of `url`.
    pub fn remember(&self, url: &str, nonce: &str) {
        let Some(origin) = Self::origin(url) else {
            return;
        };
        let mut nonces = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if nonces.len() >= MAX_SERVERS && !nonces.contains_key(&origin) {
            nonces.clear();
        }
        nonces.insert(origin, nonce.to_owned());
    }
}

/// What a request to the provider proves, if anything: the key, and the access token it
/// carries (for `ath`).
#[derive(Clone, Copy)]
pub(crate) struct Proof<'a> {
    pub key: &'a DpopKey,
    pub access_token: Option<&'a str>,
}

/// Sends the request `build` makes (a new one for a retry: a client assertion is never sent
/// twice), with a DPoP proof when `proof` says so; a nonce challenge is answered once.
pub(crate) async fn send_with_proof<F>(
    (http, nonces): (&HttpClient, &DpopNonces),
    endpoint: &'static str,
    method: &str,
    url: &str,
    proof: Option<Proof<'_>>,
    build: F,
) -> Result<HttpResponse, ProviderError>
where
    F: Fn() -> Result<reqwest::RequestBuilder, ProviderError>,
{
    let Some(proof) = proof else {
        return http.send(endpoint, build()?).await;
    };
    let mut challenged = false;
    loop {
        let nonce = nonces.get(url);
        let jwt = proof
            .key
            .proof(
                method,
                url,
                proof.access_token,
                nonce.as_deref(),
                unix_now(),
            )
            .map_err(ProviderError::DpopProof)?;
        let response = http.send(endpoint, build()?.header("DPoP", jwt)).await?;
        if let Some(nonce) = &response.dpop_nonce {
            nonces.remember(url, nonce);
        }
        if !challenged && response.dpop_nonce.is_some() && asks_for_nonce(&response) {
            challenged = true;
            continue;
        }
        return Ok(response);
    }
}

/// Whether the answer is a nonce challenge: `use_dpop_nonce` as the token endpoint's error
/// (400) or in a resource's `WWW-Authenticate: DPoP` header (401).
fn asks_for_nonce(response: &HttpResponse) -> bool {
    match response.status {
        400 => response
            .json_object("token endpoint")
            .is_ok_and(|body| body.get("error").and_then(Value::as_str) == Some("use_dpop_nonce")),
        401 => response.www_authenticate.as_deref().is_some_and(|header| {
            let header = header.trim_start();
            header.len() > 5
                && header[..5].eq_ignore_ascii_case("dpop ")
                && header.contains("error=\"use_dpop_nonce\"")
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, www: Option<&str>, body: &str) -> HttpResponse {
        HttpResponse {
            status,
            content_type: Some("application/json".into()),
            dpop_nonce: Some("n".into()),
            www_authenticate: www.map(str::to_owned),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn nonce_challenges_are_told_from_other_errors() {
        assert!(asks_for_nonce(&response(
            400,
            None,
            r#"{"error":"use_dpop_nonce"}"#
        )));
        assert!(!asks_for_nonce(&response(
            400,
            None,
            r#"{"error":"invalid_grant"}"#
        )));
        let www = r#"DPoP error="use_dpop_nonce", error_description="nonce required""#;
        assert!(asks_for_nonce(&response(401, Some(www), "")));
        assert!(!asks_for_nonce(&response(
            401,
            Some(r#"DPoP error="invalid_token""#),
            ""
        )));
        assert!(!asks_for_nonce(&response(
            401,
            Some(r#"Bearer error="use_dpop_nonce""#),
            ""
        )));
        assert!(!asks_for_nonce(&response(
            500,
            None,
            r#"{"error":"use_dpop_nonce"}"#
        )));
    }

    #[test]
    fn nonces_are_kept_per_server() {
        let nonces = DpopNonces::default();
        nonces.remember("https://op.example/token", "a");
        assert_eq!(
            nonces.get("https://op.example:443/userinfo").as_deref(),
            Some("a")
        );
        assert_eq!(nonces.get("https://api.example/x"), None);
        for i in 0..40 {
            nonces.remember(&format!("https://s{i}.example/"), "x");
        }
        assert!(nonces.0.lock().unwrap().len() <= MAX_SERVERS);
    }
}
