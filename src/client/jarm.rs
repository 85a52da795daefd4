//! JWT Secured Authorization Responses (JARM): the whole authorization response as one JWT in
//! the `response` parameter, signed by the provider (and, when configured, encrypted to us).
//! It is opened and verified before anything in it is used: the signature with the provider's
//! keys and the configured algorithm (`authorization_signed_response_alg`, RS256 by default),
//! `iss` the provider's issuer, `aud` naming this client, `exp` not passed. Its claims are
//! then the response's parameters, checked as a plain response's are (state, `iss`, the parts
//! of the response type, the code...).

use serde_json::{Map, Value};

use crate::client::own_keys::{decrypt_off_thread, decrypt_with_any, Unopened};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::signed_answer::SignedAnswer;
use crate::client::RelyingParty;
use crate::error::{AuthError, ProviderError};
use crate::protocol::callback::CallbackParams;
use crate::protocol::jwe::is_compact_jwe;
use crate::protocol::jws::decode_parts;

/// What the errors name.
const RESPONSE: &str = "JARM response";

impl RelyingParty {
    /// The `state` of the JARM response `response`, unverified: only to find the pending
    /// login it answers (which names the provider whose keys then verify it). An encrypted
    /// response is opened with the JARM encryption of the `providers` (those of the JARM
    /// logins pending in the browser), each setting tried once.
    pub async fn jarm_state(
        &self,
        response: &str,
        providers: &[String],
    ) -> Result<String, AuthError> {
        let signed = if is_compact_jwe(response) {
            let settings = providers.iter().map(|name| {
                let provider = self.config.providers.get(name);
                provider.and_then(|p| p.authorization_encryption())
            });
            decrypt_with_any(&self.keys, response, settings)
                .await
                .map(|(signed, _)| signed)
                .map_err(|unopened| match unopened {
                    Unopened::Busy => AuthError::Overloaded,
                    Unopened::Refused(_) => {
                        refused("it is encrypted, and does not decrypt as configured")
                    }
                })?
        } else {
            response.to_owned()
        };
        let (_, claims) =
            decode_parts(&signed).map_err(|_| refused("it is not a signed JWT (compact JWS)"))?;
        match claims.get("state") {
            Some(Value::String(state)) => Ok(state.clone()),
            _ => Err(AuthError::InvalidState("the JARM response has no state")),
        }
    }
}

/// The parameters of `response`, a JARM response from `client`'s provider, verified at `now`
/// with `skew` seconds of clock difference.
pub(crate) async fn open(
    client: &ProviderClient,
    ready: &ReadyProvider,
    response: &str,
    now: i64,
    skew: i64,
) -> Result<CallbackParams, AuthError> {
    let signed = match client.config.authorization_encryption() {
        Some(encryption) if is_compact_jwe(response) => {
            decrypt_off_thread(&client.keys, response, encryption)
                .await
                .map_err(|unopened| match unopened {
                    Unopened::Busy => AuthError::Overloaded,
                    Unopened::Refused(why) => refused(&why),
                })?
        }
        Some(encryption) => {
            return Err(refused(&format!(
                "it is not encrypted ({} with {} is configured)",
                encryption.alg.name(),
                encryption.enc.name()
            )))
        }
        None if is_compact_jwe(response) => {
            return Err(refused(
                "it is encrypted, and no authorization_encrypted_response_alg is configured",
            ))
        }
        None => response.to_owned(),
    };
    let alg = client.config.authorization_signing_alg().unwrap_or("RS256");
    check_kind(&signed)?;
    let answer = SignedAnswer {
        endpoint: RESPONSE,
        media_type: "",
        typ: None,
        alg,
        iss_as_parameter: true,
    };
    let claims = answer
        .verify_jwt(client, ready, &signed)
        .await
        .map_err(|error| match error {
            ProviderError::InvalidResponse { reason, .. } => refused(&reason),
            other => other.into(),
        })?;
    check_expiry(&claims, now, skew)?;
    CallbackParams::from_claims(&claims)
}

/// Not another kind of JWT the provider signs (an ID token, an access token, a logout token,
/// an introspection answer), passed off as a response: no other `typ` than `JWT`, and none of
/// the claims only those carry.
fn check_kind(signed: &str) -> Result<(), AuthError> {
    let (header, claims) =
        decode_parts(signed).map_err(|_| refused("it is not a signed JWT (compact JWS)"))?;
    if let Some(typ) = header.get("typ") {
        let typ = typ.as_str().unwrap_or_default();
        let bare = typ.strip_prefix("application/").unwrap_or(typ);
        if !bare.eq_ignore_ascii_case("jwt") {
            return Err(refused("its typ is not JWT (another kind of token)"));
        }
    }
    for claim in ["sub", "nonce", "events", "token_introspection", "cnf"] {
        if claims.contains_key(claim) {
            return Err(refused(&format!(
                "it carries `{claim}`, as another kind of token does"
            )));
        }
    }
    Ok(())
}

/// `exp` is required (JARM 2.1) and not passed, beyond `skew`.
fn check_expiry(claims: &Map<String, Value>, now: i64, skew: i64) -> Result<(), AuthError> {
    match claims.get("exp").and_then(Value::as_f64) {
        Some(exp) if exp + skew as f64 >= now as f64 => Ok(()),
        Some(_) => Err(refused("it has expired")),
        None => Err(refused("it has no exp")),
    }
}

fn refused(why: &str) -> AuthError {
    AuthError::InvalidCallback(format!("the {RESPONSE}: {why}"))
}
