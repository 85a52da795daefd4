//! OpenID Connect Back-Channel Logout 1.0 (with errata 1): the logout token a provider POSTs
//! to end sessions, validated as section 2.6 says, and its effect (the sessions it names end,
//! for every instance that shares the records).

use std::sync::Arc;

use serde_json::Value;

use crate::client::own_keys::{decrypt_with_any, Unopened};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::RelyingParty;
use crate::error::{AuthError, TokenError};
use crate::protocol::jwe::{is_compact_jwe, Encryption};
use crate::protocol::jws::{allowed_algs, check_alg, verify_signature, JsonObject};
use crate::protocol::logout_token::{parse_logout_token, MAX_AGE};
use crate::session::records::{EndedBy, Records};
use crate::util::clock::unix_now;
use crate::util::metrics;

/// A valid logout token: which sessions of which provider end.
#[derive(Debug)]
pub(crate) struct LogoutEvent {
    pub provider: String,
    /// The provider's issuer and the client the sessions belong to.
    pub issuer: String,
    pub client_id: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    /// How the token's `jti` was recorded as used (forgotten again if the logout fails, so
    /// that the provider's retry is not refused as a replay); empty when not from a token.
    pub jti_record: String,
}

impl RelyingParty {
    /// Validates a logout token (section 2.6): signed by the provider that issued it (its
    /// configured issuer), with an algorithm allowed for its ID tokens (never `none`), for this
    /// client, recent, with the back-channel logout event, a `sub` or `sid`, no `nonce`, a
    /// `jti` never seen before, and not typed as anything but a logout token.
    pub async fn validate_logout_token(
        &self,
        records: &Records,
        raw: &str,
    ) -> Result<LogoutEvent, AuthError> {
        let skew = self.config.clock_skew as i64;
        let (signed, encryption) = self.open_logout_token(raw).await?;
        let raw = signed.as_deref().unwrap_or(raw);
        let (header, claims) = parse_logout_token(raw, unix_now(), skew)?;
        let issuer = claims
            .get("iss")
            .and_then(Value::as_str)
            .ok_or_else(|| TokenError::Issuer("missing".into()))?;
        let (client, ready) = self.client_of_logout_token(issuer, &claims).await?;
        // Encrypted exactly as this provider's ID tokens must be (section 2.6, step 1): a
        // plain token where they are encrypted is refused, as a plain ID token is.
        match (client.config.id_token_encryption(), encryption) {
            (configured, used) if configured == used => {}
            (Some(configured), None) => {
                return Err(TokenError::Encryption(format!(
                    "it is not encrypted ({} with {} is configured)",
                    configured.alg.name(),
                    configured.enc.name()
                ))
                .into())
            }
            _ => {
                return Err(TokenError::Encryption(
                    "it is not encrypted as its provider's ID tokens are".into(),
                )
                .into())
            }
        }
        // The header: an allowed algorithm of this provider's ID tokens; typed as a logout
        // token or not typed (never as another kind of JWT, like an access token).
        let algs = allowed_algs(
            client.config.id_token_signing_algs.as_deref(),
            &ready.metadata.id_token_signing_alg_values_supported,
        );
        let alg = check_alg(&header, &algs)?;
        // The signature (with one key-set refetch for a rotated key).
        let secret = ready.credentials.client_secret.as_ref();
        let check = |keys: &_| verify_signature(raw, &header, &alg, keys, secret);
        ready.keys.check_with(&client.http, check).await??;
        // Used once: a replayed token is refused.
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let iat = claims
            .get("iat")
            .and_then(Value::as_f64)
            .unwrap_or_default() as i64;
        let until = iat.saturating_add(MAX_AGE + self.config.clock_skew as i64);
        let jti_record = format!("{issuer} {jti}");
        if !records.first_use("jti", &jti_record, until).await? {
            return Err(TokenError::Malformed("this logout token was used already".into()).into());
        }
        let string = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        Ok(LogoutEvent {
            provider: client.name.clone(),
            issuer: client.config.issuer().to_owned(),
            client_id: ready.credentials.client_id.clone(),
            sub: string("sub"),
            sid: string("sid"),
            jti_record,
        })
    }

    /// The signed token inside `raw` when it is encrypted (a compact JWE), decrypted with
    /// the ID-token encryption of a provider that has one (each setting tried once), and
    /// that setting; `(None, None)` for a signed token. Which provider sent it is known only
    /// once it is open: the caller then holds the token to that provider's setting.
    async fn open_logout_token(
        &self,
        raw: &str,
    ) -> Result<(Option<String>, Option<Encryption>), AuthError> {
        if !is_compact_jwe(raw) {
            return Ok((None, None));
        }
        let settings = self
            .config
            .providers
            .values()
            .map(|p| p.id_token_encryption());
        if settings.clone().all(|s| s.is_none()) {
            return Err(TokenError::Encryption(
                "it is encrypted, and no provider has id_token_encrypted_response_alg".into(),
            )
            .into());
        }
        let (signed, encryption) = match decrypt_with_any(&self.keys, raw, settings).await {
            Ok(opened) => opened,
            Err(Unopened::Busy) => return Err(AuthError::Overloaded),
            // The reasons name the providers' settings: for the log, not for the sender.
            Err(Unopened::Refused(why)) => {
                log::debug!("OpenID Connect: an encrypted logout token: {why}");
                return Err(TokenError::Encryption(
                    "it does not decrypt with our keys as the providers' ID tokens are \
                     encrypted"
                        .into(),
                )
                .into());
            }
        };
        if is_compact_jwe(&signed) {
            return Err(TokenError::Encryption("it holds another encrypted token".into()).into());
        }
        Ok((Some(signed), Some(encryption)))
    }

    /// The provider and client a logout token is for: a provider with its issuer (for a
    /// multi-tenant one, the issuer of the token's tenant), whose client is in its audience
    /// (several clients at one provider are possible).
    async fn client_of_logout_token(
        &self,
        issuer: &str,
        claims: &JsonObject,
    ) -> Result<(&ProviderClient, Arc<ReadyProvider>), AuthError> {
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect(),
            _ => return Err(TokenError::Audience("missing".into()).into()),
        };
        let mut issuer_known = false;
        for provider in self.providers.values() {
            // Without a network call where the configuration already tells.
            if !provider.config.is_multi_tenant() && provider.config.issuer() != issuer {
                continue;
            }
            let ready = provider.ready().await?;
            if !provider.issuer_rule(&ready).accepts(issuer, claims) {
                continue;
            }
            issuer_known = true;
            if audiences.contains(&ready.credentials.client_id.as_str()) {
                return Ok((provider, ready));
            }
        }
        Err(if issuer_known {
            TokenError::Audience("does not contain this client".into())
        } else {
            TokenError::Issuer("not a configured provider".into())
        }
        .into())
    }

    /// A front-channel logout (`iss`, `sid`): ends the sessions of that provider session, for
    /// every client of the issuer (several providers may share one), and only for provider
    /// sessions one of our logins came from (anybody can send this request). The names of the
    /// providers whose sessions it ended.
    pub async fn end_provider_session(
        &self,
        records: &Records,
        iss: &str,
        sid: &str,
    ) -> Result<Vec<String>, AuthError> {
        let mut ended = Vec::new();
        for provider in self.providers.values() {
            if !provider.config.is_multi_tenant() && provider.config.issuer() != iss {
                continue;
            }
            let ready = provider.ready().await?;
            if !provider.issuer_rule(&ready).accepts_parameter(iss) {
                continue;
            }
            let client = (
                provider.config.issuer(),
                ready.credentials.client_id.as_str(),
            );
            if !records.knows_provider_sid(client, sid).await? {
                continue;
            }
            let event = LogoutEvent {
                provider: provider.name.clone(),
                issuer: provider.config.issuer().to_owned(),
                client_id: ready.credentials.client_id.clone(),
                sub: None,
                sid: Some(sid.to_owned()),
                jti_record: String::new(),
            };
            self.end_sessions(records, &event).await?;
            metrics::logout(&provider.name, "frontchannel");
            ended.push(provider.name.clone());
        }
        Ok(ended)
    }

    /// Ends the sessions a logout names: those of the provider session `sid` if given (the
    /// precise form), else every session of `sub`; from now until they would have expired.
    pub async fn end_sessions(
        &self,
        records: &Records,
        event: &LogoutEvent,
    ) -> Result<(), AuthError> {
        let now = unix_now();
        let until = now.saturating_add(self.config.session_lifetime as i64);
        let (by, value) = match (&event.sid, &event.sub) {
            (Some(sid), _) => (EndedBy::ProviderSession, sid),
            (None, Some(sub)) => (EndedBy::Subject, sub),
            (None, None) => return Ok(()),
        };
        records
            .end((&event.issuer, &event.client_id), by, value, now, until)
            .await?;
        log::info!(
            "OpenID Connect: provider `{}` ended sessions (by {})",
            event.provider,
            if by == EndedBy::ProviderSession {
                "sid"
            } else {
                "sub"
            }
        );
        Ok(())
    }
}
