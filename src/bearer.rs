//! API protection: bearer access tokens validated locally as JWTs (RFC 9068) or by
//! introspection (RFC 7662, cached until the token expires), and the RFC 6750 errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::config::AccessTokenValidation;
use crate::error::{ProviderError, TokenError};
use crate::flow::{unix_now, RelyingParty};
use crate::provider::{ProviderClient, ReadyProvider};
use crate::token::{allowed_algs, verify_jws};

/// At most this many introspection results are kept.
const CACHE_CAPACITY: usize = 10_000;

/// What a validated access token says: its claims (from the JWT or the introspection response).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::AccessTokenInfo;
///
/// let info = AccessTokenInfo::from_claims(serde_json::json!({
///     "sub": "alice", "client_id": "app", "scope": "api read"
/// }));
/// assert!(info.has_scope("api"));
/// assert_eq!(info.scopes(), ["api", "read"]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AccessTokenInfo {
    claims: Map<String, Value>,
}

impl AccessTokenInfo {
    /// Wraps claims (a JSON object; anything else gives no claims).
    pub fn from_claims(claims: Value) -> Self {
        let claims = match claims {
            Value::Object(map) => map,
            _ => Map::new(),
        };
        AccessTokenInfo { claims }
    }

    /// The `sub` claim, if any.
    pub fn subject(&self) -> Option<&str> {
        self.claims.get("sub").and_then(Value::as_str)
    }

    /// The `client_id` claim (or `azp`), if any.
    pub fn client_id(&self) -> Option<&str> {
        self.claims
            .get("client_id")
            .or_else(|| self.claims.get("azp"))
            .and_then(Value::as_str)
    }

    /// The granted scopes: `scope` (space-separated) or `scp` (a list or a string).
    pub fn scopes(&self) -> Vec<&str> {
        match self.claims.get("scope").or_else(|| self.claims.get("scp")) {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }

    /// Whether `scope` was granted.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scopes().contains(&scope)
    }

    /// When the token expires (Unix time), if known.
    pub fn expires_at(&self) -> Option<i64> {
        self.claims.get("exp").and_then(Value::as_i64)
    }

    /// All claims.
    pub fn claims(&self) -> &Map<String, Value> {
        &self.claims
    }
}

/// Why a bearer token was refused (RFC 6750). Every one is a responder with the right status
/// and `WWW-Authenticate` header.
#[derive(Debug, Clone, Error)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization: Bearer` header.
    #[error("no bearer token")]
    Missing,
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("malformed authorization header")]
    Malformed,
    /// The token is invalid, expired, revoked, or for someone else.
    #[error("invalid token: {0}")]
    Invalid(String),
    /// The token lacks scopes the route requires.
    #[error("insufficient scope: {}", .0.join(" "))]
    InsufficientScope(Vec<String>),
    /// The provider (key set, introspection) cannot be reached.
    #[error(transparent)]
    Unavailable(#[from] ProviderError),
}

impl BearerError {
    /// The HTTP status: 401, 403 for missing scopes, 503 when the provider is unavailable.
    pub fn status_code(&self) -> u16 {
        match self {
            BearerError::InsufficientScope(_) => 403,
            BearerError::Malformed => 400,
            BearerError::Unavailable(e) if e.is_unreachable() => 503,
            BearerError::Unavailable(_) => 502,
            _ => 401,
        }
    }

    /// The RFC 6750 `error` code, if any.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            BearerError::Missing => None,
            BearerError::Malformed => Some("invalid_request"),
            BearerError::Invalid(_) => Some("invalid_token"),
            BearerError::InsufficientScope(_) => Some("insufficient_scope"),
            BearerError::Unavailable(_) => None,
        }
    }

    /// The `WWW-Authenticate` header value for `realm`.
    pub fn www_authenticate(&self, realm: &str) -> String {
        let quote = |s: &str| s.replace(['\\', '"'], "");
        let mut value = format!("Bearer realm=\"{}\"", quote(realm));
        if let Some(code) = self.error_code() {
            value.push_str(&format!(", error=\"{code}\""));
        }
        if let BearerError::InsufficientScope(scopes) = self {
            value.push_str(&format!(", scope=\"{}\"", quote(&scopes.join(" "))));
        }
        value
    }
}

impl From<TokenError> for BearerError {
    fn from(error: TokenError) -> Self {
        BearerError::Invalid(error.to_string())
    }
}

/// An introspection outcome and until when (Unix time) it may be reused: an active token's
/// claims, `None` for an inactive token, or a failure (kept a few seconds, so that concurrent
/// requests do not queue behind a hanging provider one timeout after the other).
type CachedOutcome = (Result<Option<AccessTokenInfo>, BearerError>, i64);

/// An inactive token is re-checked after this many seconds at the latest.
const INACTIVE_FOR: i64 = 30;
/// A failed introspection is reported for this many seconds without a new call.
const FAILED_FOR: i64 = 5;
/// The claims of an introspection answer that are kept.
const KEPT_CLAIMS: &[&str] = &[
    "active",
    "iss",
    "sub",
    "aud",
    "client_id",
    "azp",
    "scope",
    "scp",
    "exp",
    "iat",
    "nbf",
    "token_type",
    "cnf",
    "username",
];

/// Introspection results by token (hashed), until the token's `exp` or the configured max age.
#[derive(Default)]
pub(crate) struct IntrospectionCache(
    Mutex<HashMap<[u8; 32], Arc<tokio::sync::OnceCell<CachedOutcome>>>>,
);

impl IntrospectionCache {
    fn entry(&self, key: [u8; 32], now: i64) -> Arc<tokio::sync::OnceCell<CachedOutcome>> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let expired = map
            .get(&key)
            .and_then(|cell| cell.get())
            .is_some_and(|(_, until)| *until <= now);
        if expired {
            map.remove(&key);
        }
        if map.len() >= CACHE_CAPACITY {
            // Expired entries go first, then inactive and failed ones; only then everything.
            map.retain(|_, cell| cell.get().is_none_or(|(_, until)| *until > now));
            if map.len() >= CACHE_CAPACITY {
                map.retain(|_, cell| {
                    cell.get()
                        .is_none_or(|(result, _)| matches!(result, Ok(Some(_))))
                });
            }
            if map.len() >= CACHE_CAPACITY {
                map.clear();
            }
        }
        map.entry(key).or_default().clone()
    }
}

/// Whether a token looks like a JWT (three base64url segments).
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

impl RelyingParty {
    /// Validates a bearer access token for `provider`, as configured
    /// (`access_token_validation`).
    pub(crate) async fn validate_access_token(
        &self,
        provider: &str,
        token: &str,
    ) -> Result<AccessTokenInfo, BearerError> {
        let client = self
            .providers
            .get(provider)
            .ok_or_else(|| BearerError::Invalid("unknown provider".into()))?;
        let ready = client.ready(&self.http).await?;
        let jwt = match client.config.access_token_validation {
            AccessTokenValidation::Jwt => true,
            AccessTokenValidation::Introspection => false,
            AccessTokenValidation::Auto => looks_like_jwt(token),
        };
        if jwt {
            self.validate_jwt_access_token(client, &ready, token).await
        } else {
            self.introspect(client, &ready, token).await
        }
    }

    fn audiences<'a>(&self, client: &'a ProviderClient, ready: &'a ReadyProvider) -> Vec<&'a str> {
        if client.config.audiences.is_empty() {
            vec![ready.credentials.client_id.as_str()]
        } else {
            client.config.audiences.iter().map(String::as_str).collect()
        }
    }

    async fn validate_jwt_access_token(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        token: &str,
    ) -> Result<AccessTokenInfo, BearerError> {
        // Asymmetric algorithms only: the configured ones, else the provider's plus RS256
        // (the ID-token settings may allow HMAC; access tokens never use it here).
        let mut algs = allowed_algs(
            client.config.access_token_signing_algs.as_deref(),
            &ready.metadata.id_token_signing_alg_values_supported,
        );
        algs.retain(|alg| !crate::token::is_symmetric(alg));
        if client.config.access_token_signing_algs.is_none() {
            let rs256 = openidconnect::core::CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
            if !algs.contains(&rs256) {
                algs.push(rs256);
            }
        }
        let check = |keys: &_| verify_jws(token, keys, &algs);
        let (header, claims) = match ready.keys.check_with(&self.http, check).await? {
            Err(TokenError::UnknownKey(_) | TokenError::Signature) => {
                return Err(BearerError::Invalid("no key verifies the token".into()))
            }
            other => other?,
        };
        // Not an ID token (which names this client as its audience too): an ID token carries a
        // nonce or hashes, and is never typed at+jwt. Without configured audiences (the client
        // id is then the audience, like an ID token's) the type is required.
        let typ = header
            .get("typ")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
        let typed = matches!(typ.as_deref(), Some("at+jwt" | "application/at+jwt"));
        let untyped_ok = matches!(typ.as_deref(), None | Some("jwt"));
        let typ_required =
            client.config.require_access_token_typ || client.config.audiences.is_empty();
        if !typed && (typ_required || !untyped_ok) {
            return Err(BearerError::Invalid("the token is not typed at+jwt".into()));
        }
        if ["nonce", "at_hash", "c_hash"]
            .iter()
            .any(|c| claims.contains_key(*c))
        {
            return Err(BearerError::Invalid(
                "an ID token is not an access token".into(),
            ));
        }
        self.check_access_claims(client, ready, &claims, true)?;
        Ok(AccessTokenInfo { claims })
    }

    /// The claims every access token must satisfy: issuer, audience, times.
    fn check_access_claims(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        claims: &Map<String, Value>,
        required: bool,
    ) -> Result<(), BearerError> {
        let now = unix_now() as f64;
        let skew = self.config.clock_skew as f64;
        let invalid = |why: &str| Err(BearerError::Invalid(why.into()));
        // Bearer tokens only: a sender-constrained token (DPoP, mTLS) needs its proof.
        if claims.contains_key("cnf") {
            return invalid("a sender-constrained token is not a bearer token");
        }
        if let Some(kind) = claims.get("token_type").and_then(Value::as_str) {
            if !kind.eq_ignore_ascii_case("bearer") && !kind.eq_ignore_ascii_case("access_token") {
                return invalid("not a bearer access token");
            }
        }
        match claims.get("iss").and_then(Value::as_str) {
            Some(iss) if iss == ready.metadata.issuer => {}
            None if !required => {}
            _ => return invalid("wrong issuer"),
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            None if !required => Vec::new(),
            _ => return invalid("no audience"),
        };
        let accepted = self.audiences(client, ready);
        if audiences.is_empty() && !required {
            // An introspection answer without `aud`: only tokens issued to this client, unless
            // audiences are configured (then `aud` is required).
            let own = claims.get("client_id").and_then(Value::as_str)
                == Some(&ready.credentials.client_id);
            if !client.config.audiences.is_empty() || !own {
                return invalid("not for this audience");
            }
        } else if !audiences.iter().any(|a| accepted.contains(a)) {
            return invalid("not for this audience");
        }
        let number = |name: &str| claims.get(name).and_then(Value::as_f64);
        match number("exp") {
            Some(exp) if exp + skew > now => {}
            None if !required => {}
            _ => return invalid("expired"),
        }
        if number("nbf").is_some_and(|nbf| nbf > now + skew) {
            return invalid("not valid yet");
        }
        if number("iat").is_some_and(|iat| iat > now + skew) {
            return invalid("issued in the future");
        }
        Ok(())
    }

    async fn introspect(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        token: &str,
    ) -> Result<AccessTokenInfo, BearerError> {
        const ENDPOINT: &str = "introspection endpoint";
        let endpoint = ready
            .metadata
            .introspection_endpoint
            .as_deref()
            .ok_or(ProviderError::MissingEndpoint("introspection endpoint"))?;
        let now = unix_now();
        let mut hasher = Sha256::new();
        hasher.update(client.name.as_bytes());
        hasher.update([0]);
        hasher.update(token.as_bytes());
        let cell = self.introspections.entry(hasher.finalize().into(), now);
        let max_age = client.config.introspection_cache_max_age as i64;
        let (outcome, _) = cell
            .get_or_init(|| async {
                let form = vec![("token", token), ("token_type_hint", "access_token")];
                let request = self.client_post(&ready.credentials, endpoint, form);
                let answer = match self.http.send(ENDPOINT, request).await {
                    Ok(response) if response.status == 200 => response.json_object(ENDPOINT),
                    Ok(response) => Err(ProviderError::Status {
                        endpoint: ENDPOINT,
                        status: response.status,
                    }),
                    Err(error) => Err(error),
                };
                match answer {
                    Err(error) => (Err(error.into()), now.saturating_add(FAILED_FOR)),
                    Ok(answer) if answer.get("active") != Some(&Value::Bool(true)) => {
                        (Ok(None), now.saturating_add(max_age.min(INACTIVE_FOR)))
                    }
                    Ok(mut answer) => {
                        answer.retain(|k, _| KEPT_CLAIMS.contains(&k.as_str()));
                        let until = now.saturating_add(max_age);
                        let exp = answer.get("exp").and_then(Value::as_i64).unwrap_or(until);
                        (Ok(Some(AccessTokenInfo { claims: answer })), until.min(exp))
                    }
                }
            })
            .await;
        let info = outcome
            .clone()?
            .ok_or_else(|| BearerError::Invalid("the token is not active".into()))?;
        self.check_access_claims(client, ready, &info.claims, false)?;
        Ok(info)
    }
}
