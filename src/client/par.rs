//! Pushed authorization requests (RFC 9126): the authorization parameters are POSTed to the
//! provider's `pushed_authorization_request_endpoint`, authenticated as the client, and the
//! browser is sent with only `client_id` and the `request_uri` the provider answered. The
//! parameters never pass through the browser (nor its history, logs or extensions), and the
//! provider knows they come from the client.

use serde_json::Value;

use crate::client::auth::client_post;
use crate::client::http::invalid;
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::config::{ProviderConfig, PushedAuthorization};
use crate::error::{AuthError, ProviderError};
use crate::protocol::metadata::{Endpoint, ProviderMetadata};
use crate::util::text::printable_ascii;

const ENDPOINT: &str = "pushed authorization request endpoint";

/// The PAR endpoint to push to, or `None` for a request in the URL: `auto` pushes when the
/// provider offers an endpoint, `required` always (a provider without one is an error), `off`
/// never (a provider that requires PAR is an error).
pub(crate) fn par_endpoint<'a>(
    config: &ProviderConfig,
    metadata: &'a ProviderMetadata,
) -> Result<Option<&'a str>, AuthError> {
    let endpoint = metadata.endpoint(Endpoint::PushedAuthorization, config.uses_mtls());
    match (config.pushed_authorization, endpoint) {
        (PushedAuthorization::Off, _) if metadata.require_pushed_authorization_requests => {
            Err(invalid(
                "discovery endpoint",
                "the provider requires pushed authorization requests, but \
                 pushed_authorization = \"off\"",
            )
            .into())
        }
        (PushedAuthorization::Off, _) => Ok(None),
        (PushedAuthorization::Required, None) => Err(invalid(
            "discovery endpoint",
            "the provider has no pushed_authorization_request_endpoint, and \
             pushed_authorization = \"required\"",
        )
        .into()),
        (_, endpoint) => Ok(endpoint),
    }
}

/// Pushes `params` to `endpoint`; returns the `request_uri` to send the browser with. A
/// refusal (`invalid_request`, `invalid_client`, ...) is the provider's error, shown in the
/// error view.
pub(crate) async fn push_request(
    client: &ProviderClient,
    ready: &ReadyProvider,
    endpoint: &str,
    params: Vec<(&str, &str)>,
) -> Result<String, AuthError> {
    let request = client_post(client, ready, endpoint, params)?;
    let response = client.http.send(ENDPOINT, request).await?;
    match response.status {
        200 | 201 => {}
        400 | 401 => {
            let body = response.json_object(ENDPOINT).unwrap_or_default();
            let text = |name: &str| {
                body.get(name)
                    .and_then(Value::as_str)
                    .map(|v| printable_ascii(v, 200))
            };
            return Err(AuthError::ProviderRefused {
                error: text("error").unwrap_or_else(|| format!("HTTP {}", response.status)),
                description: text("error_description"),
            });
        }
        status => {
            return Err(ProviderError::Status {
                endpoint: ENDPOINT,
                status,
            }
            .into())
        }
    }
    let body = response.json_object(ENDPOINT)?;
    let request_uri = body
        .get("request_uri")
        .and_then(Value::as_str)
        .filter(|uri| !uri.is_empty() && uri.len() <= 2048)
        .ok_or_else(|| invalid(ENDPOINT, "no request_uri"))?;
    if body
        .get("expires_in")
        .and_then(Value::as_i64)
        .is_none_or(|s| s <= 0)
    {
        return Err(invalid(ENDPOINT, "no positive expires_in").into());
    }
    Ok(request_uri.to_owned())
}
