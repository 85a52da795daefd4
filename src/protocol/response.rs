//! What the authorization response carries (the response type: a code, an ID token, an access
//! token) and how it comes back to the application (the response mode: query, fragment or
//! form POST).

use std::fmt;

use serde::{Deserialize, Serialize};

/// What the authorization response carries (`response_type`, OpenID Connect Core 3 and OAuth
/// 2.0 Multiple Response Types). The words may be given in any order in the configuration.
///
/// # Example
///
/// ```
/// use figment::{Figment, providers::{Format, Toml}};
/// use rocket_openidconnect::{OidcConfig, ResponseMode, ResponseType};
///
/// let figment = Figment::from(Toml::string(r#"
///     [oidc.providers.default]
///     issuer = "https://op.example.com"
///     client_id = "my-app"
///     client_secret = "s3cret"
///     response_type = "id_token code"
/// "#));
/// let config = OidcConfig::from_figment(&figment).unwrap();
/// let provider = &config.providers["default"];
/// assert_eq!(provider.response_type, ResponseType::CodeIdToken);
/// assert_eq!(provider.response_type.as_str(), "code id_token");
/// // Responses carrying tokens come in the fragment unless configured otherwise.
/// assert_eq!(provider.response_mode(), ResponseMode::Fragment);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
#[non_exhaustive]
pub enum ResponseType {
    /// The authorization code flow (the default, and the one to prefer).
    #[default]
    Code,
    /// The implicit flow with an ID token only (no access token, so no userinfo).
    IdToken,
    /// The implicit flow with an ID token and an access token.
    IdTokenToken,
    /// The hybrid flow: a code and an ID token.
    CodeIdToken,
    /// The hybrid flow: a code and an access token.
    CodeToken,
    /// The hybrid flow: a code, an ID token and an access token.
    CodeIdTokenToken,
}

impl ResponseType {
    /// The `response_type` parameter (words in the order the specifications use).
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseType::Code => "code",
            ResponseType::IdToken => "id_token",
            ResponseType::IdTokenToken => "id_token token",
            ResponseType::CodeIdToken => "code id_token",
            ResponseType::CodeToken => "code token",
            ResponseType::CodeIdTokenToken => "code id_token token",
        }
    }

    /// The response carries an authorization code (code and hybrid flows).
    pub fn has_code(&self) -> bool {
        matches!(
            self,
            ResponseType::Code
                | ResponseType::CodeIdToken
                | ResponseType::CodeToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// The response carries an ID token.
    pub fn has_id_token(&self) -> bool {
        matches!(
            self,
            ResponseType::IdToken
                | ResponseType::IdTokenToken
                | ResponseType::CodeIdToken
                | ResponseType::CodeIdTokenToken
        )
    }

    /// The response carries an access token.
    pub fn has_access_token(&self) -> bool {
        matches!(
            self,
            ResponseType::IdTokenToken | ResponseType::CodeToken | ResponseType::CodeIdTokenToken
        )
    }

    /// The response mode the specifications give this type: `query` for `code`, `fragment`
    /// for every type that carries tokens.
    pub fn default_mode(&self) -> ResponseMode {
        if *self == ResponseType::Code {
            ResponseMode::Query
        } else {
            ResponseMode::Fragment
        }
    }

    /// The grant types a client using this response type registers.
    pub(crate) fn grant_types(&self) -> Vec<&'static str> {
        let mut grants = Vec::new();
        if self.has_code() {
            grants.extend(["authorization_code", "refresh_token"]);
        }
        if *self != ResponseType::Code {
            grants.push("implicit");
        }
        grants
    }

    /// Whether `words` (space-separated, any order) names this type.
    pub(crate) fn matches(&self, words: &str) -> bool {
        ResponseType::try_from(words.to_owned()).ok() == Some(*self)
    }
}

impl TryFrom<String> for ResponseType {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        let mut words: Vec<&str> = value.split_whitespace().collect();
        words.sort_unstable();
        let parsed = match words.as_slice() {
            ["code"] => ResponseType::Code,
            ["id_token"] => ResponseType::IdToken,
            ["id_token", "token"] => ResponseType::IdTokenToken,
            ["code", "id_token"] => ResponseType::CodeIdToken,
            ["code", "token"] => ResponseType::CodeToken,
            ["code", "id_token", "token"] => ResponseType::CodeIdTokenToken,
            _ => {
                return Err(format!(
                    "`{value}` is not an OpenID Connect response type: use \"code\", \"id_token\", \
                     \"id_token token\", \"code id_token\", \"code token\" or \"code id_token token\""
                ))
            }
        };
        Ok(parsed)
    }
}

impl From<ResponseType> for String {
    fn from(value: ResponseType) -> String {
        value.as_str().to_owned()
    }
}

impl fmt::Display for ResponseType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How the authorization response is delivered (`response_mode`): in the clear, or as one
/// signed (and possibly encrypted) JWT in the `response` parameter (JARM, the JWT Secured
/// Authorization Response Mode).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{ResponseMode, ResponseType};
///
/// assert_eq!(ResponseMode::FormPost.as_str(), "form_post");
/// assert_eq!(ResponseMode::FormPostJwt.as_str(), "form_post.jwt");
/// // `jwt` is the JWT form of the response type's default mode.
/// assert_eq!(ResponseMode::Jwt.resolved(ResponseType::Code), ResponseMode::QueryJwt);
/// assert!(ResponseMode::FragmentJwt.is_jwt());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the query of a GET to the callback (the default for `code`; never for tokens).
    #[default]
    #[serde(rename = "query")]
    Query,
    /// In the URL fragment, which the browser does not send: the callback serves a small page
    /// whose script POSTs the fragment to the callback (the default when tokens are returned).
    #[serde(rename = "fragment")]
    Fragment,
    /// In an HTML form the provider's page POSTs to the callback (OAuth 2.0 Form Post Response
    /// Mode). The pending-login cookie is then `SameSite=None; Secure`, so that it comes along
    /// with the cross-site POST.
    #[serde(rename = "form_post")]
    FormPost,
    /// JARM in the response type's default mode: `query.jwt` for `code`, `fragment.jwt` for
    /// the types that carry tokens.
    #[serde(rename = "jwt")]
    Jwt,
    /// JARM: the response JWT in the query.
    #[serde(rename = "query.jwt")]
    QueryJwt,
    /// JARM: the response JWT in the fragment (relayed like `fragment`).
    #[serde(rename = "fragment.jwt")]
    FragmentJwt,
    /// JARM: the response JWT in a form POST (like `form_post`).
    #[serde(rename = "form_post.jwt")]
    FormPostJwt,
}

impl ResponseMode {
    /// The `response_mode` parameter.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::Fragment => "fragment",
            ResponseMode::FormPost => "form_post",
            ResponseMode::Jwt => "jwt",
            ResponseMode::QueryJwt => "query.jwt",
            ResponseMode::FragmentJwt => "fragment.jwt",
            ResponseMode::FormPostJwt => "form_post.jwt",
        }
    }

    /// The mode itself, with `jwt` made explicit for `response_type`.
    pub fn resolved(self, response_type: ResponseType) -> ResponseMode {
        match (self, response_type.default_mode()) {
            (ResponseMode::Jwt, ResponseMode::Query) => ResponseMode::QueryJwt,
            (ResponseMode::Jwt, _) => ResponseMode::FragmentJwt,
            (mode, _) => mode,
        }
    }

    /// Whether the response is a JWT (JARM).
    pub fn is_jwt(&self) -> bool {
        matches!(
            self,
            ResponseMode::Jwt
                | ResponseMode::QueryJwt
                | ResponseMode::FragmentJwt
                | ResponseMode::FormPostJwt
        )
    }

    /// Whether the response is in the URL query.
    pub(crate) fn is_query(&self) -> bool {
        matches!(self, ResponseMode::Query | ResponseMode::QueryJwt)
    }

    /// Whether the provider's page POSTs the response (a cross-site POST).
    pub(crate) fn is_form_post(&self) -> bool {
        matches!(self, ResponseMode::FormPost | ResponseMode::FormPostJwt)
    }

    /// Whether the response reaches the callback as a POST (from the provider's page, or from
    /// the relay page for a fragment).
    pub(crate) fn is_post(&self) -> bool {
        !self.is_query()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_types_parse_in_any_order_and_nothing_else() {
        for (input, expected) in [
            ("code", ResponseType::Code),
            ("id_token", ResponseType::IdToken),
            ("token id_token", ResponseType::IdTokenToken),
            ("id_token code", ResponseType::CodeIdToken),
            ("token  code", ResponseType::CodeToken),
            ("token id_token code", ResponseType::CodeIdTokenToken),
        ] {
            let parsed = ResponseType::try_from(input.to_owned()).unwrap();
            assert_eq!(parsed, expected, "{input}");
            assert!(parsed.matches(input));
            assert_eq!(ResponseType::try_from(parsed.to_string()), Ok(parsed));
        }
        for bad in [
            "",
            "token",
            "code code",
            "none",
            "code id_token token x",
            "CODE",
        ] {
            assert!(ResponseType::try_from(bad.to_owned()).is_err(), "{bad}");
        }
    }

    #[test]
    fn parts_and_default_modes_follow_the_specifications() {
        use ResponseType::*;
        let all = [
            Code,
            IdToken,
            IdTokenToken,
            CodeIdToken,
            CodeToken,
            CodeIdTokenToken,
        ];
        for rt in all {
            let words: Vec<&str> = rt.as_str().split(' ').collect();
            assert_eq!(rt.has_code(), words.contains(&"code"), "{rt}");
            assert_eq!(rt.has_id_token(), words.contains(&"id_token"), "{rt}");
            assert_eq!(rt.has_access_token(), words.contains(&"token"), "{rt}");
            let expected = if rt == Code {
                ResponseMode::Query
            } else {
                ResponseMode::Fragment
            };
            assert_eq!(rt.default_mode(), expected, "{rt}");
        }
        assert_eq!(Code.grant_types(), ["authorization_code", "refresh_token"]);
        assert_eq!(IdToken.grant_types(), ["implicit"]);
        assert_eq!(
            CodeIdToken.grant_types(),
            ["authorization_code", "refresh_token", "implicit"]
        );
    }
}
