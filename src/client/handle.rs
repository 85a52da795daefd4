//! The application's own calls to a provider's endpoints that the crate does not wrap (a
//! device authorization, a custom API of the provider, a registration read): with the
//! client's authentication, the provider's TLS settings, proxy and timeouts, and only to the
//! provider itself.

use crate::client::auth::client_post;
use crate::client::http::HttpResponse;
use crate::client::provider::ProviderClient;
use crate::error::ProviderError;
use crate::protocol::metadata::ProviderMetadata;
use crate::util::url::at_origin_of;

const ENDPOINT: &str = "provider endpoint";

/// A form POST to `url`, authenticated as the client with its configured method. `url` must
/// be at one of the provider's origins (its issuer's or an endpoint's).
pub(crate) async fn authenticated_post(
    client: &ProviderClient,
    url: &str,
    form: &[(&str, &str)],
) -> Result<HttpResponse, ProviderError> {
    let ready = client.ready().await?;
    if !at_provider(&ready.metadata, url) {
        return Err(ProviderError::ForeignEndpoint(url.to_owned()));
    }
    let request = client_post(client, &ready, url, form.to_vec())?;
    client.http.send(ENDPOINT, request).await
}

/// Whether `url` is at the origin of the provider's issuer or of one of its endpoints.
fn at_provider(metadata: &ProviderMetadata, url: &str) -> bool {
    let aliases = metadata.mtls_endpoint_aliases.clone().unwrap_or_default();
    let known = [
        Some(&metadata.issuer),
        Some(&metadata.authorization_endpoint),
        Some(&metadata.jwks_uri),
        metadata.token_endpoint.as_ref(),
        metadata.userinfo_endpoint.as_ref(),
        metadata.end_session_endpoint.as_ref(),
        metadata.revocation_endpoint.as_ref(),
        metadata.introspection_endpoint.as_ref(),
        metadata.registration_endpoint.as_ref(),
        metadata.pushed_authorization_request_endpoint.as_ref(),
        aliases.token_endpoint.as_ref(),
        aliases.userinfo_endpoint.as_ref(),
        aliases.revocation_endpoint.as_ref(),
        aliases.introspection_endpoint.as_ref(),
        aliases.pushed_authorization_request_endpoint.as_ref(),
    ];
    at_origin_of(url, known.into_iter().flatten().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_providers_origins_get_the_credentials() {
        let metadata: ProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://op.example/tenant",
            "authorization_endpoint": "https://login.op.example/authorize",
            "jwks_uri": "https://op.example/keys",
            "token_endpoint": "https://op.example/token",
        }))
        .unwrap();
        assert!(at_provider(&metadata, "https://op.example/device/code"));
        assert!(at_provider(&metadata, "https://login.op.example/x"));
        assert!(at_provider(&metadata, "https://op.example:443/x"));
        assert!(!at_provider(&metadata, "http://op.example/x"));
        assert!(!at_provider(&metadata, "https://op.example.evil/x"));
        assert!(!at_provider(
            &metadata,
            "https://evil.example/?https://op.example"
        ));
        assert!(!at_provider(&metadata, "not a url"));
    }
}
