//! The parameters the provider sends the browser back with: an authorization response (query
//! or form body) at the callback, and the return from a logout at the provider.

use openidconnect::AccessToken;
use serde_json::{Map, Value};

use crate::error::AuthError;
use crate::protocol::response::ResponseType;
use crate::protocol::secret::{AuthorizationCode, IdTokenJwt, State};
use crate::protocol::token_response::{bound_to_proof, TokenResponse};
use crate::util::params::parse_params;

/// The parameters of an authorization response. The secrets are in types whose `Debug`
/// prints a redaction.
#[derive(Debug, Default)]
pub(crate) struct CallbackParams {
    pub state: Option<State>,
    pub code: Option<AuthorizationCode>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
    /// An ID token in the front channel (implicit and hybrid flows).
    pub id_token: Option<IdTokenJwt>,
    /// An access token in the front channel, with its type and lifetime.
    pub access_token: Option<AccessToken>,
    pub token_type: Option<String>,
    pub expires_in: Option<String>,
    /// A JARM response: the whole response as one signed (maybe encrypted) JWT.
    pub response: Option<String>,
}

/// The parameters of an authorization response this crate reads (`response`, JARM's, last).
const NAMES: [&str; 10] = [
    "state",
    "code",
    "error",
    "error_description",
    "iss",
    "id_token",
    "access_token",
    "token_type",
    "expires_in",
    "response",
];

impl CallbackParams {
    /// Parses an authorization response (query or form body): a parameter given twice is an
    /// error, unknown ones are ignored.
    pub fn parse(input: &str) -> Result<Self, AuthError> {
        let values = parse_params(input, NAMES)?;
        let [.., response] = &values;
        let response = response.clone();
        Ok(CallbackParams {
            response,
            ..Self::of(values)
        })
    }

    /// The parameters a JARM response's claims carry (a string each; anything else is an
    /// error). `response` itself is never among them.
    pub fn from_claims(claims: &Map<String, Value>) -> Result<Self, AuthError> {
        let mut values: [Option<String>; NAMES.len()] = Default::default();
        for (slot, name) in values.iter_mut().zip(NAMES).take(NAMES.len() - 1) {
            *slot = match claims.get(name) {
                None => None,
                Some(Value::String(value)) => Some(value.clone()),
                Some(_) => {
                    return Err(AuthError::InvalidCallback(format!(
                        "`{name}` in the JARM response is not a string"
                    )))
                }
            };
        }
        Ok(Self::of(values))
    }

    fn of(values: [Option<String>; NAMES.len()]) -> Self {
        let [state, code, error, error_description, iss, id_token, access_token, token_type, expires_in, _] =
            values;
        CallbackParams {
            state: state.map(State::new),
            code: code.map(AuthorizationCode::new),
            error,
            error_description,
            iss,
            id_token: id_token.map(IdTokenJwt::new),
            access_token: access_token.map(AccessToken::new),
            token_type,
            expires_in,
            response: None,
        }
    }

    /// Whether anything but `response` came along (a JARM response carries nothing else).
    pub fn has_plain_parameters(&self) -> bool {
        self.state.is_some()
            || self.code.is_some()
            || self.error.is_some()
            || self.error_description.is_some()
            || self.iss.is_some()
            || self.id_token.is_some()
            || self.access_token.is_some()
            || self.token_type.is_some()
            || self.expires_in.is_some()
    }

    /// Checks that the response carries exactly what `response_type` asks for: a code flow
    /// never accepts tokens in the front channel, an implicit flow never a code.
    pub fn check_parts(&self, response_type: ResponseType) -> Result<(), AuthError> {
        let parts = [
            ("code", self.code.is_some(), response_type.has_code()),
            (
                "id_token",
                self.id_token.is_some(),
                response_type.has_id_token(),
            ),
            (
                "access_token",
                self.access_token.is_some(),
                response_type.has_access_token(),
            ),
        ];
        for (name, present, expected) in parts {
            if present && !expected {
                return Err(AuthError::InvalidCallback(format!(
                    "`{name}` in the authorization response, which response_type \
                     `{response_type}` does not return"
                )));
            }
            if !present && expected {
                return Err(AuthError::InvalidCallback(format!(
                    "no `{name}` in the response"
                )));
            }
        }
        if self.code.as_ref().is_some_and(|c| c.secret().is_empty()) {
            return Err(AuthError::InvalidCallback("the code is empty".into()));
        }
        Ok(())
    }

    /// The access token of the front channel (implicit flow), with its lifetime: a Bearer
    /// token, checked like a token endpoint's. A bad one is a bad request (400), not a bad
    /// token endpoint (502).
    pub fn front_channel_access_token(
        &self,
    ) -> Result<Option<(AccessToken, Option<i64>)>, AuthError> {
        let Some(token) = &self.access_token else {
            return Ok(None);
        };
        let mut object = serde_json::Map::new();
        object.insert("access_token".into(), token.secret().as_str().into());
        if let Some(token_type) = &self.token_type {
            object.insert("token_type".into(), token_type.as_str().into());
        }
        if let Some(expires_in) = &self.expires_in {
            object.insert("expires_in".into(), expires_in.as_str().into());
        }
        let parsed = TokenResponse::parse(&object)
            .and_then(|parsed| {
                // No proof goes through a browser: a DPoP token here is not ours to use.
                bound_to_proof(parsed.token_type, false, false)?;
                Ok(parsed)
            })
            .map_err(|error| match error {
                AuthError::TokenResponse(why) => AuthError::InvalidCallback(why),
                other => other,
            })?;
        Ok(Some((parsed.access_token, parsed.expires_in)))
    }
}

/// The parameters of a request to a logout route (the provider sending the browser back).
#[derive(Default)]
pub(crate) struct LogoutParams {
    pub state: Option<String>,
    pub post_logout_redirect_uri: Option<String>,
}

impl LogoutParams {
    /// Parses a query string; a parameter given twice is an error.
    pub fn parse(query: &str) -> Result<Self, AuthError> {
        let [state, post_logout_redirect_uri] =
            parse_params(query, ["state", "post_logout_redirect_uri"])?;
        Ok(LogoutParams {
            state,
            post_logout_redirect_uri,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::params::MAX_PARAMS_LEN;

    #[test]
    fn callback_parameters_are_parsed_and_duplicates_refused() {
        let p = CallbackParams::parse("state=s&code=c&iss=https%3A%2F%2Fop&other=1").unwrap();
        assert!(p.state.as_ref().unwrap().matches("s"));
        assert_eq!(p.code.as_ref().map(|c| c.secret()), Some("c"));
        assert_eq!(p.iss.as_deref(), Some("https://op"));
        assert!(p.check_parts(ResponseType::Code).is_ok());
        for dup in [
            "state=a&state=b",
            "code=a&code=b",
            "iss=a&iss=a",
            "error=x&error=y",
        ] {
            assert!(
                matches!(
                    CallbackParams::parse(dup),
                    Err(AuthError::InvalidCallback(_))
                ),
                "{dup}"
            );
        }
        let implicit = CallbackParams::parse("id_token=x&state=s").unwrap();
        assert!(implicit.check_parts(ResponseType::Code).is_err());
        assert!(implicit.check_parts(ResponseType::IdToken).is_ok());
        assert!(implicit.check_parts(ResponseType::IdTokenToken).is_err());
        assert!(implicit.check_parts(ResponseType::CodeIdToken).is_err());
        let empty_code = CallbackParams::parse("code=&state=s").unwrap();
        assert!(empty_code.check_parts(ResponseType::Code).is_err());
        assert!(CallbackParams::parse(&"a".repeat(MAX_PARAMS_LEN + 1)).is_err());
    }

    #[test]
    fn secrets_of_the_response_never_show_in_debug_output() {
        let p = CallbackParams::parse(
            "state=the-state&code=the-code&id_token=eyJ.a.b&access_token=at-123",
        )
        .unwrap();
        let printed = format!("{p:?}");
        for secret in ["the-state", "the-code", "eyJ", "at-123"] {
            assert!(!printed.contains(secret), "{printed}");
        }
    }

    #[test]
    fn logout_parameters_refuse_duplicates() {
        let p = LogoutParams::parse("state=a&other=1").unwrap();
        assert_eq!(p.state.as_deref(), Some("a"));
        assert!(LogoutParams::parse("state=a&state=b").is_err());
        assert!(
            LogoutParams::parse("post_logout_redirect_uri=a&post_logout_redirect_uri=b").is_err()
        );
    }
}
