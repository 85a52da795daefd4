//! Discovery (OpenID Connect Discovery 1.0): the provider's metadata, fetched and checked.

use crate::client::http::{invalid, HttpClient};
use crate::error::ProviderError;
use crate::protocol::issuer::TENANT_PLACEHOLDER;
use crate::protocol::metadata::ProviderMetadata;

/// Fetches and checks `{issuer}/.well-known/openid-configuration`: JSON, for exactly this
/// issuer, every endpoint https (or allowed http).
pub(crate) async fn discover(
    http: &HttpClient,
    issuer: &str,
    allow_http: bool,
    multi_tenant: bool,
) -> Result<ProviderMetadata, ProviderError> {
    const ENDPOINT: &str = "discovery endpoint";
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let response = http.send(ENDPOINT, http.get(&url)).await?;
    if response.status != 200 {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        });
    }
    if !response.is_json() {
        return Err(invalid(
            ENDPOINT,
            "the content type is not application/json",
        ));
    }
    let object = response.json_object(ENDPOINT)?;
    let metadata: ProviderMetadata = serde_json::from_value(serde_json::Value::Object(object))
        .map_err(|e| invalid(ENDPOINT, e.to_string()))?;
    // A multi-tenant provider's common document names an issuer template instead.
    let template = multi_tenant && metadata.issuer.contains(TENANT_PLACEHOLDER);
    if metadata.issuer != issuer && !template {
        return Err(ProviderError::IssuerMismatch {
            expected: issuer.to_owned(),
            found: metadata.issuer,
        });
    }
    metadata
        .check_urls(allow_http)
        .map_err(|(field, why)| invalid(ENDPOINT, format!("{field}: {why}")))?;
    Ok(metadata)
}
