//! Provider metadata (OpenID Connect Discovery 1.0): the data, from discovery or from
//! configuration, and the rule its URLs follow.

use serde::{Deserialize, Serialize};

use crate::util::url::check_url;

/// What the library needs to know about a provider. Unknown members of a discovery document are
/// ignored.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::ProviderMetadata;
///
/// let md: ProviderMetadata = serde_json::from_str(r#"{
///     "issuer": "https://op.example.com",
///     "authorization_endpoint": "https://op.example.com/authorize",
///     "token_endpoint": "https://op.example.com/token",
///     "jwks_uri": "https://op.example.com/jwks"
/// }"#).unwrap();
/// assert_eq!(md.userinfo_endpoint, None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ProviderMetadata {
    /// The issuer identifier; must equal the configured issuer exactly.
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where codes are exchanged for tokens.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The provider's key set.
    pub jwks_uri: String,
    /// The userinfo endpoint.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RP-initiated logout.
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
    /// Token revocation (RFC 7009).
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// Token introspection (RFC 7662).
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// Dynamic client registration.
    #[serde(default)]
    pub registration_endpoint: Option<String>,
    /// Algorithms the provider signs ID tokens with.
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// PKCE methods the provider supports.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: the provider adds `iss` to every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    /// The response types the provider offers (any order of words; empty: not advertised).
    #[serde(default)]
    pub response_types_supported: Vec<String>,
    /// The provider takes the `claims` request parameter (OpenID Connect Core 5.5).
    #[serde(default)]
    pub claims_parameter_supported: bool,
    /// Pushed authorization requests (RFC 9126).
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
    /// The provider takes authorization requests only through its PAR endpoint (RFC 9126 5).
    #[serde(default)]
    pub require_pushed_authorization_requests: bool,
}

impl ProviderMetadata {
    /// Checks that every endpoint is https (or http on loopback, or allowed by config).
    /// Returns the offending field and why.
    pub(crate) fn check_urls(&self, allow_http: bool) -> Result<(), (&'static str, String)> {
        let required = [
            ("issuer", Some(&self.issuer)),
            ("authorization_endpoint", Some(&self.authorization_endpoint)),
            ("jwks_uri", Some(&self.jwks_uri)),
        ];
        let optional = [
            ("token_endpoint", self.token_endpoint.as_ref()),
            ("userinfo_endpoint", self.userinfo_endpoint.as_ref()),
            ("end_session_endpoint", self.end_session_endpoint.as_ref()),
            ("revocation_endpoint", self.revocation_endpoint.as_ref()),
            (
                "introspection_endpoint",
                self.introspection_endpoint.as_ref(),
            ),
            ("registration_endpoint", self.registration_endpoint.as_ref()),
            (
                "pushed_authorization_request_endpoint",
                self.pushed_authorization_request_endpoint.as_ref(),
            ),
        ];
        for (field, value) in required.into_iter().chain(optional) {
            if let Some(value) = value {
                check_url(value, allow_http).map_err(|why| (field, why))?;
            }
        }
        Ok(())
    }
}
