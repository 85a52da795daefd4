//! The authorization code flow: starting a login (state, nonce, PKCE S256) and completing it at
//! the callback (state, `iss`, error responses, code exchange, ID token, userinfo).
//!
//! Nothing here knows Rocket: the edge hands in the pending login it found in the cookie and
//! the raw callback parameters, and gets back a [`UserSession`] or an [`AuthError`].

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openidconnect::{AccessToken, PkceCodeChallenge, RefreshToken};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::config::{ClientAuthMethod, OidcConfig, UserinfoMethod};
use crate::error::{AuthError, ProviderError, TokenError};
use crate::front_channel::{ResponseMode, ResponseType};
use crate::http::{invalid, HttpClient};
use crate::provider::{ClientCredentials, ProviderClient, ReadyProvider};
use crate::return_to::safe_return_path;
use crate::session::{NewSession, UserSession};
use crate::token::{allowed_algs, validate_id_token, Claims, Expectations, HashCheck, NonceCheck};

/// The current Unix time in seconds.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// 256 random bits from the operating system, base64url (43 characters).
pub(crate) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `state` looks like one of ours (43 base64url characters); anything else is refused
/// before it is used to look anything up.
pub(crate) fn is_well_formed_state(state: &str) -> bool {
    state.len() == 43
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A login that was started and not yet completed; kept in an encrypted cookie named after its
/// state, so several tabs can log in at once.
#[derive(Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    /// What the response carries.
    #[serde(default)]
    pub response_type: ResponseType,
    /// How the response comes back.
    #[serde(default)]
    pub response_mode: ResponseMode,
    pub state: String,
    pub nonce: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<String>,
    pub provider: String,
    pub return_to: String,
    pub created_at: i64,
    /// A silent re-authentication (`prompt=none`) of the session of this subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_sub: Option<String>,
    /// The `max_age` sent: the ID token's `auth_time` is checked against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// The `acr_values` sent: the ID token's `acr` must be one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
}

impl PendingLogin {
    /// What the ID tokens of this login are checked against, with `hashes` of the values that
    /// came with them.
    fn id_token_context<'a>(&'a self, hashes: &'a [HashCheck<'a>]) -> IdTokenContext<'a> {
        IdTokenContext {
            nonce: NonceCheck::Required(&self.nonce),
            issued_after: self.created_at,
            max_age: self.max_age,
            acr_values: self.acr_values.as_deref(),
            hashes,
        }
    }
}

/// What the authorization request asked for that the ID token must reflect.
#[derive(Default)]
struct Requested {
    max_age: Option<i64>,
    acr_values: Option<String>,
}

/// A login to start: where to send the browser and what to remember.
pub(crate) struct LoginStart {
    pub authorization_url: String,
    pub pending: PendingLogin,
}

/// The parameters of an authorization response (query or form body).
#[derive(Debug, Default)]
pub(crate) struct CallbackParams {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
    pub iss: Option<String>,
    /// An ID token in the front channel (implicit and hybrid flows).
    pub id_token: Option<String>,
    /// An access token in the front channel, with its type and lifetime.
    pub access_token: Option<String>,
    pub token_type: Option<String>,
    pub expires_in: Option<String>,
}

/// Largest callback query or body accepted.
pub(crate) const MAX_CALLBACK_LEN: usize = 16 * 1024;

/// Parses `application/x-www-form-urlencoded` input of at most [`MAX_CALLBACK_LEN`] bytes
/// into the parameters named in `known` (others are ignored). A known parameter given twice
/// is an error: never "first wins" or "last wins".
pub(crate) fn parse_params<const N: usize>(
    input: &str,
    known: [&str; N],
) -> Result<[Option<String>; N], AuthError> {
    if input.len() > MAX_CALLBACK_LEN {
        return Err(AuthError::InvalidCallback(
            "the request is too large".into(),
        ));
    }
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in url::form_urlencoded::parse(input.as_bytes()) {
        let Some(index) = known.iter().position(|name| *name == key) else {
            continue;
        };
        if values[index].is_some() {
            return Err(AuthError::InvalidCallback(format!(
                "the parameter `{key}` appears more than once"
            )));
        }
        values[index] = Some(value.into_owned());
    }
    Ok(values)
}

impl CallbackParams {
    /// Parses an authorization response (query or form body); see [`parse_params`].
    pub fn parse(input: &str) -> Result<Self, AuthError> {
        let [state, code, error, error_description, iss, id_token, access_token, token_type, expires_in] =
            parse_params(
                input,
                [
                    "state",
                    "code",
                    "error",
                    "error_description",
                    "iss",
                    "id_token",
                    "access_token",
                    "token_type",
                    "expires_in",
                ],
            )?;
        Ok(CallbackParams {
            state,
            code,
            error,
            error_description,
            iss,
            id_token,
            access_token,
            token_type,
            expires_in,
        })
    }

    /// Checks that the response carries exactly what `response_type` asks for: a code flow
    /// never accepts tokens in the front channel, an implicit flow never a code.
    pub(crate) fn check_parts(&self, response_type: ResponseType) -> Result<(), AuthError> {
        let parts = [
            ("code", self.code.is_some(), response_type.has_code()),
            (
                "id_token",
                self.id_token.is_some(),
                response_type.has_id_token(),
            ),
            (
                "access_token",
                self.access_token.is_some(),
                response_type.has_access_token(),
            ),
        ];
        for (name, present, expected) in parts {
            if present && !expected {
                return Err(AuthError::InvalidCallback(format!(
                    "`{name}` in the authorization response, which response_type \
                     `{response_type}` does not return"
                )));
            }
            if !present && expected {
                return Err(AuthError::InvalidCallback(format!(
                    "no `{name}` in the response"
                )));
            }
        }
        Ok(())
    }
}

/// Keeps printable ASCII only (RFC 6749 error codes), bounded: provider text is shown to users.
fn sanitize(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| c.is_ascii() && !c.is_ascii_control())
        .take(max)
        .collect()
}

/// The core of the relying party: configuration, the shared HTTP client and the providers.
pub(crate) struct RelyingParty {
    pub config: OidcConfig,
    pub http: HttpClient,
    pub providers: HashMap<String, ProviderClient>,
    /// The path prefix of `base_url` (`""` at the root), prepended to local redirects.
    pub base_path: String,
    /// Whether `base_url` is https.
    pub secure: bool,
    /// Whether browsers accept `Secure` cookies from `base_url`: https, or a loopback host
    /// (a secure context even over plain http).
    pub secure_context: bool,
    /// The origin of `base_url` (`https://host:port`).
    pub origin: String,
    /// Refreshes in progress, one per session.
    pub refreshes: crate::refresh::RefreshSlots,
    /// Used `state`/`nonce`/`jti` values and ended sessions.
    pub records: crate::replay::Records,
    /// The store shared by every instance (Redis), if configured.
    pub shared_store: Option<std::sync::Arc<dyn crate::store::Store>>,
    /// Introspection results of bearer tokens.
    pub introspections: crate::bearer::IntrospectionCache,
    /// Client-credentials tokens of the application, per provider and scope.
    pub app_tokens: crate::client_credentials::AppTokens,
}

impl RelyingParty {
    pub fn new(config: OidcConfig, base_url: &str) -> Result<Self, String> {
        let http = HttpClient::new(Duration::from_secs(config.http_timeout))?;
        let base = url::Url::parse(base_url).map_err(|e| format!("oidc.base_url: {e}"))?;
        let base_path = base.path().trim_end_matches('/').to_owned();
        let origin = base.origin().ascii_serialization();
        let paths: Vec<&str> = config
            .providers
            .values()
            .map(|p| config.redirect_path_of(p))
            .collect();
        let providers = config
            .providers
            .iter()
            .map(|(name, p)| {
                let path = config.redirect_path_of(p);
                let shared = paths.iter().filter(|other| **other == path).count() > 1;
                let post_logout = p
                    .post_logout_redirect_uri
                    .clone()
                    .unwrap_or_else(|| format!("{origin}{base_path}{}", config.logout_path));
                let client = ProviderClient::new(
                    name.clone(),
                    p.clone(),
                    path.to_owned(),
                    format!("{origin}{base_path}{path}"),
                    shared,
                    post_logout,
                    (
                        format!("{origin}{base_path}{}", config.backchannel_logout_path),
                        format!("{origin}{base_path}{}", config.frontchannel_logout_path),
                    ),
                );
                (name.clone(), client)
            })
            .collect();
        let (records, shared_store) = records_for(&config)?;
        Ok(RelyingParty {
            secure: base.scheme() == "https",
            secure_context: base.scheme() == "https" || crate::config::is_loopback(&base),
            origin,
            refreshes: Default::default(),
            records,
            shared_store,
            introspections: Default::default(),
            app_tokens: Default::default(),
            config,
            http,
            providers,
            base_path,
        })
    }

    /// The absolute URL of a path of this application.
    pub fn absolute_url(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.base_path)
    }

    /// Every callback path: the global one and the providers' own.
    pub fn redirect_paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .providers
            .values()
            .map(|p| p.redirect_path.clone())
            .collect();
        paths.push(self.config.redirect_path.clone());
        paths.sort();
        paths.dedup();
        paths
    }

    pub(crate) fn provider(&self, name: &str) -> Result<&ProviderClient, AuthError> {
        self.providers
            .get(name)
            .ok_or_else(|| AuthError::UnknownProvider(name.to_owned()))
    }

    /// Builds the authorization request for `provider`. May discover the provider first.
    /// With `silent_sub`, a silent re-authentication (`prompt=none`) of that subject's session.
    pub async fn start_login(
        &self,
        provider: &str,
        return_to: &str,
        silent_sub: Option<&str>,
        extra_params: &[(String, String)],
    ) -> Result<LoginStart, AuthError> {
        let client = self.provider(provider)?;
        let ready = client.ready(&self.http).await?;
        let config = &client.config;
        let state = random_token();
        let nonce = random_token();
        let mut requested = Requested::default();
        let mut url = url::Url::parse(&ready.metadata.authorization_endpoint)
            .map_err(|_| invalid("discovery endpoint", "authorization_endpoint is not a URL"))?;
        let response_type = config.response_type;
        let response_mode = config.response_mode();
        if !ready.metadata.response_types_supported.is_empty()
            && !ready
                .metadata
                .response_types_supported
                .iter()
                .any(|t| response_type.matches(t))
        {
            return Err(invalid(
                "discovery endpoint",
                format!("the provider does not offer response_type `{response_type}`"),
            )
            .into());
        }
        let pkce_verifier = {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", response_type.as_str())
                .append_pair("client_id", &ready.credentials.client_id)
                .append_pair("redirect_uri", &client.redirect_uri)
                .append_pair("scope", &config.scope.join(" "))
                .append_pair("state", &state)
                .append_pair("nonce", &nonce);
            if response_mode != response_type.default_mode() {
                query.append_pair("response_mode", response_mode.as_str());
            }
            let verifier = (config.pkce && response_type.has_code()).then(|| {
                let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
                query
                    .append_pair("code_challenge", challenge.as_str())
                    .append_pair("code_challenge_method", "S256");
                verifier.secret().clone()
            });
            // Configured parameters, then the request's own (which win), then prompt=none for a
            // silent re-authentication (which wins over both).
            let mut params: Vec<(&str, &str)> = config
                .auth_request_params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .filter(|(k, _)| !extra_params.iter().any(|(e, _)| e == k))
                .collect();
            params.extend(extra_params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if silent_sub.is_some() {
                params.retain(|(k, _)| *k != "prompt");
                params.push(("prompt", "none"));
            }
            for (name, value) in &params {
                query.append_pair(name, value);
            }
            let value_of = |name: &str| params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
            requested.max_age = value_of("max_age").and_then(|v| v.parse().ok());
            requested.acr_values = value_of("acr_values").map(str::to_owned);
            verifier
        };
        Ok(LoginStart {
            authorization_url: url.into(),
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
                max_age: requested.max_age,
                acr_values: requested.acr_values,
            },
        })
    }

    /// Completes a login. `pending` is the record found for the callback's `state`.
    /// `callback_path` is where the response arrived and `via_post` how.
    pub async fn finish_login(
        &self,
        pending: PendingLogin,
        params: CallbackParams,
        callback_path: &str,
        via_post: bool,
    ) -> Result<UserSession, AuthError> {
        // 1. The state: present, equal in constant time, not expired.
        let state = params.state.as_deref().unwrap_or_default();
        if !bool::from(state.as_bytes().ct_eq(pending.state.as_bytes())) {
            return Err(AuthError::InvalidState("state mismatch"));
        }
        let now = unix_now();
        if now
            > pending
                .created_at
                .saturating_add(self.config.login_timeout as i64)
        {
            return Err(AuthError::InvalidState(
                "the login took too long; please start again",
            ));
        }
        // ... and used once: a replayed callback (with a copy of the pending-login cookie) is
        // refused even if the provider would accept its code again.
        let until = pending
            .created_at
            .saturating_add(self.config.login_timeout as i64);
        if !self
            .records
            .first_use("state", &pending.state, until)
            .await?
        {
            return Err(AuthError::InvalidState(
                "this login response was already used",
            ));
        }
        if via_post != pending.response_mode.is_post() {
            return Err(AuthError::InvalidCallback(
                "the response came in another response mode than requested".into(),
            ));
        }
        // 2. The provider this login was sent to (never one named by the response), at the
        //    callback path of that provider.
        let client = self.provider(&pending.provider)?;
        if client.redirect_path != callback_path {
            return Err(AuthError::IssuerMismatch);
        }
        let ready = client.ready(&self.http).await?;
        let issuer = ready.metadata.issuer.as_str();
        // 3. RFC 9207: the response names the issuer it comes from. It is required when the
        //    provider says it sends it, and when providers share the callback path (mix-up);
        //    except in a response with an ID token, whose `iss` claim says it instead (RFC 9207
        //    2.4) and is checked (with the signature) before anything else is used.
        let iss_required = (ready
            .metadata
            .authorization_response_iss_parameter_supported
            || client.shares_redirect_path)
            && (params.id_token.is_none() || params.error.is_some());
        match params.iss.as_deref() {
            Some(iss) if iss != issuer => return Err(AuthError::IssuerMismatch),
            None if iss_required => return Err(AuthError::IssuerMismatch),
            _ => {}
        }
        // 4. An error response from the provider.
        if let Some(error) = params.error.as_deref() {
            return Err(AuthError::ProviderRefused {
                error: sanitize(error, 64),
                description: params
                    .error_description
                    .as_deref()
                    .map(|d| sanitize(d, 300)),
            });
        }
        // 5. Exactly the parts the response type asks for: a code flow never takes tokens
        //    from the front channel, an implicit flow never a code.
        params.check_parts(pending.response_type)?;
        if params.code.as_deref() == Some("") {
            return Err(AuthError::InvalidCallback("the code is empty".into()));
        }
        // 6. An ID token in the front channel (implicit, hybrid): validated completely before
        //    the code is used, and bound to the code and access token that came with it.
        let front = match &params.id_token {
            Some(raw) => {
                let mut hashes = vec![HashCheck {
                    claim: "s_hash",
                    value: &pending.state,
                    required: false,
                }];
                if let Some(code) = &params.code {
                    hashes.push(HashCheck {
                        claim: "c_hash",
                        value: code,
                        required: true,
                    });
                }
                if let Some(access_token) = &params.access_token {
                    hashes.push(HashCheck {
                        claim: "at_hash",
                        value: access_token,
                        required: true,
                    });
                }
                let claims = self
                    .validate_id_token(client, &ready, raw, &pending.id_token_context(&hashes), now)
                    .await?;
                Some((raw.clone(), claims))
            }
            None => None,
        };
        let front_access = match &params.access_token {
            Some(token) => Some(front_channel_access_token(token, &params)?),
            None => None,
        };
        // 7. The code exchange, and the ID token of the token endpoint, completely; in a hybrid
        //    flow it is about the same user from the same issuer as the front channel's.
        let (id_token, claims, access, refresh_token) = match params.code.as_deref() {
            Some(code) => {
                let tokens = self.exchange_code(client, &ready, code, &pending).await?;
                let at_hash = [HashCheck {
                    claim: "at_hash",
                    value: &tokens.access_token,
                    required: false,
                }];
                let (id_token, claims) = match (tokens.id_token, front) {
                    (Some(raw), front) => {
                        let claims = self
                            .validate_id_token(
                                client,
                                &ready,
                                &raw,
                                &pending.id_token_context(&at_hash),
                                now,
                            )
                            .await?;
                        if let Some((_, first)) = &front {
                            if claims.subject() != first.subject()
                                || claims.issuer() != first.issuer()
                            {
                                return Err(TokenError::Malformed(
                                    "the token endpoint's ID token is about another user or \
                                     issuer than the authorization response's"
                                        .into(),
                                )
                                .into());
                            }
                        }
                        (raw, claims)
                    }
                    // Hybrid: the token endpoint may leave the ID token out.
                    (None, Some(front)) => front,
                    (None, None) => {
                        return Err(TokenError::Malformed(
                            "no id_token in the token response".into(),
                        )
                        .into())
                    }
                };
                let access = Some((tokens.access_token, tokens.expires_in));
                (id_token, claims, access, tokens.refresh_token)
            }
            None => {
                let (id_token, claims) = front.ok_or_else(|| {
                    AuthError::InvalidCallback("no `id_token` in the response".into())
                })?;
                (id_token, claims, front_access, None)
            }
        };
        if !self
            .records
            .first_use("nonce", &pending.nonce, until)
            .await?
        {
            return Err(TokenError::Nonce("already used".into()).into());
        }
        if let Some(expected) = &pending.silent_sub {
            if claims.subject() != expected {
                return Err(AuthError::SubjectChanged);
            }
        }
        // 8. Userinfo (with an access token), whose subject must be the ID token's.
        let userinfo = match &access {
            Some((access_token, _)) => {
                self.fetch_userinfo(client, &ready, access_token, claims.subject())
                    .await?
            }
            None => None,
        };
        let (access_token, expires_in) = access.unzip();
        Ok(UserSession::new(NewSession {
            provider: pending.provider,
            issuer: issuer.to_owned(),
            client_id: ready.credentials.client_id.clone(),
            id_token,
            claims,
            access_token: access_token.map(AccessToken::new),
            expires_in: expires_in.flatten(),
            refresh_token: refresh_token.map(RefreshToken::new),
            userinfo,
            now,
            lifetime: self.config.session_lifetime as i64,
        }))
    }

    async fn exchange_code(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        code: &str,
        pending: &PendingLogin,
    ) -> Result<TokenResponse, AuthError> {
        let mut form: Vec<(&str, &str)> = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &client.redirect_uri),
        ];
        if let Some(verifier) = &pending.pkce_verifier {
            form.push(("code_verifier", verifier));
        }
        self.token_request(client, ready, form).await
    }

    /// A request to the token endpoint (code exchange or refresh), authenticated as the client.
    pub(crate) async fn token_request(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        form: Vec<(&str, &str)>,
    ) -> Result<TokenResponse, AuthError> {
        let token_endpoint = ready
            .metadata
            .token_endpoint
            .as_deref()
            .ok_or(ProviderError::MissingEndpoint("token endpoint"))?;
        let credentials = &ready.credentials;
        let request = self.client_post(credentials, token_endpoint, form);
        let result = self.read_token_response(request).await;
        if credentials.registered
            && matches!(&result, Err(AuthError::TokenRejected(e)) if e == "invalid_client")
        {
            client.forget_registration(&credentials.client_id);
        }
        result
    }

    async fn read_token_response(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<TokenResponse, AuthError> {
        const ENDPOINT: &str = "token endpoint";
        let response = self.http.send(ENDPOINT, request).await?;
        match response.status {
            200 => {}
            400 | 401 => {
                let error = response
                    .json_object(ENDPOINT)
                    .ok()
                    .and_then(|o| {
                        o.get("error")
                            .and_then(Value::as_str)
                            .map(|e| sanitize(e, 64))
                    })
                    .unwrap_or_else(|| format!("HTTP {}", response.status));
                return Err(AuthError::TokenRejected(error));
            }
            status => {
                return Err(ProviderError::Status {
                    endpoint: ENDPOINT,
                    status,
                }
                .into())
            }
        }
        TokenResponse::parse(&response.json_object(ENDPOINT)?)
    }

    pub(crate) async fn validate_id_token(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        id_token: &str,
        context: &IdTokenContext<'_>,
        now: i64,
    ) -> Result<Claims, AuthError> {
        let config = &client.config;
        let algs = allowed_algs(
            config.id_token_signing_algs.as_deref(),
            &ready.metadata.id_token_signing_alg_values_supported,
        );
        let expect = Expectations {
            issuer: &ready.metadata.issuer,
            client_id: &ready.credentials.client_id,
            client_secret: ready.credentials.client_secret.as_ref(),
            allowed_algs: &algs,
            nonce: context.nonce,
            issued_after: context.issued_after,
            now,
            skew: self.config.clock_skew as i64,
            max_age: context.max_age,
            acr_values: context.acr_values,
            hashes: context.hashes,
        };
        let check = |keys: &_| validate_id_token(id_token, keys, &expect);
        Ok(ready.keys.check_with(&self.http, check).await??)
    }

    async fn fetch_userinfo(
        &self,
        client: &ProviderClient,
        ready: &ReadyProvider,
        access_token: &str,
        subject: &str,
    ) -> Result<Option<Map<String, Value>>, AuthError> {
        const ENDPOINT: &str = "userinfo endpoint";
        let endpoint = match (
            &client.config.userinfo_method,
            &ready.metadata.userinfo_endpoint,
        ) {
            (UserinfoMethod::None, _) | (_, None) => return Ok(None),
            (_, Some(endpoint)) => endpoint,
        };
        let request = match client.config.userinfo_method {
            UserinfoMethod::Post => self.http.post(endpoint).header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            ),
            _ => self.http.get(endpoint),
        };
        let request = request.bearer_auth(access_token);
        let response = self.http.send(ENDPOINT, request).await?;
        if response.status != 200 {
            return Err(ProviderError::Status {
                endpoint: ENDPOINT,
                status: response.status,
            }
            .into());
        }
        if !response.is_json() {
            return Err(invalid(ENDPOINT, "only JSON userinfo responses are supported").into());
        }
        let userinfo = response.json_object(ENDPOINT)?;
        match userinfo.get("sub").and_then(Value::as_str) {
            Some(sub) if sub == subject => Ok(Some(userinfo)),
            _ => Err(AuthError::UserinfoSubject),
        }
    }
}

impl RelyingParty {
    /// A form POST to one of the provider's endpoints, authenticated as the client with the
    /// configured method (token endpoint, revocation).
    pub(crate) fn client_post<'a>(
        &self,
        credentials: &'a ClientCredentials,
        url: &str,
        mut form: Vec<(&'a str, &'a str)>,
    ) -> reqwest::RequestBuilder {
        let id = credentials.client_id.as_str();
        let secret = credentials
            .client_secret
            .as_ref()
            .map(|s| s.secret().as_str());
        let mut request = self.http.post(url);
        match (credentials.auth_method, secret) {
            (ClientAuthMethod::ClientSecretBasic, Some(secret)) => {
                request = request.header(reqwest::header::AUTHORIZATION, basic_auth(id, secret));
            }
            (ClientAuthMethod::ClientSecretPost, Some(secret)) => {
                form.push(("client_id", id));
                form.push(("client_secret", secret));
            }
            _ => form.push(("client_id", id)),
        }
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(&form)
            .finish();
        request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(body)
    }
}

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

/// The one-time records, in Redis when `redis_url` is configured, else in this process.
type SharedStore = Option<std::sync::Arc<dyn crate::store::Store>>;

fn records_for(config: &OidcConfig) -> Result<(crate::replay::Records, SharedStore), String> {
    use crate::replay::Records;
    match &config.redis_url {
        #[cfg(feature = "redis")]
        Some(url) => {
            let timeout = Duration::from_secs(config.http_timeout.min(5));
            let store = crate::redis_store::RedisStore::new(url, timeout)
                .map_err(|e| format!("oidc.redis_url: {e}"))?;
            let store: std::sync::Arc<dyn crate::store::Store> = std::sync::Arc::new(store);
            Ok((
                Records::new(store.clone(), store.clone(), false),
                Some(store),
            ))
        }
        #[cfg(not(feature = "redis"))]
        Some(_) => Err("oidc.redis_url: needs the `redis` feature".into()),
        None => Ok((
            Records::new(
                std::sync::Arc::new(crate::store::MemoryStore::default()),
                std::sync::Arc::new(crate::store::MemoryStore::keeping_all()),
                true,
            ),
            None,
        )),
    }
}

/// An access token from the front channel (implicit flow): a Bearer token, with an optional
/// lifetime, checked like a token endpoint's.
fn front_channel_access_token(
    token: &str,
    params: &CallbackParams,
) -> Result<(String, Option<i64>), AuthError> {
    let mut object = Map::new();
    object.insert("access_token".into(), token.into());
    if let Some(token_type) = &params.token_type {
        object.insert("token_type".into(), token_type.as_str().into());
    }
    if let Some(expires_in) = &params.expires_in {
        object.insert("expires_in".into(), expires_in.as_str().into());
    }
    // A bad front-channel response is a bad request (400), not a bad token endpoint (502).
    let parsed = TokenResponse::parse(&object).map_err(|error| match error {
        AuthError::TokenResponse(why) => AuthError::InvalidCallback(why),
        other => other,
    })?;
    Ok((parsed.access_token, parsed.expires_in))
}

/// `Authorization: Basic` with the id and secret form-urlencoded first (RFC 6749 2.3.1).
fn basic_auth(client_id: &str, secret: &str) -> String {
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let pair = format!("{}:{}", encode(client_id), encode(secret));
    format!("Basic {}", STANDARD.encode(pair))
}

/// The parts of a token response we use.
pub(crate) struct TokenResponse {
    pub access_token: String,
    pub id_token: Option<String>,
    pub refresh_token: Option<String>,
    pub expires_in: Option<i64>,
}

impl TokenResponse {
    pub(crate) fn parse(object: &Map<String, Value>) -> Result<Self, AuthError> {
        let string = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
        let token_type = string("token_type").unwrap_or_default();
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::TokenResponse(
                "the token_type is not Bearer".into(),
            ));
        }
        let access_token = string("access_token")
            .filter(|t| !t.is_empty())
            .ok_or_else(|| AuthError::TokenResponse("no access_token".into()))?;
        let id_token = string("id_token");
        let expires_in = match object.get("expires_in") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(n.as_i64().filter(|n| *n >= 0).ok_or_else(|| {
                AuthError::TokenResponse("expires_in is not a non-negative integer".into())
            })?),
            Some(Value::String(s)) => Some(s.parse::<u32>().map(i64::from).map_err(|_| {
                AuthError::TokenResponse("expires_in is not a non-negative integer".into())
            })?),
            Some(_) => {
                return Err(AuthError::TokenResponse(
                    "expires_in is not a number".into(),
                ))
            }
        };
        Ok(TokenResponse {
            access_token,
            id_token,
            refresh_token: string("refresh_token"),
            expires_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_parameters_are_parsed_and_duplicates_refused() {
        let p = CallbackParams::parse("state=s&code=c&iss=https%3A%2F%2Fop&other=1").unwrap();
        assert_eq!(p.state.as_deref(), Some("s"));
        assert_eq!(p.code.as_deref(), Some("c"));
        assert_eq!(p.iss.as_deref(), Some("https://op"));
        assert!(p.check_parts(ResponseType::Code).is_ok());
        for dup in [
            "state=a&state=b",
            "code=a&code=b",
            "iss=a&iss=a",
            "error=x&error=y",
        ] {
            assert!(
                matches!(
                    CallbackParams::parse(dup),
                    Err(AuthError::InvalidCallback(_))
                ),
                "{dup}"
            );
        }
        let implicit = CallbackParams::parse("id_token=x&state=s").unwrap();
        assert!(implicit.check_parts(ResponseType::Code).is_err());
        assert!(implicit.check_parts(ResponseType::IdToken).is_ok());
        assert!(implicit.check_parts(ResponseType::IdTokenToken).is_err());
        assert!(implicit.check_parts(ResponseType::CodeIdToken).is_err());
        assert!(CallbackParams::parse(&"a".repeat(MAX_CALLBACK_LEN + 1)).is_err());
    }

    #[test]
    fn states_are_random_and_well_formed() {
        let a = random_token();
        assert!(is_well_formed_state(&a));
        assert_ne!(a, random_token());
        assert!(!is_well_formed_state("short"));
        assert!(!is_well_formed_state(&format!("{}%", &a[..42])));
    }

    #[test]
    fn basic_auth_encodes_id_and_secret_first() {
        // RFC 6749 2.3.1: "a:b" becomes "a%3Ab" before base64.
        let header = basic_auth("a:b", "p w");
        let decoded = STANDARD
            .decode(header.trim_start_matches("Basic "))
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "a%3Ab:p+w");
    }

    #[test]
    fn token_responses_are_checked() {
        let parse = |v: Value| TokenResponse::parse(v.as_object().unwrap());
        let ok = serde_json::json!({"access_token": "at", "token_type": "BeArEr", "id_token": "x"});
        let parsed = parse(ok.clone()).ok().unwrap();
        assert_eq!(parsed.expires_in, None);
        let mut with_string_expiry = ok.clone();
        with_string_expiry["expires_in"] = "3600".into();
        assert_eq!(
            parse(with_string_expiry).ok().unwrap().expires_in,
            Some(3600)
        );
        for (key, value) in [
            ("token_type", Value::from("mac")),
            ("expires_in", Value::from(-5)),
            ("expires_in", Value::from("soon")),
            ("access_token", Value::from("")),
        ] {
            let mut bad = ok.clone();
            bad[key] = value;
            assert!(parse(bad).is_err(), "{key}");
        }
        let mut no_id_token = ok;
        no_id_token.as_object_mut().unwrap().remove("id_token");
        assert!(parse(no_id_token).ok().unwrap().id_token.is_none());
    }

    #[test]
    fn provider_text_is_sanitized() {
        assert_eq!(sanitize("a\r\nb<\u{7f}é>", 10), "ab<>");
        assert_eq!(sanitize(&"x".repeat(100), 64).len(), 64);
    }
}
