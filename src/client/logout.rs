//! Logout: RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) with a `state` that
//! must come back, and token revocation (RFC 7009).

use crate::client::auth::client_post;
use crate::client::dpop::{send_with_proof, Proof};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::RelyingParty;
use crate::error::AuthError;
use crate::protocol::metadata::Endpoint;
use crate::protocol::secret::State;
use crate::session::model::UserSession;
use crate::session::pending::PendingLogout;
use crate::util::clock::unix_now;
use crate::util::random::random_token;

/// What a logout needs next.
pub(crate) enum LogoutStep {
    /// Nothing: the local logout is all there is.
    Done,
    /// Send the browser to the provider's `end_session_endpoint`.
    Redirect { url: String, pending: PendingLogout },
}

/// What a request to a logout route leads to.
pub(crate) enum LogoutOutcome {
    /// Logged out (locally, and at the provider if it came back with the right state).
    Done,
    /// A cross-site request asked to log out: ask the user to confirm (CSRF).
    Confirm,
    /// Logged out locally; now to the provider's end-session endpoint.
    Redirect { url: String, pending: PendingLogout },
    /// Logged out locally, but the request was wrong (state mismatch, unknown
    /// `post_logout_redirect_uri`): shown by the error view.
    Failed(AuthError),
}

impl RelyingParty {
    /// The URL the provider sends the browser back to after logging out at a logout route at
    /// `route_path`: the provider's configured `post_logout_redirect_uri`, else the route itself.
    pub fn post_logout_redirect_uri(&self, client: &ProviderClient, route_path: &str) -> String {
        match &client.config.post_logout_redirect_uri {
            Some(uri) => uri.clone(),
            None => self.absolute_url(route_path),
        }
    }

    /// Starts the provider side of a logout for `session` (whose cookies the edge removes):
    /// revokes its tokens if configured, then returns where to send the browser, if anywhere.
    /// A provider that cannot be reached does not block the local logout.
    pub async fn start_logout(&self, session: &UserSession, route_path: &str) -> LogoutStep {
        let Ok(client) = self.provider(session.provider()) else {
            return LogoutStep::Done;
        };
        let ready = match client.ready().await {
            Ok(ready) => ready,
            Err(error) => {
                log::warn!("logout without the provider `{}`: {error}", client.name);
                return LogoutStep::Done;
            }
        };
        if client.config.revoke_tokens_on_logout {
            self.revoke_tokens(client, &ready, session).await;
        }
        let Some(end_session) = ready.metadata.end_session_endpoint.as_deref() else {
            return LogoutStep::Done;
        };
        let Ok(mut url) = url::Url::parse(end_session) else {
            return LogoutStep::Done;
        };
        let state = State::new(random_token());
        url.query_pairs_mut()
            .append_pair("id_token_hint", session.id_token())
            .append_pair("client_id", &ready.credentials.client_id)
            .append_pair(
                "post_logout_redirect_uri",
                &self.post_logout_redirect_uri(client, route_path),
            )
            .append_pair("state", state.secret());
        LogoutStep::Redirect {
            url: url.into(),
            pending: PendingLogout {
                state,
                provider: client.name.clone(),
                created_at: unix_now(),
            },
        }
    }

    /// Checks the `state` the provider sent back against the pending logout.
    pub fn finish_logout(
        &self,
        pending: Option<PendingLogout>,
        state: &str,
    ) -> Result<(), AuthError> {
        let pending = pending.ok_or(AuthError::InvalidState("no logout is pending"))?;
        let same = pending.state.matches(state);
        let fresh = unix_now()
            <= pending
                .created_at
                .saturating_add(self.config.login_timeout as i64);
        if same && fresh {
            Ok(())
        } else {
            Err(AuthError::InvalidState("the logout state does not match"))
        }
    }

    /// Revokes the tokens of `session`, which its provider logged out (back-channel), when its
    /// provider's `revoke_tokens_on_logout` asks for it.
    pub async fn revoke_on_provider_logout(&self, session: &UserSession) {
        let Ok(client) = self.provider(session.provider()) else {
            return;
        };
        if !client.config.revoke_tokens_on_logout {
            return;
        }
        if let Ok(ready) = client.ready().await {
            self.revoke_tokens(client, &ready, session).await;
        }
    }

    /// RFC 7009: revokes the refresh token, then the access token. Failures are logged and
    /// otherwise ignored: they must not keep the user logged in locally.
    async fn revoke_tokens(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        session: &UserSession,
    ) {
        const ENDPOINT: &str = "revocation endpoint";
        let mtls = client.config.uses_mtls();
        let Some(endpoint) = ready.metadata.endpoint(Endpoint::Revocation, mtls) else {
            return;
        };
        let tokens = [
            (session.refresh_token().map(|t| t.secret()), "refresh_token"),
            (session.access_token().map(|t| t.secret()), "access_token"),
        ];
        for (token, hint) in tokens {
            let Some(token) = token else { continue };
            let form = vec![("token", token.as_str()), ("token_type_hint", hint)];
            let build = || client_post(client, ready, endpoint, form.clone());
            let proof = session.dpop_key().map(|key| Proof {
                key,
                access_token: None,
            });
            let sent =
                send_with_proof(client.dpop(), ENDPOINT, "POST", endpoint, proof, build).await;
            match sent {
                Ok(response) if response.status == 200 => {}
                Ok(response) => log::warn!(
                    "revoking the {hint} at `{}` failed: HTTP {}",
                    client.name,
                    response.status
                ),
                Err(error) => {
                    log::warn!("revoking the {hint} at `{}` failed: {error}", client.name)
                }
            }
        }
    }
}
