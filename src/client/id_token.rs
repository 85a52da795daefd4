//! ID tokens from a provider, validated with its (cached, refetched on rotation) keys.

use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::error::AuthError;
use crate::protocol::id_token::{validate_id_token, Claims, Expectations, HashCheck, NonceCheck};
use crate::protocol::jws::allowed_algs;

/// What an ID token is checked against besides the provider's identity.
pub(crate) struct IdTokenContext<'a> {
    pub nonce: NonceCheck<'a>,
    /// Unix time: `iat` may not be earlier (minus the skew).
    pub issued_after: i64,
    /// The `max_age` of the login request (none for a refresh).
    pub max_age: Option<i64>,
    /// The `acr_values` of the login request (none for a refresh).
    pub acr_values: Option<&'a str>,
    /// Values returned with the token that it must bind by hash.
    pub hashes: &'a [HashCheck<'a>],
}

/// Validates `id_token` completely (OpenID Connect Core 3.1.3.7) for `client` at `now`, with
/// `skew` seconds of clock difference; one key-set refetch for a rotated key.
pub(crate) async fn validate(
    client: &ProviderClient,
    ready: &ReadyProvider,
    id_token: &str,
    context: &IdTokenContext<'_>,
    now: i64,
    skew: i64,
) -> Result<Claims, AuthError> {
    let algs = allowed_algs(
        client.config.id_token_signing_algs.as_deref(),
        &ready.metadata.id_token_signing_alg_values_supported,
    );
    let expect = Expectations {
        issuer: client.issuer_rule(ready),
        client_id: &ready.credentials.client_id,
        client_secret: ready.credentials.client_secret.as_ref(),
        allowed_algs: &algs,
        nonce: context.nonce,
        issued_after: context.issued_after,
        now,
        skew,
        max_age: context.max_age,
        acr_values: context.acr_values,
        hashes: context.hashes,
    };
    let check = |keys: &_| validate_id_token(id_token, keys, &expect);
    Ok(ready.keys.check_with(&client.http, check).await??)
}
