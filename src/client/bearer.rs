//! API protection: access tokens validated locally as JWTs (RFC 9068) or by introspection
//! (RFC 7662, cached until the token expires); bearer tokens, or DPoP-bound tokens with the
//! proof of their key (RFC 9449).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openidconnect::core::CoreJwsSigningAlgorithm;
use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::client::auth::client_post;
use crate::client::http::{invalid, HttpResponse};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::signed_answer::SignedAnswer;
use crate::client::RelyingParty;
use crate::config::AccessTokenValidation;
use crate::error::{BearerError, ProviderError, TokenError};
use crate::protocol::access_token::{
    check_access_claims, check_jwt_form, looks_like_jwt, AccessExpectations, AccessTokenInfo,
    KEPT_CLAIMS,
};
use crate::protocol::dpop::{verify_proof, NonceKey, ProofExpectations, VerifiedProof};
use crate::protocol::jws::{allowed_algs, is_symmetric, verify_jws};
use crate::protocol::metadata::Endpoint;
use crate::session::records::Records;
use crate::util::clock::unix_now;
use crate::util::metrics;
use crate::util::single_flight::SingleFlight;

/// At most this many introspection results are kept (one per token seen within
/// `introspection_cache_max_age`; expired, inactive and failed ones leave first).
const CACHE_CAPACITY: usize = 10_000;
/// An inactive token is re-checked after this many seconds at the latest.
const INACTIVE_FOR: i64 = 30;
/// A failed introspection is reported for this many seconds without a new call, so that
/// concurrent requests do not queue behind a hanging provider one timeout after the other.
const FAILED_FOR: i64 = 5;

/// How old a DPoP proof may be, in seconds (plus the clock skew): a proof is made for one
/// request, right before it is sent.
const PROOF_MAX_AGE: i64 = 60;

/// An introspection outcome: an active token's claims, `None` for an inactive token, or a
/// failure.
type Introspection = Result<Option<AccessTokenInfo>, BearerError>;

/// Validates the bearer tokens of the application's APIs, with a cache of introspection
/// results by token (hashed), until the token's `exp` or the configured max age.
pub(crate) struct AccessTokenValidator {
    rp: Arc<RelyingParty>,
    introspections: SingleFlight<[u8; 32], Introspection>,
    /// The key of DPoP server nonces, when the application asks for them.
    nonces: Option<NonceKey>,
}

impl AccessTokenValidator {
    /// The validator of `rp`'s providers' access tokens; `secret` (the application's secret
    /// key) keys the DPoP server nonces when `require_dpop_nonce` is set.
    pub fn new(rp: Arc<RelyingParty>, secret: &[u8]) -> Self {
        AccessTokenValidator {
            nonces: rp.config.require_dpop_nonce.then(|| NonceKey::new(secret)),
            rp,
            introspections: SingleFlight::new(CACHE_CAPACITY),
        }
    }

    /// Validates an access token for `provider`, as configured (`access_token_validation`):
    /// a bearer token, or with `proof_jkt` (the thumbprint of a checked DPoP proof's key) a
    /// token bound to that key.
    pub async fn validate(
        &self,
        provider: &str,
        token: &str,
        proof_jkt: Option<&str>,
    ) -> Result<AccessTokenInfo, BearerError> {
        let client = self
            .rp
            .providers
            .get(provider)
            .ok_or_else(|| BearerError::Invalid("unknown provider".into()))?;
        let ready = client.ready().await?;
        let jwt = match client.config.access_token_validation {
            AccessTokenValidation::Jwt => true,
            AccessTokenValidation::Introspection => false,
            AccessTokenValidation::Auto => looks_like_jwt(token),
        };
        let (info, required) = if jwt {
            (self.read_jwt(client, &ready, token).await?, true)
        } else {
            (self.introspect(client, &ready, token).await?, false)
        };
        let expect = AccessExpectations {
            issuer: client.issuer_rule(&ready),
            audiences: &client.config.audiences,
            client_id: &ready.credentials.client_id,
            now: unix_now(),
            skew: self.rp.config.clock_skew as i64,
        };
        check_access_claims(&info.claims, &expect, required, proof_jkt)
            .map_err(BearerError::Invalid)?;
        Ok(info)
    }

    /// Checks the DPoP proof of a request with `method` to `url` that carries `token`
    /// (RFC 9449 4.3, 7.1), and the server nonce when the application asks for one. Its `jti`
    /// is not recorded yet: see [`record_proof`](Self::record_proof).
    pub fn check_proof(
        &self,
        proof: &str,
        method: &str,
        url: &str,
        token: &str,
    ) -> Result<VerifiedProof, BearerError> {
        let skew = self.rp.config.clock_skew as i64;
        let expect = ProofExpectations {
            htm: method,
            htu: url,
            access_token: Some(token),
            now: unix_now(),
            max_age: PROOF_MAX_AGE,
            skew,
        };
        let proof = verify_proof(proof, &expect).map_err(BearerError::InvalidDpopProof)?;
        if let Some(nonces) = &self.nonces {
            if !proof
                .nonce
                .as_deref()
                .is_some_and(|n| nonces.accepts(n, expect.now))
            {
                return Err(BearerError::UseDpopNonce {
                    nonce: nonces.issue(expect.now),
                });
            }
        }
        Ok(proof)
    }

    /// Takes a checked proof's `jti` once (in `records`: Redis when configured, so across
    /// instances) for as long as the proof would be accepted. Called only once the token is
    /// known to be bound to the proof's key: a proof by any other key writes nothing, so the
    /// records cannot be flooded by whoever can sign (and a flood cannot push out the record
    /// of a proof that was used).
    pub async fn record_proof(
        &self,
        records: &Records,
        proof: &VerifiedProof,
    ) -> Result<(), BearerError> {
        let skew = self.rp.config.clock_skew as i64;
        let until = proof
            .iat
            .saturating_add(PROOF_MAX_AGE)
            .saturating_add(2 * skew);
        let once = format!("{}.{}", proof.jkt, proof.jti);
        if !records.first_use("dpop_jti", &once, until).await? {
            return Err(BearerError::InvalidDpopProof(
                "the DPoP proof was used before (`jti`)".into(),
            ));
        }
        Ok(())
    }

    /// A JWT access token: signed with an asymmetric algorithm by the provider's key, typed as
    /// an access token (not an ID token).
    async fn read_jwt(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        token: &str,
    ) -> Result<AccessTokenInfo, BearerError> {
        let algs = access_token_algs(client, ready);
        let check = |keys: &_| verify_jws(token, keys, &algs);
        let (header, claims) = match ready.keys.check_with(&client.http, check).await? {
            Err(TokenError::UnknownKey(_) | TokenError::Signature) => {
                return Err(BearerError::Invalid("no key verifies the token".into()))
            }
            other => other?,
        };
        let typ_required =
            client.config.require_access_token_typ || client.config.audiences.is_empty();
        check_jwt_form(&header, &claims, typ_required).map_err(BearerError::Invalid)?;
        Ok(AccessTokenInfo { claims })
    }

    /// An opaque token, by the provider's introspection endpoint; one call per token at a
    /// time, its answer reused until the token expires (at most the configured max age).
    async fn introspect(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        token: &str,
    ) -> Result<AccessTokenInfo, BearerError> {
        const ENDPOINT: &str = "introspection endpoint";
        let endpoint = ready
            .metadata
            .endpoint(Endpoint::Introspection, client.config.uses_mtls())
            .ok_or(ProviderError::MissingEndpoint("introspection endpoint"))?;
        let mut hasher = Sha256::new();
        hasher.update(client.name.as_bytes());
        hasher.update([0]);
        hasher.update(token.as_bytes());
        let max_age = client.config.introspection_cache_max_age as i64;
        let http = &client.http;
        let computed = AtomicBool::new(false);
        let outcome = self
            .introspections
            .get_or_compute(
                hasher.finalize().into(),
                unix_now(),
                |_| true,
                || async {
                    computed.store(true, Ordering::Relaxed);
                    let form = vec![("token", token), ("token_type_hint", "access_token")];
                    let signed = client.config.introspection_alg();
                    let sent = match client_post(client, ready, endpoint, form) {
                        Ok(request) => {
                            // (`headers` replaces the `Accept: application/json` of every
                            // call to a provider; `header` would add a second value, and a
                            // provider picks JSON then.)
                            let request = match signed {
                                Some(_) => request.headers(HeaderMap::from_iter([(
                                    reqwest::header::ACCEPT,
                                    HeaderValue::from_static(INTROSPECTION_JWT),
                                )])),
                                None => request,
                            };
                            http.send(ENDPOINT, request).await
                        }
                        Err(error) => Err(error),
                    };
                    let answer = match (sent, signed) {
                        (Ok(response), Some(alg)) if response.status == 200 => {
                            signed_introspection(client, ready, &response, alg).await
                        }
                        (Ok(response), None) if response.status == 200 => {
                            response.json_object(ENDPOINT)
                        }
                        (Ok(response), _) => Err(ProviderError::Status {
                            endpoint: ENDPOINT,
                            status: response.status,
                        }),
                        (Err(error), _) => Err(error),
                    };
                    let now = unix_now();
                    match answer {
                        Err(error) => (Err(error.into()), Some(now.saturating_add(FAILED_FOR))),
                        Ok(answer) if answer.get("active") != Some(&Value::Bool(true)) => (
                            Ok(None),
                            Some(now.saturating_add(max_age.min(INACTIVE_FOR))),
                        ),
                        Ok(mut answer) => {
                            answer.retain(|k, _| KEPT_CLAIMS.contains(&k.as_str()));
                            let until = now.saturating_add(max_age);
                            let exp = answer.get("exp").and_then(Value::as_i64).unwrap_or(until);
                            let info = AccessTokenInfo { claims: answer };
                            (Ok(Some(info)), Some(until.min(exp)))
                        }
                    }
                },
            )
            .await;
        metrics::cache_lookup("introspection", !computed.load(Ordering::Relaxed));
        outcome?.ok_or_else(|| BearerError::Invalid("the token is not active".into()))
    }
}

/// Asymmetric algorithms only: the configured ones, else the provider's plus RS256 (the
/// ID-token settings may allow HMAC; access tokens never use it here).
fn access_token_algs(
    client: &ProviderClient,
    ready: &ReadyProvider,
) -> Vec<CoreJwsSigningAlgorithm> {
    let mut algs = allowed_algs(
        client.config.access_token_signing_algs.as_deref(),
        &ready.metadata.id_token_signing_alg_values_supported,
    );
    algs.retain(|alg| !is_symmetric(alg));
    if client.config.access_token_signing_algs.is_none() {
        let rs256 = CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256;
        if !algs.contains(&rs256) {
            algs.push(rs256);
        }
    }
    algs
}

/// The media type of signed introspection answers (RFC 9701).
const INTROSPECTION_JWT: &str = "application/token-introspection+jwt";

/// A signed introspection answer (RFC 9701): verified like every signed answer, with `typ`
/// `token-introspection+jwt` and an `iat` not in the future; the introspection itself is its
/// `token_introspection` claim.
async fn signed_introspection(
    client: &ProviderClient,
    ready: &ReadyProvider,
    response: &HttpResponse,
    alg: &str,
) -> Result<Map<String, Value>, ProviderError> {
    const ENDPOINT: &str = "introspection endpoint";
    let signed = SignedAnswer {
        endpoint: ENDPOINT,
        media_type: INTROSPECTION_JWT,
        typ: Some("token-introspection+jwt"),
        alg,
        iss_as_parameter: false,
    };
    let mut claims = signed.verify(client, ready, response).await?;
    match claims.get("iat").and_then(Value::as_i64) {
        Some(iat) if iat <= unix_now().saturating_add(IAT_LEEWAY) => {}
        Some(_) => {
            return Err(invalid(
                ENDPOINT,
                "the signed introspection is issued in the future",
            ))
        }
        None => return Err(invalid(ENDPOINT, "the signed introspection has no iat")),
    }
    match claims.remove("token_introspection") {
        Some(Value::Object(answer)) => Ok(answer),
        _ => Err(invalid(
            ENDPOINT,
            "the signed introspection has no token_introspection object",
        )),
    }
}

/// How far in the future a signed introspection's `iat` may be (clock skew).
const IAT_LEEWAY: i64 = 60;
