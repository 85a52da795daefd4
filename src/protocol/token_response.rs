//! The answer of a token endpoint (code exchange, refresh, client credentials): the parts we
//! use, checked.

use openidconnect::{AccessToken, RefreshToken};
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::protocol::secret::IdTokenJwt;

/// The parts of a token response we use (the tokens in types that never print them).
#[derive(Debug)]
pub(crate) struct TokenResponse {
    pub access_token: AccessToken,
    pub id_token: Option<IdTokenJwt>,
    pub refresh_token: Option<RefreshToken>,
    pub expires_in: Option<i64>,
}

impl TokenResponse {
    /// Reads a token endpoint's JSON object: a Bearer token, a non-empty access token, and an
    /// `expires_in` that is a non-negative integer (or a string of one) if present.
    pub fn parse(object: &Map<String, Value>) -> Result<Self, AuthError> {
        let string = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let token_type = string("token_type").unwrap_or_default();
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::TokenResponse(
                "the token_type is not Bearer".into(),
            ));
        }
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
            access_token: AccessToken::new(access_token),
            id_token: id_token.map(IdTokenJwt::new),
            refresh_token: string("refresh_token").map(RefreshToken::new),
            expires_in,
        })
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
            ("expires_in", Value::from(-5)),
            ("expires_in", Value::from("soon")),
            ("access_token", Value::from("")),
        ] {
            let mut bad = ok.clone();
            bad[key] = value;
            assert!(parse(bad).is_err(), "{key}");
        }
        let mut no_id_token = ok;
        no_id_token.as_object_mut().unwrap().remove("id_token");
        assert!(parse(no_id_token).ok().unwrap().id_token.is_none());
    }
}
