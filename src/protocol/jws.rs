//! JSON Web Signatures (RFC 7515) from providers: the compact form, the `alg` pinned to what
//! is allowed, and the signature checked with the provider's key (or, for HMAC, the client
//! secret). Shared by ID tokens, logout tokens and JWT access tokens.
//!
//! The keys and their signature algorithms are the `openidconnect` crate's (`CoreJsonWebKey`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{ClientSecret, JsonWebKey, JwsSigningAlgorithm};
use serde_json::{Map, Value};

use crate::error::TokenError;
use crate::util::text::for_log;

/// A JSON object (a JOSE header or a claims set).
pub(crate) type JsonObject = Map<String, Value>;

/// Largest JWS accepted, in bytes.
pub(crate) const MAX_TOKEN_LEN: usize = 32 * 1024;

/// Parses the name of an algorithm this crate can verify, like `RS256`: never `none`, and not
/// `ES512` (P-521), which the verifier does not support.
pub(crate) fn parse_alg(name: &str) -> Option<CoreJwsSigningAlgorithm> {
    serde_json::from_value::<CoreJwsSigningAlgorithm>(Value::String(name.to_owned()))
        .ok()
        .filter(|alg| {
            !matches!(
                alg,
                CoreJwsSigningAlgorithm::None | CoreJwsSigningAlgorithm::EcdsaP521Sha512
            )
        })
}

/// The length in bytes of an HMAC of `alg`.
fn hmac_len(alg: &CoreJwsSigningAlgorithm) -> Option<usize> {
    match alg {
        CoreJwsSigningAlgorithm::HmacSha256 => Some(32),
        CoreJwsSigningAlgorithm::HmacSha384 => Some(48),
        CoreJwsSigningAlgorithm::HmacSha512 => Some(64),
        _ => None,
    }
}

/// HMAC algorithms, keyed with the client secret.
pub(crate) fn is_symmetric(alg: &CoreJwsSigningAlgorithm) -> bool {
    alg.uses_shared_secret()
}

/// The JOSE name of `alg` (`RS256`), for messages.
pub(crate) fn alg_name(alg: &CoreJwsSigningAlgorithm) -> String {
    serde_json::to_value(alg)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Splits a compact JWS and decodes its header and payload as JSON objects.
pub(crate) fn decode_parts(raw: &str) -> Result<(JsonObject, JsonObject), TokenError> {
    if raw.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("too large".into()));
    }
    let parts: Vec<&str> = raw.split('.').collect();
    match parts.len() {
        3 => {}
        5 => {
            return Err(TokenError::Malformed(
                "an encrypted token (JWE) where a signed one is expected (no encryption is \
                 configured for it)"
                    .into(),
            ))
        }
        _ => return Err(TokenError::Malformed("not a compact JWS".into())),
    }
    let object = |segment: &str, what: &str| -> Result<Map<String, Value>, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(segment)
            .map_err(|_| TokenError::Malformed(format!("the {what} is not base64url")))?;
        match serde_json::from_slice(&bytes) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(TokenError::Malformed(format!(
                "the {what} is not a JSON object"
            ))),
        }
    };
    Ok((object(parts[0], "header")?, object(parts[1], "payload")?))
}

/// Verifies the signature of a compact JWS with the provider's keys: `alg` must be one of
/// `allowed_algs` (never `none`), the key is chosen by `kid` (or is the only one that fits) and
/// must allow signing with that algorithm. Returns the header and claims; checks no claim.
pub(crate) fn verify_jws(
    raw: &str,
    keys: &CoreJsonWebKeySet,
    allowed_algs: &[CoreJwsSigningAlgorithm],
) -> Result<(JsonObject, JsonObject), TokenError> {
    let (header, claims) = decode_parts(raw)?;
    let alg = check_alg(&header, allowed_algs)?;
    verify_signature(raw, &header, &alg, keys, None)?;
    Ok((header, claims))
}

/// Checks the signature of `raw` (whose `alg` was allowed already): with the provider's key
/// for `kid` (each key with that `kid` is tried: a provider may publish a rotated key under
/// an old `kid`), or with the only key that fits; or with the client secret for an HMAC
/// algorithm (configured explicitly).
pub(crate) fn verify_signature(
    raw: &str,
    header: &JsonObject,
    alg: &CoreJwsSigningAlgorithm,
    keys: &CoreJsonWebKeySet,
    client_secret: Option<&ClientSecret>,
) -> Result<(), TokenError> {
    let (message, signature) = raw
        .rsplit_once('.')
        .ok_or_else(|| TokenError::Malformed("not a compact JWS".into()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed("the signature is not base64url".into()))?;
    if is_symmetric(alg) {
        // Core 3.1.3.7 step 8: the octets of the client secret; never a key of the key set
        // (that would be the algorithm-confusion attack).
        let secret = client_secret
            .ok_or_else(|| TokenError::Algorithm("HMAC needs a client secret".into()))?;
        // An HMAC of the wrong length is refused here: openidconnect 4.1 compares it through
        // a fixed-size array and panics on any other length (found by fuzzing: fuzz/ `jwt`).
        if Some(signature.len()) != hmac_len(alg) {
            return Err(TokenError::Signature);
        }
        let key = CoreJsonWebKey::new_symmetric(secret.secret().as_bytes().to_vec());
        return key
            .verify_signature(alg, message.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature);
    }
    let candidates = candidate_keys(header, alg, keys)?;
    if candidates.iter().any(|key| {
        key.verify_signature(alg, message.as_bytes(), &signature)
            .is_ok()
    }) {
        Ok(())
    } else {
        Err(TokenError::Signature)
    }
}

/// The provider's keys that may have signed a token with this header and `alg`: those with
/// its `kid` (all of them), or without a `kid` the only one that fits. Every key of the set
/// passed [`jwk`](crate::protocol::jwk)'s checks; `use` and `alg` are checked again here.
fn candidate_keys<'k>(
    header: &JsonObject,
    alg: &CoreJwsSigningAlgorithm,
    keys: &'k CoreJsonWebKeySet,
) -> Result<Vec<&'k CoreJsonWebKey>, TokenError> {
    use openidconnect::{JsonWebKeyAlgorithm, JsonWebKeyUse};
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(kid)) => Some(kid.as_str()),
        Some(_) => return Err(TokenError::Malformed("the `kid` is not a string".into())),
    };
    let candidates: Vec<_> = keys
        .keys()
        .iter()
        .filter(|key| kid.is_none() || key.key_id().map(|k| k.as_str()) == kid)
        .filter(|key| key.key_use().is_none_or(|u| u.allows_signature()))
        .filter(|key| alg.key_type().as_ref() == Some(key.key_type()))
        .filter(|key| match key.signing_alg() {
            JsonWebKeyAlgorithm::Unspecified => true,
            JsonWebKeyAlgorithm::Algorithm(key_alg) => key_alg == alg,
            _ => false,
        })
        .collect();
    match candidates.len() {
        0 => Err(TokenError::UnknownKey(
            "no key fits the token's `kid` and `alg`".into(),
        )),
        1 => Ok(candidates),
        _ if kid.is_some() => Ok(candidates),
        _ => Err(TokenError::AmbiguousKey),
    }
}

/// The header's `alg`, if allowed (never `none`); `crit` is refused.
pub(crate) fn check_alg(
    header: &JsonObject,
    allowed_algs: &[CoreJwsSigningAlgorithm],
) -> Result<CoreJwsSigningAlgorithm, TokenError> {
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .ok_or_else(|| TokenError::Malformed("no `alg` in the header".into()))?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(TokenError::Algorithm("`none` is never accepted".into()));
    }
    // The value comes from the token: escaped and bounded in messages.
    let shown = for_log(alg, 32);
    let parsed = parse_alg(alg)
        .ok_or_else(|| TokenError::Algorithm(format!("`{shown}` is not supported")))?;
    if !allowed_algs.contains(&parsed) {
        return Err(TokenError::Algorithm(format!(
            "`{shown}` is not allowed for this provider"
        )));
    }
    if header.contains_key("crit") {
        return Err(TokenError::Malformed(
            "the `crit` header is not supported".into(),
        ));
    }
    Ok(parsed)
}

/// The algorithms accepted for a provider: the configured ones, else the asymmetric ones it
/// advertises, else RS256.
pub(crate) fn allowed_algs(
    configured: Option<&[String]>,
    advertised: &[String],
) -> Vec<CoreJwsSigningAlgorithm> {
    if let Some(list) = configured {
        return list.iter().filter_map(|a| parse_alg(a)).collect();
    }
    let algs: Vec<_> = advertised
        .iter()
        .filter_map(|a| parse_alg(a))
        .filter(|a| !is_symmetric(a))
        .collect();
    if algs.is_empty() {
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    } else {
        algs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_algorithms_never_include_hmac_or_none() {
        let advertised = ["HS256".to_string(), "none".into(), "ES256".into()];
        assert_eq!(
            allowed_algs(None, &advertised),
            vec![CoreJwsSigningAlgorithm::EcdsaP256Sha256]
        );
        assert_eq!(
            allowed_algs(None, &[]),
            vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
        let configured = ["HS256".to_string()];
        assert_eq!(
            allowed_algs(Some(&configured), &advertised),
            vec![CoreJwsSigningAlgorithm::HmacSha256]
        );
        assert_eq!(alg_name(&CoreJwsSigningAlgorithm::EcdsaP256Sha256), "ES256");
    }
}
