//! The token endpoint: one request (code exchange, refresh, client credentials), authenticated
//! as the client, and its answer read and checked.

use serde_json::Value;

use crate::client::auth::client_post;
use crate::client::http::HttpClient;
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::error::{AuthError, ProviderError};
use crate::protocol::token_response::TokenResponse;
use crate::util::text::printable_ascii;

const ENDPOINT: &str = "token endpoint";

/// A request to the token endpoint with `form`. A registered client the provider refuses
/// (`invalid_client`) is forgotten, so that the next login registers anew.
pub(crate) async fn token_request(
    client: &ProviderClient,
    ready: &ReadyProvider,
    form: Vec<(&str, &str)>,
) -> Result<TokenResponse, AuthError> {
    let token_endpoint = ready
        .metadata
        .token_endpoint
        .as_deref()
        .ok_or(ProviderError::MissingEndpoint("token endpoint"))?;
    let credentials = &ready.credentials;
    let request = client_post(client, ready, token_endpoint, form)?;
    let result = read_token_response(&client.http, request).await;
    if credentials.registered
        && matches!(&result, Err(AuthError::TokenRejected(e)) if e == "invalid_client")
    {
        client.forget_registration(&credentials.client_id);
    }
    result
}

async fn read_token_response(
    http: &HttpClient,
    request: reqwest::RequestBuilder,
) -> Result<TokenResponse, AuthError> {
    let response = http.send(ENDPOINT, request).await?;
    match response.status {
        200 => {}
        400 | 401 => {
            let error = response
                .json_object(ENDPOINT)
                .ok()
                .and_then(|o| {
                    o.get("error")
                        .and_then(Value::as_str)
                        .map(|e| printable_ascii(e, 64))
                })
                .unwrap_or_else(|| format!("HTTP {}", response.status));
            return Err(AuthError::TokenRejected(error));
        }
        status => {
            return Err(ProviderError::Status {
                endpoint: ENDPOINT,
                status,
            }
            .into())
        }
    }
    TokenResponse::parse(&response.json_object(ENDPOINT)?)
}
