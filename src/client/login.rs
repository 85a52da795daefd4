//! Starting a login: the authorization request (response type and mode, `state`, `nonce`,
//! PKCE S256, configured and per-request parameters) and what the browser must remember until
//! it comes back.

use openidconnect::PkceCodeChallenge;

use crate::client::http::invalid;
use crate::client::RelyingParty;
use crate::config::ProviderConfig;
use crate::error::AuthError;
use crate::protocol::metadata::ProviderMetadata;
use crate::protocol::secret::{Nonce, PkceVerifier, State};
use crate::session::model::UserSession;
use crate::session::pending::PendingLogin;
use crate::util::clock::unix_now;
use crate::util::random::random_token;
use crate::util::url::safe_return_path;

/// Who is logging in, when the application knows.
#[derive(Clone, Copy, Default)]
pub(crate) enum Returning<'a> {
    /// Nobody known: a plain login.
    #[default]
    Unknown,
    /// The user of this (valid) session logs in again: its ID token goes as `id_token_hint`.
    User(&'a UserSession),
    /// A silent re-authentication (`prompt=none`) of this session, with its ID token as
    /// `id_token_hint` (OIDC Core 3.1.2.1 recommends it; some providers require it).
    Silently(&'a UserSession),
}

impl<'a> Returning<'a> {
    fn session(self) -> Option<&'a UserSession> {
        match self {
            Returning::Unknown => None,
            Returning::User(session) | Returning::Silently(session) => Some(session),
        }
    }
}

/// A login to start: where to send the browser and what to remember.
pub(crate) struct LoginStart {
    pub authorization_url: String,
    pub pending: PendingLogin,
}

impl RelyingParty {
    /// Builds the authorization request for `provider`. May discover the provider first.
    /// `returning` says whose session this login renews, if any (see [`Returning`]).
    pub async fn start_login(
        &self,
        provider: &str,
        return_to: &str,
        returning: Returning<'_>,
        extra_params: &[(String, String)],
    ) -> Result<LoginStart, AuthError> {
        let silent_sub = match returning {
            Returning::Silently(session) => Some(session.claims().subject()),
            _ => None,
        };
        let client = self.provider(provider)?;
        let ready = client.ready().await?;
        let config = &client.config;
        check_offered(config, &ready.metadata)?;
        let mut url = url::Url::parse(&ready.metadata.authorization_endpoint)
            .map_err(|_| invalid("discovery endpoint", "authorization_endpoint is not a URL"))?;
        let state = State::new(random_token());
        let nonce = Nonce::new(random_token());
        let response_type = config.response_type;
        let response_mode = config.response_mode();
        let params = request_params(config, extra_params, silent_sub.is_some());
        let value_of = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", response_type.as_str())
            .append_pair("client_id", &ready.credentials.client_id)
            .append_pair("redirect_uri", &client.uris.redirect_uri)
            .append_pair("scope", &config.scope.join(" "))
            .append_pair("state", state.secret())
            .append_pair("nonce", nonce.secret());
        if response_mode != response_type.default_mode() {
            query.append_pair("response_mode", response_mode.as_str());
        }
        let pkce_verifier = (config.pkce && response_type.has_code()).then(|| {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            query
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", "S256");
            PkceVerifier::new(verifier.secret().clone())
        });
        query.extend_pairs(&params);
        // The session's ID token as a hint of who logs in (only to its own provider).
        if let Some(session) = returning.session().filter(|s| s.provider() == provider) {
            query.append_pair("id_token_hint", session.id_token());
        }
        drop(query);
        Ok(LoginStart {
            pending: PendingLogin {
                response_type,
                response_mode,
                state,
                nonce,
                pkce_verifier,
                provider: provider.to_owned(),
                return_to: safe_return_path(return_to).unwrap_or("/").to_owned(),
                created_at: unix_now(),
                silent_sub: silent_sub.map(str::to_owned),
                max_age: value_of("max_age").and_then(|v| v.parse().ok()),
                acr_values: value_of("acr_values").map(str::to_owned),
            },
            authorization_url: url.into(),
        })
    }
}

/// The provider must offer the configured response type (when it says what it offers).
fn check_offered(config: &ProviderConfig, metadata: &ProviderMetadata) -> Result<(), AuthError> {
    let response_type = config.response_type;
    let offered = &metadata.response_types_supported;
    if offered.is_empty() || offered.iter().any(|t| response_type.matches(t)) {
        return Ok(());
    }
    Err(invalid(
        "discovery endpoint",
        format!("the provider does not offer response_type `{response_type}`"),
    )
    .into())
}

/// The authorization request parameters besides the protocol's own: the configured ones, then
/// the request's own (which win), then `prompt=none` for a silent re-authentication (which
/// wins over both).
fn request_params<'a>(
    config: &'a ProviderConfig,
    extra: &'a [(String, String)],
    silent: bool,
) -> Vec<(&'a str, &'a str)> {
    let mut params: Vec<(&str, &str)> = config
        .auth_request_params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .filter(|(k, _)| !extra.iter().any(|(e, _)| e == k))
        .collect();
    params.extend(extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if silent {
        params.retain(|(k, _)| *k != "prompt");
        params.push(("prompt", "none"));
    }
    params
}
