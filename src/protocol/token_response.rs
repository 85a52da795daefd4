//! The answer of a token endpoint (code exchange, refresh, client credentials): the parts we
//! use, checked.

use openidconnect::{AccessToken, RefreshToken};
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::protocol::secret::IdTokenJwt;

/// How an access token is presented (RFC 6750 `Bearer`, RFC 9449 `DPoP`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenType {
    Bearer,
    Dpop,
}

/// The parts of a token response we use (the tokens in types that never print them).
#[derive(Debug)]
pub(crate) struct TokenResponse {
    pub token_type: TokenType,
    pub access_token: AccessToken,
    pub id_token: Option<IdTokenJwt>,
    pub refresh_token: Option<RefreshToken>,
    pub expires_in: Option<i64>,
}

impl TokenResponse {
    /// Reads a token endpoint's JSON object: a Bearer or DPoP token, a non-empty access token,
    /// and an `expires_in` that is a non-negative integer (or a string of one) if present.
    pub fn parse(object: &Map<String, Value>) -> Result<Self, AuthError> {
        let string = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let token_type = string("token_type").unwrap_or_default();
        let token_type = if token_type.eq_ignore_ascii_case("bearer") {
            TokenType::Bearer
        } else if token_type.eq_ignore_ascii_case("dpop") {
            TokenType::Dpop
        } else {
            return Err(AuthError::TokenResponse(
                "the token_type is neither Bearer nor DPoP".into(),
            ));
        };
        let access_token = string("access_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::TokenResponse("no access_token".into()))?;
        let id_token = string("id_token");
        let expires_in = match object.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                AuthError::TokenResponse("expires_in is not a non-negative integer".into())
            })?),
            Some(Value::String(s)) => Some(s.parse::<u32>().map(i64::from).map_err(|_| {
                AuthError::TokenResponse("expires_in is not a non-negative integer".into())
            })?),
            Some(_) => {
                return Err(AuthError::TokenResponse(
                    "expires_in is not a number".into(),
                ))
            }
        };
        Ok(TokenResponse {
            token_type,
            access_token: AccessToken::new(access_token),
            id_token: id_token.map(IdTokenJwt::new),
            refresh_token: string("refresh_token").map(RefreshToken::new),
            expires_in,
        })
    }
}

/// Whether the tokens are bound to the DPoP key a proof was `sent` with (RFC 9449 5): a
/// `DPoP` token needs the proof; a `Bearer` answer to a proof means the provider did not bind
/// the token, which `strict` (the fapi2 profile) refuses and otherwise leaves a Bearer token.
pub(crate) fn bound_to_proof(
    token_type: TokenType,
    sent: bool,
    strict: bool,
) -> Result<bool, AuthError> {
    match (token_type, sent) {
        (TokenType::Dpop, true) => Ok(true),
        (TokenType::Dpop, false) => Err(AuthError::TokenResponse(
            "the token_type is DPoP, but no DPoP proof was sent".into(),
        )),
        (TokenType::Bearer, true) if strict => Err(AuthError::TokenResponse(
            "the token_type is Bearer although a DPoP proof was sent (the fapi2 profile \
             requires sender-constrained tokens)"
                .into(),
        )),
        (TokenType::Bearer, _) => Ok(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_responses_are_checked() {
        let parse = |v: Value| TokenResponse::parse(v.as_object().unwrap());
        let ok = serde_json::json!({"access_token": "at", "token_type": "BeArEr", "id_token": "x"});
        let parsed = parse(ok.clone()).ok().unwrap();
        assert_eq!(parsed.expires_in, None);
        let mut with_string_expiry = ok.clone();
        with_string_expiry["expires_in"] = "3600".into();
        assert_eq!(
            parse(with_string_expiry).ok().unwrap().expires_in,
            Some(3600)
        );
        for (key, value) in [
            ("token_type", Value::from("mac")),
            ("token_type", Value::from("")),
            ("expires_in", Value::from(-5)),
            ("expires_in", Value::from("soon")),
            ("access_token", Value::from("")),
        ] {
            let mut bad = ok.clone();
            bad[key] = value;
            assert!(parse(bad).is_err(), "{key}");
        }
        let mut dpop = ok.clone();
        dpop["token_type"] = "DPoP".into();
        assert_eq!(parse(dpop).ok().unwrap().token_type, TokenType::Dpop);
        let mut no_id_token = ok;
        no_id_token.as_object_mut().unwrap().remove("id_token");
        assert!(parse(no_id_token).ok().unwrap().id_token.is_none());
    }
}

#[cfg(test)]
mod binding_tests {
    use super::*;

    #[test]
    fn a_token_is_bound_only_when_a_proof_was_sent_and_the_provider_says_dpop() {
        assert!(bound_to_proof(TokenType::Dpop, true, false).unwrap());
        assert!(bound_to_proof(TokenType::Dpop, true, true).unwrap());
        assert!(!bound_to_proof(TokenType::Bearer, true, false).unwrap());
        assert!(!bound_to_proof(TokenType::Bearer, false, true).unwrap());
        assert!(bound_to_proof(TokenType::Bearer, true, true).is_err());
        assert!(bound_to_proof(TokenType::Dpop, false, false).is_err());
    }
}
