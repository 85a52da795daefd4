//! Completing a login at the callback: the response matched to the login this browser
//! started, every check of the authorization response in order, the code exchange, the ID
//! tokens of the front channel and the token endpoint, and userinfo.

use serde_json::{Map, Value};

use crate::client::id_token::{self, IdTokenContext};
use crate::client::jarm;
use crate::client::provider::{ProviderClient, ReadyProvider};
use crate::client::token::token_request;
use crate::client::userinfo::fetch_userinfo;
use crate::client::RelyingParty;
use crate::error::{AuthError, TokenError};
use crate::protocol::callback::CallbackParams;
use crate::protocol::id_token::{Claims, HashCheck, NonceCheck};
use crate::protocol::response::ResponseType;
use crate::protocol::secret::IdTokenJwt;
use crate::protocol::token_response::bound_to_proof;
use crate::session::model::{NewSession, UserSession};
use crate::session::pending::PendingLogin;
use crate::session::records::Records;
use crate::util::clock::unix_now;
use crate::util::metrics;
use crate::util::text::printable_ascii;

/// How a response reached the callback.
pub(crate) struct Arrival<'a> {
    /// The callback path it arrived at.
    pub path: &'a str,
    /// By POST (form_post, or the relay page of a fragment) rather than a query.
    pub via_post: bool,
}

/// The tokens a login obtained, validated.
struct Tokens {
    id_token: IdTokenJwt,
    claims: Claims,
    access: Option<(openidconnect::AccessToken, Option<i64>)>,
    refresh_token: Option<openidconnect::RefreshToken>,
    /// Whether the tokens are bound to the pending login's DPoP key.
    dpop_bound: bool,
}

impl RelyingParty {
    /// Completes a login. `pending` is the record found for the callback's `state`; `records`
    /// keep the `state` and `nonce` used once, on every instance that shares them. A step-up
    /// that came back without what it asked for (the `acr`, a recent enough authentication,
    /// the same user) is [`AuthError::StepUpRefused`].
    pub async fn finish_login(
        &self,
        records: &Records,
        pending: PendingLogin,
        params: CallbackParams,
        arrival: Arrival<'_>,
    ) -> Result<UserSession, AuthError> {
        let provider = pending.provider.clone();
        let started_at = pending.created_at;
        let result = self.checked_login(records, pending, params, arrival).await;
        match &result {
            Ok(_) => metrics::login_completed(&provider),
            Err(error) => metrics::login_failed(&provider, error.metric_reason()),
        }
        if let Ok(client) = self.provider(&provider) {
            metrics::pending_logins(&provider, client.pending.close(started_at, unix_now()));
        }
        result
    }

    /// [`finish_login`](Self::finish_login) without its metrics.
    async fn checked_login(
        &self,
        records: &Records,
        pending: PendingLogin,
        params: CallbackParams,
        arrival: Arrival<'_>,
    ) -> Result<UserSession, AuthError> {
        let step_up_sub = pending.step_up_sub.clone();
        let result = self.complete_login(records, pending, params, arrival).await;
        let Some(expected) = step_up_sub else {
            return result;
        };
        match result {
            Err(AuthError::IdToken(error @ (TokenError::AuthContext | TokenError::AuthTime))) => {
                Err(AuthError::StepUpRefused(error.to_string()))
            }
            Ok(session) if session.claims().subject() != expected => Err(AuthError::StepUpRefused(
                "the provider returned another user".into(),
            )),
            other => other,
        }
    }

    async fn complete_login(
        &self,
        records: &Records,
        pending: PendingLogin,
        params: CallbackParams,
        arrival: Arrival<'_>,
    ) -> Result<UserSession, AuthError> {
        let now = unix_now();
        let params = self.jarm_params(&pending, params, now).await?;
        self.check_state(records, &pending, &params, &arrival, now)
            .await?;
        // The provider this login was sent to (never one named by the response), at the
        // callback path of that provider.
        let client = self.provider(&pending.provider)?;
        if client.uris.redirect_path != arrival.path {
            return Err(AuthError::IssuerMismatch);
        }
        let ready = client.ready().await?;
        check_response(client, &ready, &params, pending.response_type)?;
        let tokens = self
            .obtain_tokens(client, &ready, &pending, &params, now)
            .await?;
        let until = pending.expires_at(self.config.login_timeout);
        if !records
            .first_use("nonce", pending.nonce.secret(), until)
            .await?
        {
            return Err(TokenError::Nonce("already used".into()).into());
        }
        if let Some(expected) = &pending.silent_sub {
            if tokens.claims.subject() != expected {
                return Err(AuthError::SubjectChanged);
            }
        }
        // Userinfo (with an access token), whose subject must be the ID token's.
        let dpop_key = pending.dpop_key.filter(|_| tokens.dpop_bound);
        let userinfo: Option<Map<String, Value>> = match &tokens.access {
            Some((access_token, _)) => {
                let subject = tokens.claims.subject();
                let token = access_token.secret();
                fetch_userinfo(client, &ready, token, subject, dpop_key.as_ref()).await?
            }
            None => None,
        };
        let (access_token, expires_in) = tokens.access.unzip();
        Ok(UserSession::new(NewSession {
            provider: pending.provider,
            issuer: client.config.issuer().to_owned(),
            client_id: ready.credentials.client_id.clone(),
            id_token: tokens.id_token,
            claims: tokens.claims,
            access_token,
            expires_in: expires_in.flatten(),
            refresh_token: tokens.refresh_token,
            userinfo,
            now,
            lifetime: self.config.session_lifetime as i64,
            dpop_key,
        }))
    }

    /// The parameters of the response: a JARM login's come only in its verified `response`
    /// JWT (plain parameters are refused, not merged); any other login's never do.
    async fn jarm_params(
        &self,
        pending: &PendingLogin,
        params: CallbackParams,
        now: i64,
    ) -> Result<CallbackParams, AuthError> {
        if !pending.response_mode.is_jwt() {
            if params.response.is_some() {
                return Err(AuthError::InvalidCallback(
                    "a JARM `response`, which this login did not ask for".into(),
                ));
            }
            return Ok(params);
        }
        if params.has_plain_parameters() {
            return Err(AuthError::InvalidCallback(
                "plain parameters where the response must be a JARM `response` only".into(),
            ));
        }
        let Some(response) = &params.response else {
            return Err(AuthError::InvalidCallback(
                "no JARM `response` in the response".into(),
            ));
        };
        let client = self.provider(&pending.provider)?;
        let ready = client.ready().await?;
        let skew = self.config.clock_skew as i64;
        jarm::open(client, &ready, response, now, skew).await
    }

    /// The state: the pending login's (in constant time), not expired, used once (a replayed
    /// callback, with a copy of the pending-login cookie, is refused even if the provider
    /// would accept its code again), in the response mode the login asked for.
    async fn check_state(
        &self,
        records: &Records,
        pending: &PendingLogin,
        params: &CallbackParams,
        arrival: &Arrival<'_>,
        now: i64,
    ) -> Result<(), AuthError> {
        let state = params
            .state
            .as_ref()
            .map(|s| s.secret())
            .unwrap_or_default();
        if !pending.state.matches(state) {
            return Err(AuthError::InvalidState("state mismatch"));
        }
        let until = pending.expires_at(self.config.login_timeout);
        if now > until {
            return Err(AuthError::InvalidState(
                "the login took too long; please start again",
            ));
        }
        if !records
            .first_use("state", pending.state.secret(), until)
            .await?
        {
            return Err(AuthError::InvalidState(
                "this login response was already used",
            ));
        }
        if arrival.via_post != pending.response_mode.is_post() {
            return Err(AuthError::InvalidCallback(
                "the response came in another response mode than requested".into(),
            ));
        }
        Ok(())
    }

    /// The ID token of the front channel (implicit, hybrid), validated completely before the
    /// code is used and bound to what came with it; then the code exchange and the token
    /// endpoint's ID token, completely, about the same user from the same issuer.
    async fn obtain_tokens(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        pending: &PendingLogin,
        params: &CallbackParams,
        now: i64,
    ) -> Result<Tokens, AuthError> {
        let front = match &params.id_token {
            Some(raw) => Some(
                self.front_id_token(client, ready, pending, params, raw, now)
                    .await?,
            ),
            None => None,
        };
        let front_access = params.front_channel_access_token()?;
        let Some(code) = &params.code else {
            let (id_token, claims) = front.ok_or_else(|| {
                AuthError::InvalidCallback("no `id_token` in the response".into())
            })?;
            return Ok(Tokens {
                id_token,
                claims,
                access: front_access,
                refresh_token: None,
                dpop_bound: false,
            });
        };
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code.secret()),
            ("redirect_uri", client.uris.redirect_uri.as_str()),
        ];
        if let Some(verifier) = &pending.pkce_verifier {
            form.push(("code_verifier", verifier.secret()));
        }
        // The session's access token is for the first resource; the others were granted for
        // tokens of their own (`valid_access_token_for`).
        if let Some(resource) = client.config.resource.first() {
            form.push(("resource", resource.as_str()));
        }
        let dpop = pending.dpop_key.as_ref();
        let tokens = token_request(client, ready, form, dpop).await?;
        let dpop_bound =
            bound_to_proof(tokens.token_type, dpop.is_some(), client.config.is_fapi2())?;
        if dpop.is_some() && !dpop_bound {
            log::warn!(
                "provider `{}` answered a DPoP token request with a Bearer token: the \
                 session's tokens are not sender-constrained",
                client.name
            );
        }
        let at_hash = [HashCheck {
            claim: "at_hash",
            value: tokens.access_token.secret(),
            required: false,
        }];
        let (id_token, claims) = match (tokens.id_token, front) {
            (Some(raw), front) => {
                let context = login_context(pending, &at_hash);
                let (signed, claims) = self
                    .validate_id_token(client, ready, &raw, &context, now)
                    .await?;
                if let Some((_, first)) = &front {
                    if claims.subject() != first.subject() || claims.issuer() != first.issuer() {
                        return Err(TokenError::Malformed(
                            "the token endpoint's ID token is about another user or issuer \
                             than the authorization response's"
                                .into(),
                        )
                        .into());
                    }
                }
                (signed, claims)
            }
            // Hybrid: the token endpoint may leave the ID token out.
            (None, Some(front)) => front,
            (None, None) => {
                return Err(
                    TokenError::Malformed("no id_token in the token response".into()).into(),
                )
            }
        };
        Ok(Tokens {
            id_token,
            claims,
            access: Some((tokens.access_token, tokens.expires_in)),
            refresh_token: tokens.refresh_token,
            dpop_bound,
        })
    }

    /// An ID token of the front channel: bound by `s_hash` to the state (when present), by
    /// `c_hash` to the code and by `at_hash` to the access token (required with them).
    async fn front_id_token(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        pending: &PendingLogin,
        params: &CallbackParams,
        raw: &IdTokenJwt,
        now: i64,
    ) -> Result<(IdTokenJwt, Claims), AuthError> {
        let mut hashes = vec![HashCheck {
            claim: "s_hash",
            value: pending.state.secret(),
            required: false,
        }];
        if let Some(code) = &params.code {
            hashes.push(HashCheck {
                claim: "c_hash",
                value: code.secret(),
                required: true,
            });
        }
        if let Some(access_token) = &params.access_token {
            hashes.push(HashCheck {
                claim: "at_hash",
                value: access_token.secret(),
                required: true,
            });
        }
        let context = login_context(pending, &hashes);
        self.validate_id_token(client, ready, raw, &context, now)
            .await
    }

    /// Validates an ID token of `client` with the configured clock skew (decrypted first when
    /// the provider encrypts them): the signed token (what a session keeps and logout sends
    /// as `id_token_hint`) and its claims.
    pub(crate) async fn validate_id_token(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        raw: &IdTokenJwt,
        context: &IdTokenContext<'_>,
        now: i64,
    ) -> Result<(IdTokenJwt, Claims), AuthError> {
        let skew = self.config.clock_skew as i64;
        let signed = match id_token::open(client, raw.secret())? {
            Some(inner) => IdTokenJwt::new(inner),
            None => raw.clone(),
        };
        let claims = id_token::validate(client, ready, signed.secret(), context, now, skew).await?;
        Ok((signed, claims))
    }
}

/// The checks of the authorization response before anything in it is used: RFC 9207's `iss`
/// (required when the provider says it sends it, and when providers share the callback path,
/// except with an ID token, whose `iss` claim says it instead, RFC 9207 2.4), an error
/// response, and exactly the parts the response type asks for.
fn check_response(
    client: &ProviderClient,
    ready: &ReadyProvider,
    params: &CallbackParams,
    response_type: ResponseType,
) -> Result<(), AuthError> {
    let iss_required = (ready
        .metadata
        .authorization_response_iss_parameter_supported
        || client.uris.shares_redirect_path
        || client.config.is_fapi2())
        && (params.id_token.is_none() || params.error.is_some());
    match params.iss.as_deref() {
        Some(iss) if !client.issuer_rule(ready).accepts_parameter(iss) => {
            return Err(AuthError::IssuerMismatch)
        }
        None if iss_required => return Err(AuthError::IssuerMismatch),
        _ => {}
    }
    if let Some(error) = params.error.as_deref() {
        return Err(AuthError::ProviderRefused {
            error: printable_ascii(error, 64),
            description: params
                .error_description
                .as_deref()
                .map(|d| printable_ascii(d, 300)),
        });
    }
    params.check_parts(response_type)
}

/// What the ID tokens of the login `pending` are checked against, with `hashes` of the values
/// that came with them.
fn login_context<'a>(pending: &'a PendingLogin, hashes: &'a [HashCheck<'a>]) -> IdTokenContext<'a> {
    IdTokenContext {
        nonce: NonceCheck::Required(pending.nonce.secret()),
        issued_after: pending.created_at,
        max_age: pending.max_age,
        acr_values: pending.acr_values.as_deref(),
        hashes,
    }
}
