//! The userinfo endpoint: the user's claims, for the subject of the ID token only.

use serde_json::{Map, Value};

use crate::client::dpop::{send_with_proof, Proof};
use crate::client::http::{invalid, HttpResponse};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::signed_answer::{is_media_type, SignedAnswer};
use crate::config::UserinfoMethod;
use crate::error::{AuthError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::jwe::{decrypt, is_compact_jwe, Encryption};
use crate::protocol::metadata::Endpoint;

const ENDPOINT: &str = "userinfo endpoint";

/// What a signed userinfo answer must be.
fn signed_answer(alg: &str) -> SignedAnswer<'_> {
    SignedAnswer {
        endpoint: ENDPOINT,
        media_type: "application/jwt",
        typ: None,
        alg,
        iss_as_parameter: false,
    }
}

/// What the encrypted answer `response` holds: a refusal when it is not encrypted as
/// configured (a plain answer included) or does not decrypt with our keys.
fn decrypted(
    client: &ProviderClient,
    response: &HttpResponse,
    encryption: Encryption,
) -> Result<String, ProviderError> {
    let body = std::str::from_utf8(&response.body)
        .unwrap_or_default()
        .trim();
    if !is_media_type(response, "application/jwt") || !is_compact_jwe(body) {
        return Err(invalid(
            ENDPOINT,
            format!(
                "the answer is not encrypted ({} with {} is configured)",
                encryption.alg.name(),
                encryption.enc.name()
            ),
        ));
    }
    let plain = decrypt(body, client.keys.decryption(), encryption)
        .map_err(|why| invalid(ENDPOINT, format!("the encrypted answer: {why}")))?;
    String::from_utf8(plain)
        .map_err(|_| invalid(ENDPOINT, "the encrypted answer does not hold text"))
}

/// The userinfo of `access_token`'s user, if configured and offered; its `sub` must be
/// `subject`. A token bound to `dpop` is sent as `DPoP` with a proof.
pub(crate) async fn fetch_userinfo(
    client: &ProviderClient,
    ready: &ReadyProvider,
    access_token: &str,
    subject: &str,
    dpop: Option<&DpopKey>,
) -> Result<Option<Map<String, Value>>, AuthError> {
    let endpoint = match (
        &client.config.userinfo_method,
        ready
            .metadata
            .endpoint(Endpoint::Userinfo, client.config.uses_mtls()),
    ) {
        (UserinfoMethod::None, _) | (_, None) => return Ok(None),
        (_, Some(endpoint)) => endpoint,
    };
    let http = &client.http;
    let post = client.config.userinfo_method == UserinfoMethod::Post;
    let scheme = if dpop.is_some() { "DPoP" } else { "Bearer" };
    let encryption = client.config.userinfo_encryption();
    let signed = client.config.userinfo_signed_response_alg.as_deref();
    let accept = match (signed, encryption) {
        (None, None) => "application/json",
        _ => "application/jwt",
    };
    let build = || {
        let request = if post {
            http.reqwest().post(endpoint).header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
        } else {
            http.reqwest().get(endpoint)
        };
        Ok(request.header(reqwest::header::ACCEPT, accept).header(
            reqwest::header::AUTHORIZATION,
            format!("{scheme} {access_token}"),
        ))
    };
    let method = if post { "POST" } else { "GET" };
    let proof = dpop.map(|key| Proof {
        key,
        access_token: Some(access_token),
    });
    let response = send_with_proof(client.dpop(), ENDPOINT, method, endpoint, proof, build).await?;
    if response.status != 200 {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        }
        .into());
    }
    let userinfo = match (signed, encryption) {
        (None, None) if response.is_json() => response.json_object(ENDPOINT)?,
        (None, None) => {
            return Err(invalid(ENDPOINT, "only JSON userinfo responses are supported").into())
        }
        (Some(alg), None) => signed_answer(alg).verify(client, ready, &response).await?,
        (signed, Some(encryption)) => {
            let inner = decrypted(client, &response, encryption)?;
            match signed {
                Some(alg) => signed_answer(alg).verify_jwt(client, ready, &inner).await?,
                None => match serde_json::from_str(&inner) {
                    Ok(Value::Object(claims)) => claims,
                    _ => {
                        return Err(invalid(
                            ENDPOINT,
                            "the encrypted answer does not hold a JSON object (a signed one \
                             needs userinfo_signed_response_alg)",
                        )
                        .into())
                    }
                },
            }
        }
    };
    match userinfo.get("sub").and_then(Value::as_str) {
        Some(sub) if sub == subject => Ok(Some(userinfo)),
        _ => Err(AuthError::UserinfoSubject),
    }
}
