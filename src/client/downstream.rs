//! Tokens for the APIs a user's session calls (downstream): an access token for another
//! resource by refresh token (RFC 8707), or one exchanged for another audience (RFC 8693).
//! Each is cached per session and target until shortly before it expires, one request per
//! session and target at a time.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use openidconnect::{AccessToken, RefreshToken};

use crate::client::token::token_request;
use crate::client::RelyingParty;
use crate::error::AuthError;
use crate::protocol::grant::{SubjectToken, TokenExchangeRequest, TOKEN_EXCHANGE};
use crate::protocol::token_response::bound_to_proof;
use crate::session::model::UserSession;
use crate::util::clock::unix_now;
use crate::util::digest::parts_sha256;
use crate::util::metrics;
use crate::util::single_flight::SingleFlight;

/// A cached token is renewed this many seconds before it expires (or at half its life).
const RENEW_BEFORE: i64 = 30;
/// A failed request is reported to callers for this many seconds without a new one.
const FAILED_FOR: i64 = 5;
/// A token without a stated lifetime is reused for this many seconds.
const UNSTATED_LIFETIME: i64 = 300;
/// At most this many (session, target) tokens are kept: a session calls a handful of APIs;
/// when full, expired and failed entries leave first.
const CAPACITY: usize = 10_000;

/// A token for a downstream API.
#[derive(Clone, Debug)]
pub(crate) struct DownstreamToken {
    pub access_token: AccessToken,
    pub expires_at: i64,
    /// A new refresh token the provider rotated to while issuing it (for the session).
    pub refresh_token: Option<RefreshToken>,
}

/// The downstream tokens of every session.
pub(crate) struct DownstreamTokens {
    rp: Arc<RelyingParty>,
    cache: SingleFlight<[u8; 32], Result<DownstreamToken, AuthError>>,
}

/// What a token is for.
enum Target<'a> {
    Resource(&'a str),
    Exchange(&'a TokenExchangeRequest),
}

impl DownstreamTokens {
    /// The downstream tokens of `rp`'s sessions.
    pub fn new(rp: Arc<RelyingParty>) -> Self {
        DownstreamTokens {
            rp,
            cache: SingleFlight::new(CAPACITY),
        }
    }

    /// An access token of `session`'s user for `resource` (RFC 8707), by its refresh token.
    /// The second value says whether this call asked the provider (then the token's new
    /// refresh token, if any, belongs in the session).
    pub async fn for_resource(
        &self,
        session: &UserSession,
        resource: &str,
    ) -> Result<(DownstreamToken, bool), AuthError> {
        let valid = url::Url::parse(resource).is_ok_and(|u| u.fragment().is_none());
        if !valid {
            return Err(AuthError::InvalidTokenRequest(
                "a resource is not an absolute URI without a fragment (RFC 8707)".into(),
            ));
        }
        self.get(session, Target::Resource(resource)).await
    }

    /// A token of `session`'s user exchanged as `request` asks (RFC 8693).
    pub async fn exchange(
        &self,
        session: &UserSession,
        request: &TokenExchangeRequest,
    ) -> Result<DownstreamToken, AuthError> {
        request.check().map_err(AuthError::InvalidTokenRequest)?;
        Ok(self.get(session, Target::Exchange(request)).await?.0)
    }

    async fn get(
        &self,
        session: &UserSession,
        target: Target<'_>,
    ) -> Result<(DownstreamToken, bool), AuthError> {
        // One slot per session (its random id and its provider) and target.
        let described = match &target {
            Target::Resource(resource) => format!("resource {resource}"),
            Target::Exchange(request) => format!("exchange {request:?}"),
        };
        let slot = parts_sha256(&[session.provider(), session.sid(), described.as_str()]);
        let computed = AtomicBool::new(false);
        let result = self
            .cache
            .get_or_compute(
                slot,
                unix_now(),
                |_| true,
                || async {
                    computed.store(true, Ordering::Relaxed);
                    let started = unix_now();
                    let result = self.request(session, &target).await;
                    match result {
                        Ok(token) => {
                            let life = token.expires_at.saturating_sub(started);
                            let until = token.expires_at.saturating_sub(RENEW_BEFORE.min(life / 2));
                            (Ok(token), Some(until))
                        }
                        Err(error) => (Err(error), Some(started.saturating_add(FAILED_FOR))),
                    }
                },
            )
            .await;
        let asked = computed.load(Ordering::Relaxed);
        metrics::cache_lookup("downstream", !asked);
        result.map(|token| (token, asked))
    }

    async fn request(
        &self,
        session: &UserSession,
        target: &Target<'_>,
    ) -> Result<DownstreamToken, AuthError> {
        let client = self.rp.provider(session.provider())?;
        let ready = client.ready().await?;
        let dpop = session.dpop_key();
        let refresh_token;
        let subject_token;
        let extra;
        let mut form = Vec::new();
        match target {
            Target::Resource(resource) => {
                refresh_token = session.refresh_token().ok_or(AuthError::NoRefreshToken)?;
                form.push(("grant_type", "refresh_token"));
                form.push(("refresh_token", refresh_token.secret().as_str()));
                form.push(("resource", resource));
            }
            Target::Exchange(request) => {
                subject_token = match request.subject_token() {
                    SubjectToken::AccessToken => session
                        .access_token()
                        .map(|t| t.secret().clone())
                        .ok_or_else(|| {
                            AuthError::InvalidTokenRequest("the session has no access token".into())
                        })?,
                    SubjectToken::IdToken => session.id_token().to_owned(),
                };
                extra = request.form(&subject_token);
                form.push(("grant_type", TOKEN_EXCHANGE));
                form.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
            }
        }
        let started = unix_now();
        let tokens = match token_request(client, &ready, form, dpop).await {
            // The provider's refusal is the provider's problem, as seen from the browser
            // (502), except a dead refresh token, which ends nothing here: the session's own
            // refresh tells.
            Err(AuthError::TokenRejected(error)) => {
                return Err(AuthError::TokenResponse(format!(
                    "the provider refused the token request ({error})"
                )))
            }
            other => other?,
        };
        // A session's tokens are all of one kind: a Bearer token for a DPoP session would be
        // sent with a proof it is not bound to.
        let bound = bound_to_proof(tokens.token_type, dpop.is_some(), client.config.is_fapi2())?;
        if dpop.is_some() && !bound {
            return Err(AuthError::TokenResponse(
                "the provider issued a Bearer token to a DPoP-bound session".into(),
            ));
        }
        let lifetime = tokens.expires_in.unwrap_or(UNSTATED_LIFETIME);
        Ok(DownstreamToken {
            access_token: tokens.access_token,
            expires_at: started.saturating_add(lifetime),
            refresh_token: tokens.refresh_token,
        })
    }
}
