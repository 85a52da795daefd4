//! Session lifecycle: refreshing the access token with the refresh token (OpenID Connect Core
//! 12), one refresh per session at a time, and validating the ID token a refresh may bring.

use std::sync::Arc;

use openidconnect::RefreshToken;

use crate::client::id_token::IdTokenContext;
use crate::client::token::token_request;
use crate::client::RelyingParty;
use crate::error::{AuthError, TokenError};
use crate::protocol::id_token::{Claims, NonceCheck};
use crate::protocol::token_response::bound_to_proof;
use crate::session::model::UserSession;
use crate::util::clock::unix_now;
use crate::util::digest::parts_sha256;
use crate::util::metrics;
use crate::util::single_flight::SingleFlight;

/// Requests that still carry the old refresh token within this many seconds get the result of
/// the refresh that already spent it, instead of spending it again (also when the response
/// that carried the new tokens never reached the browser).
const SHARE_RESULT_FOR: i64 = 120;

/// At most this many sessions' refresh results are kept (plus the refreshes running at once):
/// a result is only useful for [`SHARE_RESULT_FOR`] seconds.
const CAPACITY: usize = 1_024;

/// Refreshes sessions: concurrent requests of one session wait for a single refresh and share
/// its result.
pub(crate) struct Refresher {
    rp: Arc<RelyingParty>,
    inflight: SingleFlight<[u8; 32], Result<UserSession, AuthError>>,
}

impl Refresher {
    /// The refresher of `rp`'s sessions.
    pub fn new(rp: Arc<RelyingParty>) -> Self {
        Refresher {
            rp,
            inflight: SingleFlight::new(CAPACITY),
        }
    }

    /// Refreshes `session`'s tokens with its refresh token. Concurrent calls for one session
    /// make one call to the provider. A refused refresh token ends the session
    /// ([`AuthError::SessionEnded`]); a new ID token with another subject is
    /// [`AuthError::SubjectChanged`].
    pub async fn refresh(&self, session: &UserSession) -> Result<UserSession, AuthError> {
        let refresh_token = session.refresh_token().ok_or(AuthError::NoRefreshToken)?;
        // One slot per session: the provider, the user and the refresh token.
        let slot = parts_sha256(&[
            session.provider(),
            session.claims().subject(),
            refresh_token.secret(),
        ]);
        let secret = |t: Option<&openidconnect::AccessToken>| t.map(|t| t.secret().clone());
        // A recent result the caller does not have yet (it raced with the refresh, or the
        // response carrying it was lost) is shared; a caller that has it wants a new one.
        let caller_lacks = |result: &Result<UserSession, AuthError>| {
            !result
                .as_ref()
                .is_ok_and(|next| secret(next.access_token()) == secret(session.access_token()))
        };
        let rp = &self.rp;
        self.inflight
            .get_or_compute(slot, unix_now(), caller_lacks, || async {
                let result = refresh_once(rp, session, refresh_token).await;
                let outcome = match &result {
                    Ok(_) => "success",
                    Err(AuthError::SessionEnded(_)) => "refused",
                    Err(AuthError::SubjectChanged) => "subject_changed",
                    Err(AuthError::Provider(e)) if e.is_unreachable() => "unavailable",
                    Err(_) => "error",
                };
                metrics::refresh(session.provider(), outcome);
                // Transient failures (the provider unreachable) are not shared: the next
                // request tries again. A result, or the end of the session, is.
                let lasting = matches!(
                    result,
                    Ok(_) | Err(AuthError::SessionEnded(_) | AuthError::SubjectChanged)
                );
                let until = lasting.then(|| unix_now().saturating_add(SHARE_RESULT_FOR));
                (result, until)
            })
            .await
    }
}

async fn refresh_once(
    rp: &RelyingParty,
    session: &UserSession,
    refresh_token: &RefreshToken,
) -> Result<UserSession, AuthError> {
    let client = rp.provider(session.provider())?;
    let ready = client.ready().await?;
    let started = unix_now();
    let form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.secret().as_str()),
    ];
    let dpop = session.dpop_key();
    let tokens = match token_request(client, &ready, form, dpop).await {
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
            let (signed, claims) = rp
                .validate_id_token(client, &ready, &raw, &context, unix_now())
                .await?;
            if claims.subject() != session.claims().subject()
                || claims.issuer() != session.claims().issuer()
            {
                return Err(AuthError::SubjectChanged);
            }
            // auth_time, if present in both, must not change (Core 12.2).
            let auth_time = |c: &Claims| c.get("auth_time").and_then(|t| t.as_i64());
            if let (Some(new), Some(old)) = (auth_time(&claims), auth_time(session.claims())) {
                if new != old {
                    return Err(TokenError::AuthTime.into());
                }
            }
            Some((signed, claims))
        }
        None => None,
    };
    let dpop_bound = bound_to_proof(tokens.token_type, dpop.is_some(), client.config.is_fapi2())?;
    log::info!("OpenID Connect: tokens refreshed at `{}`", client.name);
    Ok(session.refreshed(
        tokens.access_token,
        tokens.expires_in.map(|secs| started.saturating_add(secs)),
        tokens.refresh_token,
        id_token,
        dpop_bound,
    ))
}
