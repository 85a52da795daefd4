//! Starting a login: the authorization request (response type and mode, `state`, `nonce`,
//! PKCE S256, configured and per-request parameters) and what the browser must remember until
//! it comes back.

use openidconnect::PkceCodeChallenge;

use crate::client::http::invalid;
use crate::client::par::{par_endpoint, push_request};
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::RelyingParty;
use crate::config::{ProviderConfig, RequestObject};
use crate::error::{AuthError, ProviderError};
use crate::protocol::dpop::DpopKey;
use crate::protocol::jwe::{encrypt, recipient};
use crate::protocol::metadata::ProviderMetadata;
use crate::protocol::request_object::request_object;
use crate::protocol::secret::{Nonce, PkceVerifier, State};
use crate::session::model::UserSession;
use crate::session::pending::PendingLogin;
use crate::session::requirement::StepUp;
use crate::util::clock::unix_now;
use crate::util::metrics;
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
    /// A step-up of this session: the same user authenticating again as `StepUp` asks.
    SteppingUp(&'a UserSession, &'a StepUp),
}

impl<'a> Returning<'a> {
    fn session(self) -> Option<&'a UserSession> {
        match self {
            Returning::Unknown => None,
            Returning::User(session)
            | Returning::Silently(session)
            | Returning::SteppingUp(session, _) => Some(session),
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
        let result = self
            .build_login(provider, return_to, returning, extra_params)
            .await;
        match &result {
            Ok(start) => {
                metrics::login_started(provider);
                if let Ok(client) = self.provider(provider) {
                    let pending = client.pending.open(start.pending.created_at);
                    metrics::pending_logins(provider, pending);
                }
            }
            // Only for a configured provider: a label never holds a name from a request.
            Err(error) if self.providers.contains_key(provider) => {
                metrics::login_failed(provider, error.metric_reason());
            }
            Err(_) => {}
        }
        result
    }

    /// [`start_login`](Self::start_login) without its metrics.
    async fn build_login(
        &self,
        provider: &str,
        return_to: &str,
        returning: Returning<'_>,
        extra_params: &[(String, String)],
    ) -> Result<LoginStart, AuthError> {
        let client = self.provider(provider)?;
        let ready = client.ready().await?;
        let config = &client.config;
        check_offered(config, &ready.metadata)?;
        let extra = with_step_up(extra_params, returning, &ready.metadata);
        let silent = matches!(returning, Returning::Silently(_));
        let params = request_params(config, &extra, silent);
        let value_of = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let subject = |session: &UserSession| Some(session.claims().subject().to_owned());
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let pkce = config.pkce && config.response_type.has_code();
        let pending = PendingLogin {
            response_type: config.response_type,
            response_mode: config.response_mode(),
            state: State::new(random_token()),
            nonce: Nonce::new(random_token()),
            pkce_verifier: pkce.then(|| PkceVerifier::new(verifier.secret().clone())),
            provider: provider.to_owned(),
            return_to: safe_return_path(return_to).unwrap_or("/").to_owned(),
            created_at: unix_now(),
            silent_sub: match returning {
                Returning::Silently(session) => subject(session),
                _ => None,
            },
            step_up_sub: match returning {
                Returning::SteppingUp(session, _) => subject(session),
                _ => None,
            },
            max_age: value_of("max_age").and_then(|v| v.parse().ok()),
            acr_values: value_of("acr_values").map(str::to_owned),
            dpop_key: config
                .dpop
                .then(|| DpopKey::generate(config.dpop_signing_alg)),
        };
        // The session's ID token as a hint of who logs in (only to its own provider).
        let hint = returning
            .session()
            .filter(|s| s.provider() == provider)
            .map(UserSession::id_token);
        let mut all: Vec<(&str, &str)> = vec![
            ("response_type", pending.response_type.as_str()),
            ("client_id", &ready.credentials.client_id),
            ("redirect_uri", &client.uris.redirect_uri),
            ("state", pending.state.secret()),
            ("nonce", pending.nonce.secret()),
        ];
        let scope = config.scope.join(" ");
        all.push(("scope", &scope));
        if pending.response_mode != pending.response_type.default_mode() {
            all.push(("response_mode", pending.response_mode.as_str()));
        }
        if pkce {
            all.push(("code_challenge", challenge.as_str()));
            all.push(("code_challenge_method", "S256"));
        }
        all.extend(params.iter().copied());
        all.extend(config.resource.iter().map(|r| ("resource", r.as_str())));
        if let Some(hint) = hint {
            all.push(("id_token_hint", hint));
        }
        // The authorization code is bound to the key too (RFC 9449 10).
        let jkt = pending.dpop_key.as_ref().and_then(DpopKey::thumbprint);
        if let Some(jkt) = jkt {
            all.push(("dpop_jkt", jkt));
        }
        // JAR: every parameter in a signed request object; outside only what OIDC Core 6.1
        // asks to repeat.
        let signed;
        if config.request_object.is_some() {
            let key = client
                .keys
                .signer()
                .ok_or_else(|| invalid("configuration", "no signing key for the request object"))?;
            let client_id = ready.credentials.client_id.as_str();
            let object = request_object(
                key,
                client_id,
                &ready.metadata.issuer,
                &all,
                unix_now(),
                &random_token(),
            )
            .map_err(|why| AuthError::Provider(ProviderError::ClientAuthentication(why)))?;
            signed = encrypted_request_object(client, &ready, object)?;
            all = vec![
                ("client_id", client_id),
                ("request", signed.as_str()),
                ("response_type", pending.response_type.as_str()),
                ("scope", scope.as_str()),
            ];
        }
        let mut url = url::Url::parse(&ready.metadata.authorization_endpoint)
            .map_err(|_| invalid("discovery endpoint", "authorization_endpoint is not a URL"))?;
        match par_endpoint(config, &ready.metadata)? {
            Some(endpoint) => {
                let request_uri = push_request(client, &ready, endpoint, all).await?;
                url.query_pairs_mut()
                    .append_pair("client_id", &ready.credentials.client_id)
                    .append_pair("request_uri", &request_uri);
            }
            None => {
                url.query_pairs_mut().extend_pairs(&all);
            }
        }
        Ok(LoginStart {
            pending,
            authorization_url: url.into(),
        })
    }
}

/// The signed request object `signed`, encrypted to the provider (RFC 9101 6.1: signed, then
/// encrypted, `cty: JWT`) when it publishes a key and an algorithm for that; `signed` itself
/// when it does not, unless encryption is required (then the login fails).
fn encrypted_request_object(
    client: &ProviderClient,
    ready: &ReadyProvider,
    signed: String,
) -> Result<String, AuthError> {
    let keys = ready.keys.encryption_keys();
    let chosen = recipient(
        &keys,
        &ready
            .metadata
            .request_object_encryption_alg_values_supported,
        &ready
            .metadata
            .request_object_encryption_enc_values_supported,
    );
    let Some((key, encryption)) = chosen else {
        if client.config.request_object == Some(RequestObject::SignedAndEncrypted) {
            return Err(invalid(
                "discovery endpoint",
                "the provider publishes no encryption key (use: enc) with an algorithm it \
                 advertises for request objects (request_object_encryption_alg_values_supported), \
                 and request_object is signed_and_encrypted",
            )
            .into());
        }
        return Ok(signed);
    };
    let mut header = serde_json::Map::new();
    header.insert("cty".into(), "JWT".into());
    encrypt(signed.as_bytes(), &key, encryption, &header).map_err(|why| {
        invalid(
            "key set endpoint (jwks_uri)",
            format!("the request object cannot be encrypted to its key: {why}"),
        )
        .into()
    })
}

/// The per-request parameters, with what a step-up asks for (which wins): `acr_values` (and,
/// where the provider takes the `claims` parameter, the same `acr` as an essential claim),
/// `max_age`, and always `prompt=login`.
fn with_step_up(
    extra: &[(String, String)],
    returning: Returning<'_>,
    metadata: &ProviderMetadata,
) -> Vec<(String, String)> {
    let Returning::SteppingUp(_, ask) = returning else {
        return extra.to_vec();
    };
    let mut asked: Vec<(String, String)> = Vec::new();
    if let Some(acr) = &ask.acr_values {
        asked.push(("acr_values".into(), acr.clone()));
        if metadata.claims_parameter_supported {
            let values: Vec<&str> = acr.split_whitespace().collect();
            let claims = serde_json::json!({
                "id_token": { "acr": { "essential": true, "values": values } }
            });
            asked.push(("claims".into(), claims.to_string()));
        }
    }
    if let Some(max_age) = ask.max_age {
        asked.push(("max_age".into(), max_age.to_string()));
    }
    // The session falls short, so the user must log in again: without `prompt=login` a
    // provider may answer from its own session (oidc-provider, for one, lets `acr_values`
    // replace an essential `acr` of the `claims` parameter and then reuses a password-only
    // session).
    asked.push(("prompt".into(), "login".into()));
    let mut params: Vec<(String, String)> = extra
        .iter()
        .filter(|(k, _)| !asked.iter().any(|(a, _)| a == k))
        .cloned()
        .collect();
    params.extend(asked);
    params
}

/// The provider must offer what the configuration asks of it, where its metadata says what it
/// offers (an empty list says nothing): the response type, a response mode that is sent, the
/// JARM signature algorithm, and each configured encryption. A login then fails at once with
/// the setting named, not at the provider or with a message the provider did not protect.
fn check_offered(config: &ProviderConfig, metadata: &ProviderMetadata) -> Result<(), AuthError> {
    let response_type = config.response_type;
    let offered = &metadata.response_types_supported;
    if !(offered.is_empty() || offered.iter().any(|t| response_type.matches(t))) {
        return Err(invalid(
            "discovery endpoint",
            format!("the provider does not offer response_type `{response_type}`"),
        )
        .into());
    }
    let mode = config.response_mode();
    let sent_mode = (mode != response_type.default_mode()).then(|| mode.as_str());
    let mut asked: Vec<(&str, &str, &[String])> = vec![];
    if let Some(mode) = sent_mode {
        asked.push(("response_mode", mode, &metadata.response_modes_supported));
    }
    if let Some(alg) = config.authorization_signing_alg() {
        asked.push((
            "authorization_signed_response_alg",
            alg,
            &metadata.authorization_signing_alg_values_supported,
        ));
    }
    let encryptions = [
        (
            "id_token",
            config.id_token_encryption(),
            &metadata.id_token_encryption_alg_values_supported,
            &metadata.id_token_encryption_enc_values_supported,
        ),
        (
            "userinfo",
            config.userinfo_encryption(),
            &metadata.userinfo_encryption_alg_values_supported,
            &metadata.userinfo_encryption_enc_values_supported,
        ),
        (
            "authorization",
            config.authorization_encryption(),
            &metadata.authorization_encryption_alg_values_supported,
            &metadata.authorization_encryption_enc_values_supported,
        ),
    ];
    let names: Vec<(String, String)> = encryptions
        .iter()
        .map(|(what, ..)| {
            (
                format!("{what}_encrypted_response_alg"),
                format!("{what}_encrypted_response_enc"),
            )
        })
        .collect();
    for ((_, encryption, algs, encs), (alg_key, enc_key)) in encryptions.iter().zip(&names) {
        if let Some(encryption) = encryption {
            asked.push((alg_key, encryption.alg.name(), algs));
            asked.push((enc_key, encryption.enc.name(), encs));
        }
    }
    for (key, value, offered) in asked {
        if !offered.is_empty() && !offered.iter().any(|o| o == value) {
            return Err(invalid(
                "discovery endpoint",
                format!("the provider does not offer {key} `{value}`"),
            )
            .into());
        }
    }
    Ok(())
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
