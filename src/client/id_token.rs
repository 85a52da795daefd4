//! ID tokens from a provider: decrypted when it must encrypt them, then validated with its
//! (cached, refetched on rotation) keys.

use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::error::{AuthError, TokenError};
use crate::protocol::id_token::{validate_id_token, Claims, Expectations, HashCheck, NonceCheck};
use crate::protocol::jwe::{decrypt, is_compact_jwe};
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

/// The signed ID token `raw` holds: decrypted with the relying party's keys when the
/// provider must encrypt ID tokens (a plain one is then refused: whoever can strip the
/// encryption must not be believed), else `raw` itself (an encrypted one then fails as
/// malformed).
pub(crate) fn open(client: &ProviderClient, raw: &str) -> Result<Option<String>, AuthError> {
    let Some(encryption) = client.config.id_token_encryption() else {
        return Ok(None);
    };
    if !is_compact_jwe(raw) {
        return Err(TokenError::Encryption(format!(
            "it is not encrypted ({} with {} is configured)",
            encryption.alg.name(),
            encryption.enc.name()
        ))
        .into());
    }
    let plain =
        decrypt(raw, client.keys.decryption(), encryption).map_err(TokenError::Encryption)?;
    let inner = String::from_utf8(plain)
        .map_err(|_| TokenError::Encryption("what it holds is not text".into()))?;
    if is_compact_jwe(&inner) {
        return Err(TokenError::Encryption("it holds another encrypted token".into()).into());
    }
    Ok(Some(inner))
}
