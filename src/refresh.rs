//! Session lifecycle: refreshing the access token with the refresh token (OpenID Connect Core
//! 12), one refresh per session at a time, and validating the ID token a refresh may bring.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::{AccessToken, RefreshToken};
use sha2::{Digest, Sha256};

use crate::error::AuthError;
use crate::flow::{unix_now, IdTokenContext, RelyingParty};
use crate::session::UserSession;
use crate::token::NonceCheck;

/// Requests that still carry the old refresh token within this time get the result of the
/// refresh that already spent it, instead of spending it again (also when the response that
/// carried the new tokens never reached the browser).
const SHARE_RESULT_FOR: Duration = Duration::from_secs(120);

type Outcome = Option<(Instant, Result<UserSession, AuthError>)>;

/// One slot per refresh token (by hash): concurrent requests of one user wait for a single
/// refresh and share its result.
#[derive(Default)]
pub(crate) struct RefreshSlots(Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<Outcome>>>>);

impl RefreshSlots {
    fn slot(&self, key: [u8; 32]) -> Arc<tokio::sync::Mutex<Outcome>> {
        let mut slots = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if slots.len() > 256 {
            // Forget finished refreshes nobody waits for any more.
            slots.retain(|_, slot| {
                Arc::strong_count(slot) > 1
                    || slot.try_lock().map_or(true, |outcome| {
                        outcome
                            .as_ref()
                            .is_some_and(|(at, _)| at.elapsed() < SHARE_RESULT_FOR)
                    })
            });
        }
        slots.entry(key).or_default().clone()
    }
}

impl RelyingParty {
    /// Refreshes `session`'s tokens with its refresh token. Concurrent calls for one session
    /// make one call to the provider. A refused refresh token ends the session
    /// ([`AuthError::SessionEnded`]); a new ID token with another subject is
    /// [`AuthError::SubjectChanged`].
    pub async fn refresh_session(&self, session: &UserSession) -> Result<UserSession, AuthError> {
        let refresh_token = session.refresh_token().ok_or(AuthError::NoRefreshToken)?;
        // One slot per session: the provider, the user and the refresh token.
        let mut hasher = Sha256::new();
        for part in [
            session.provider(),
            session.claims().subject(),
            refresh_token.secret(),
        ] {
            hasher.update(part.len().to_be_bytes());
            hasher.update(part.as_bytes());
        }
        let slot = self.refreshes.slot(hasher.finalize().into());
        let mut outcome = slot.lock().await;
        if let Some((at, result)) = &*outcome {
            // A recent result the caller does not have yet (it raced with the refresh, or the
            // response carrying it was lost) is shared; a caller that has it wants a new one.
            let caller_has_it = result.as_ref().is_ok_and(|next| {
                let secret = |t: Option<&openidconnect::AccessToken>| t.map(|t| t.secret().clone());
                secret(next.access_token()) == secret(session.access_token())
            });
            if at.elapsed() < SHARE_RESULT_FOR && !caller_has_it {
                return result.clone();
            }
        }
        let result = self.refresh_once(session, refresh_token).await;
        // Transient failures (the provider unreachable) are not shared: the next request
        // tries again. A result, or the end of the session, is.
        let lasting = matches!(
            result,
            Ok(_) | Err(AuthError::SessionEnded(_) | AuthError::SubjectChanged)
        );
        *outcome = lasting.then(|| (Instant::now(), result.clone()));
        result
    }

    async fn refresh_once(
        &self,
        session: &UserSession,
        refresh_token: &RefreshToken,
    ) -> Result<UserSession, AuthError> {
        let client = self.provider(session.provider())?;
        let ready = client.ready(&self.http).await?;
        let started = unix_now();
        let form = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.secret().as_str()),
        ];
        let tokens = match self.token_request(client, &ready, form).await {
            // The refresh token is dead: the session ends. Other refusals (`invalid_client`
            // after a secret rotation, say) are the application's problem, not the user's.
            Err(AuthError::TokenRejected(error)) if error == "invalid_grant" => {
                return Err(AuthError::SessionEnded(format!(
                    "the provider refused the refresh token ({error})"
                )))
            }
            other => other?,
        };
        // A new ID token: validated like at login, except that its nonce should be absent
        // (if present, the original one) and it must be about the same user (Core 12.2).
        let id_token = match tokens.id_token {
            Some(raw) => {
                let original_nonce = session.claims().str("nonce").unwrap_or_default();
                let context = IdTokenContext {
                    nonce: NonceCheck::IfPresent(original_nonce),
                    issued_after: started,
                    max_age: None,
                    acr_values: None,
                    hashes: &[],
                };
                let claims = self
                    .validate_id_token(client, &ready, &raw, &context, unix_now())
                    .await?;
                if claims.subject() != session.claims().subject()
                    || claims.issuer() != session.issuer()
                {
                    return Err(AuthError::SubjectChanged);
                }
                // auth_time, if present in both, must not change (Core 12.2).
                let auth_time =
                    |c: &crate::token::Claims| c.get("auth_time").and_then(|t| t.as_i64());
                if let (Some(new), Some(old)) = (auth_time(&claims), auth_time(session.claims())) {
                    if new != old {
                        return Err(crate::error::TokenError::AuthTime.into());
                    }
                }
                Some((raw, claims))
            }
            None => None,
        };
        log::info!("OpenID Connect: tokens refreshed at `{}`", client.name);
        Ok(session.refreshed(
            AccessToken::new(tokens.access_token),
            tokens.expires_in.map(|secs| started.saturating_add(secs)),
            tokens.refresh_token.map(RefreshToken::new),
            id_token,
        ))
    }
}
