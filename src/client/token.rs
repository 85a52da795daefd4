//! The token endpoint: one request (code exchange, refresh, client credentials), authenticated
//! as the client, and its answer read and checked.

use serde_json::Value;

use crate::client::auth::client_post;
use crate::client::dpop::{send_with_proof, Proof};
use crate::client::http::HttpResponse;
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::error::{AuthError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::metadata::Endpoint;
use crate::protocol::token_response::TokenResponse;
use crate::util::text::printable_ascii;

const ENDPOINT: &str = "token endpoint";

/// A request to the token endpoint with `form`, with a DPoP proof of `dpop` when given. A
/// registered client the provider refuses (`invalid_client`) is forgotten, so that the next
/// login registers anew.
pub(crate) async fn token_request(
    client: &ProviderClient,
    ready: &ReadyProvider,
    form: Vec<(&str, &str)>,
    dpop: Option<&DpopKey>,
) -> Result<TokenResponse, AuthError> {
    let token_endpoint = ready
        .metadata
        .endpoint(Endpoint::Token, client.config.uses_mtls())
        .ok_or(ProviderError::MissingEndpoint("token endpoint"))?;
    let credentials = &ready.credentials;
    let proof = dpop.map(|key| Proof {
        key,
        access_token: None,
    });
    let build = || client_post(client, ready, token_endpoint, form.clone());
    let result = match send_with_proof(
        client.dpop(),
        ENDPOINT,
        "POST",
        token_endpoint,
        proof,
        build,
    )
    .await
    {
        Ok(response) => read_token_response(response),
        Err(error) => Err(error.into()),
    };
    if credentials.registered
        && matches!(&result, Err(AuthError::TokenRejected(e)) if e == "invalid_client")
    {
        client.forget_registration(&credentials.client_id);
    }
    result
}

fn read_token_response(response: HttpResponse) -> Result<TokenResponse, AuthError> {
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
