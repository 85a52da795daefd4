//! Answers the provider signs instead of sending plain JSON: userinfo (OpenID Connect Core
//! 5.3.2, `application/jwt`) and introspection (RFC 9701,
//! `application/token-introspection+jwt`). One check for both: the media type, the
//! signature with the provider's keys and the configured algorithm (the key-set rules of ID
//! tokens), `iss` the provider's issuer, `aud` naming this client.

use serde_json::{Map, Value};

use crate::client::http::{invalid, HttpResponse};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::error::ProviderError;
use crate::protocol::jws::{parse_alg, verify_jws};

/// What a signed answer must be.
pub(crate) struct SignedAnswer<'a> {
    /// The endpoint, for errors.
    pub endpoint: &'static str,
    /// Its media type (`application/jwt`, ...).
    pub media_type: &'a str,
    /// The `typ` its header must have, if any.
    pub typ: Option<&'a str>,
    /// The signature algorithm.
    pub alg: &'a str,
    /// Whether `iss` is judged as an authorization response's `iss` parameter (JARM: no
    /// tenant claim beside it) rather than as a token's.
    pub iss_as_parameter: bool,
}

impl SignedAnswer<'_> {
    /// The claims of `response`, if it is such an answer; a plain JSON one is refused:
    /// signing was asked for.
    pub async fn verify(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        response: &HttpResponse,
    ) -> Result<Map<String, Value>, ProviderError> {
        let refuse = |reason: String| invalid(self.endpoint, reason);
        if !is_media_type(response, self.media_type) {
            return Err(refuse(format!(
                "the answer is not signed ({}), as the configuration asks",
                self.media_type
            )));
        }
        let raw = std::str::from_utf8(&response.body)
            .map_err(|_| refuse("the signed answer is not text".into()))?
            .trim();
        self.verify_jwt(client, ready, raw).await
    }

    /// The claims of the signed JWT `raw` (an answer's body, or what an encrypted one held).
    pub async fn verify_jwt(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        raw: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let refuse = |reason: String| invalid(self.endpoint, reason);
        let algs: Vec<_> = parse_alg(self.alg).into_iter().collect();
        let check = |keys: &_| verify_jws(raw, keys, &algs);
        let (header, claims) = ready
            .keys
            .check_with(&client.http, check)
            .await?
            .map_err(|_| {
                refuse(
                    "the signed answer does not verify with the provider's keys and algorithm"
                        .into(),
                )
            })?;
        if let Some(typ) = self.typ {
            let found = header
                .get("typ")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let bare = found.strip_prefix("application/").unwrap_or(found);
            if !bare.eq_ignore_ascii_case(typ) {
                return Err(refuse(format!("the signed answer's typ is not {typ}")));
            }
        }
        let claims: Map<String, Value> = claims.into_iter().collect();
        let issuer_ok = claims
            .get("iss")
            .and_then(Value::as_str)
            .is_some_and(|iss| {
                let rule = client.issuer_rule(ready);
                if self.iss_as_parameter {
                    rule.accepts_parameter(iss)
                } else {
                    rule.accepts(iss, &claims)
                }
            });
        if !issuer_ok {
            return Err(refuse("the signed answer is from another issuer".into()));
        }
        let client_id = ready.credentials.client_id.as_str();
        let for_us = match claims.get("aud") {
            Some(Value::String(aud)) => aud == client_id,
            Some(Value::Array(list)) => list.iter().any(|a| a.as_str() == Some(client_id)),
            _ => false,
        };
        if !for_us {
            return Err(refuse("the signed answer is for another client".into()));
        }
        Ok(claims)
    }
}

/// Whether `response` has the media type `expected` (parameters such as `charset` aside).
pub(crate) fn is_media_type(response: &HttpResponse, expected: &str) -> bool {
    response
        .content_type
        .as_deref()
        .and_then(|ct| ct.split(';').next())
        .map(str::trim)
        .is_some_and(|media| media.eq_ignore_ascii_case(expected))
}
