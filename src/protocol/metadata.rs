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
    /// The response modes the provider offers (empty: not advertised).
    #[serde(default)]
    pub response_modes_supported: Vec<String>,
    /// The algorithms the provider signs JARM responses with.
    #[serde(default)]
    pub authorization_signing_alg_values_supported: Vec<String>,
    /// The key management algorithms the provider encrypts ID tokens with.
    #[serde(default)]
    pub id_token_encryption_alg_values_supported: Vec<String>,
    /// The content encryptions the provider encrypts ID tokens with.
    #[serde(default)]
    pub id_token_encryption_enc_values_supported: Vec<String>,
    /// The key management algorithms the provider encrypts userinfo answers with.
    #[serde(default)]
    pub userinfo_encryption_alg_values_supported: Vec<String>,
    /// The content encryptions the provider encrypts userinfo answers with.
    #[serde(default)]
    pub userinfo_encryption_enc_values_supported: Vec<String>,
    /// The key management algorithms the provider encrypts JARM responses with.
    #[serde(default)]
    pub authorization_encryption_alg_values_supported: Vec<String>,
    /// The content encryptions the provider encrypts JARM responses with.
    #[serde(default)]
    pub authorization_encryption_enc_values_supported: Vec<String>,
    /// The key management algorithms the provider decrypts request objects with.
    #[serde(default)]
    pub request_object_encryption_alg_values_supported: Vec<String>,
    /// The content encryptions the provider decrypts request objects with.
    #[serde(default)]
    pub request_object_encryption_enc_values_supported: Vec<String>,
    /// The endpoints a client using mutual TLS calls instead (RFC 8705 5).
    #[serde(default)]
    pub mtls_endpoint_aliases: Option<MtlsEndpointAliases>,
}

/// The endpoints of a provider for clients that use mutual TLS (RFC 8705 5): where present,
/// they replace the plain ones for a client with a `tls_client_certificate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MtlsEndpointAliases {
    /// The token endpoint.
    #[serde(default)]
    pub token_endpoint: Option<String>,
    /// The userinfo endpoint.
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// The revocation endpoint.
    #[serde(default)]
    pub revocation_endpoint: Option<String>,
    /// The introspection endpoint.
    #[serde(default)]
    pub introspection_endpoint: Option<String>,
    /// The PAR endpoint.
    #[serde(default)]
    pub pushed_authorization_request_endpoint: Option<String>,
}

/// An endpoint the client calls with its credentials (and, with mutual TLS, its certificate).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    Userinfo,
    Revocation,
    Introspection,
    PushedAuthorization,
}

impl ProviderMetadata {
    /// The URL of `which`: its mutual-TLS alias when the client uses `mtls` and the provider
    /// has one, else the plain one.
    pub(crate) fn endpoint(&self, which: Endpoint, mtls: bool) -> Option<&str> {
        let alias = match (&self.mtls_endpoint_aliases, mtls) {
            (Some(a), true) => match which {
                Endpoint::Token => a.token_endpoint.as_deref(),
                Endpoint::Userinfo => a.userinfo_endpoint.as_deref(),
                Endpoint::Revocation => a.revocation_endpoint.as_deref(),
                Endpoint::Introspection => a.introspection_endpoint.as_deref(),
                Endpoint::PushedAuthorization => a.pushed_authorization_request_endpoint.as_deref(),
            },
            _ => None,
        };
        alias.or(match which {
            Endpoint::Token => self.token_endpoint.as_deref(),
            Endpoint::Userinfo => self.userinfo_endpoint.as_deref(),
            Endpoint::Revocation => self.revocation_endpoint.as_deref(),
            Endpoint::Introspection => self.introspection_endpoint.as_deref(),
            Endpoint::PushedAuthorization => self.pushed_authorization_request_endpoint.as_deref(),
        })
    }

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
        let none = MtlsEndpointAliases::default();
        let aliases = self.mtls_endpoint_aliases.as_ref().unwrap_or(&none);
        let aliased = [
            (
                "mtls_endpoint_aliases.token_endpoint",
                aliases.token_endpoint.as_ref(),
            ),
            (
                "mtls_endpoint_aliases.userinfo_endpoint",
                aliases.userinfo_endpoint.as_ref(),
            ),
            (
                "mtls_endpoint_aliases.revocation_endpoint",
                aliases.revocation_endpoint.as_ref(),
            ),
            (
                "mtls_endpoint_aliases.introspection_endpoint",
                aliases.introspection_endpoint.as_ref(),
            ),
            (
                "mtls_endpoint_aliases.pushed_authorization_request_endpoint",
                aliases.pushed_authorization_request_endpoint.as_ref(),
            ),
        ];
        for (field, value) in required.into_iter().chain(optional).chain(aliased) {
            if let Some(value) = value {
                check_url(value, allow_http).map_err(|why| (field, why))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mutual_tls_clients_call_the_aliases_where_there_are_some() {
        let metadata: ProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/authorize",
            "jwks_uri": "https://op.example/jwks",
            "token_endpoint": "https://op.example/token",
            "userinfo_endpoint": "https://op.example/userinfo",
            "mtls_endpoint_aliases": { "token_endpoint": "https://mtls.op.example/token" },
        }))
        .unwrap();
        let token = metadata.endpoint(Endpoint::Token, true);
        assert_eq!(token, Some("https://mtls.op.example/token"));
        let plain = metadata.endpoint(Endpoint::Token, false);
        assert_eq!(plain, Some("https://op.example/token"));
        let userinfo = metadata.endpoint(Endpoint::Userinfo, true);
        assert_eq!(userinfo, Some("https://op.example/userinfo"));
        assert_eq!(metadata.endpoint(Endpoint::Revocation, true), None);
        let mut insecure = metadata.clone();
        insecure.mtls_endpoint_aliases = Some(MtlsEndpointAliases {
            token_endpoint: Some("http://op.example/token".into()),
            ..Default::default()
        });
        let (field, _) = insecure.check_urls(false).unwrap_err();
        assert_eq!(field, "mtls_endpoint_aliases.token_endpoint");
    }
}
