//! The test provider's state: keys, behaviour, registered clients, accounts, issued codes and
//! tokens.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicUsize;
use std::sync::{Arc, Mutex, OnceLock};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Map, Value};

use super::keys::{make_jwt, SigningKey};
use super::Behaviour;

/// Locks, recovering from a poisoned lock (a panicking test must not break the others).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// 8·`bytes` random bits, base64url.
pub(super) fn random(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut buf);
    URL_SAFE_NO_PAD.encode(buf)
}

pub(super) fn unix_now() -> i64 {
    crate::util::clock::unix_now()
}

/// Requests served per endpoint.
#[derive(Default)]
pub(super) struct Counters {
    pub discovery: AtomicUsize,
    pub jwks: AtomicUsize,
    pub authorize: AtomicUsize,
    pub token: AtomicUsize,
    pub userinfo: AtomicUsize,
    pub end_session: AtomicUsize,
    pub revocation: AtomicUsize,
    pub refresh: AtomicUsize,
    pub registration: AtomicUsize,
    pub introspection: AtomicUsize,
    pub dpop_challenges: AtomicUsize,
    pub par: AtomicUsize,
}

/// A user: `sub` and further claims.
pub(super) type Account = (String, Map<String, Value>);

/// A registered client.
#[derive(Clone)]
pub(super) struct RegisteredClient {
    pub secret: String,
    pub redirect_uris: Vec<String>,
    pub post_logout_redirect_uris: Vec<String>,
}

/// An authorization request: waiting for the login form (interactive mode), then bound to
/// its code.
#[derive(Clone)]
pub(super) struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    /// The words of `response_type` (sorted).
    pub response_type: Vec<String>,
    /// `query`, `fragment` or `form_post`.
    pub response_mode: String,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub scope: String,
}

/// An authorization response on its way to the client: a redirect (query or fragment), or an
/// auto-submitting form (`form_post`).
pub(super) enum FrontChannel {
    Redirect(String),
    FormPost(String),
}

/// base64url of the left half of SHA-256 (`c_hash`, `at_hash` of RS256/ES256 tokens).
fn half_sha256(value: &str) -> String {
    use sha2::{Digest, Sha256};
    URL_SAFE_NO_PAD.encode(&Sha256::digest(value.as_bytes())[..16])
}

/// The `form_post` page (OAuth 2.0 Form Post Response Mode): a form of hidden fields that
/// submits itself to the client's redirect URI.
fn form_post_page(action: &str, params: &[(String, String)]) -> String {
    let fields: String = params
        .iter()
        .map(|(name, value)| {
            format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
                html_escape::encode_double_quoted_attribute(name),
                html_escape::encode_double_quoted_attribute(value)
            )
        })
        .collect();
    format!(
        "<!DOCTYPE html><html><head><title>Submitting</title></head>\
         <body onload=\"document.forms[0].submit()\">\
         <form method=\"post\" action=\"{}\">{fields}\
         <noscript><button type=\"submit\">Continue</button></noscript></form></body></html>",
        html_escape::encode_double_quoted_attribute(action)
    )
}

/// What an access token stands for.
#[derive(Clone)]
pub(super) struct IssuedToken {
    pub account: Account,
    pub client_id: String,
    pub scope: String,
    pub exp: i64,
    /// The thumbprint of the DPoP key the token is bound to, if any.
    pub jkt: Option<String>,
}

/// What a code stands for.
pub(super) struct IssuedCode {
    pub request: AuthorizationRequest,
    pub account: Account,
}

/// Everything the provider knows.
pub(super) struct ProviderState {
    pub issuer: OnceLock<String>,
    pub default_client_id: String,
    pub interactive: bool,
    pub keys: Mutex<Vec<Arc<SigningKey>>>,
    pub behaviour: Mutex<Behaviour>,
    /// The user a non-interactive login authenticates.
    pub user: Mutex<Account>,
    pub clients: Mutex<HashMap<String, RegisteredClient>>,
    /// The client metadata of the last dynamic registration, as received.
    pub last_registration: Mutex<Option<Value>>,
    /// Interactive mode: authorization requests waiting for the login form.
    pub waiting: Mutex<HashMap<String, AuthorizationRequest>>,
    /// Pushed authorization requests by `request_uri`.
    pub pushed: Mutex<HashMap<String, super::par::PushedRequest>>,
    /// Interactive mode: the provider's own sessions (cookie value → account).
    pub sessions: Mutex<HashMap<String, Account>>,
    pub codes: Mutex<HashMap<String, IssuedCode>>,
    pub access_tokens: Mutex<HashMap<String, IssuedToken>>,
    pub refresh_tokens: Mutex<HashMap<String, Account>>,
    pub revoked: Mutex<Vec<String>>,
    /// Every code and token issued (codes, ID tokens, access and refresh tokens), oldest
    /// first; at most `MAX_ISSUED`.
    pub issued: Mutex<VecDeque<String>>,
    /// The query of the last authorization request.
    pub last_authorize: Mutex<Option<String>>,
    pub counters: Counters,
}

/// At most this many issued codes and tokens are remembered (for leak checks).
pub(super) const MAX_ISSUED: usize = 10_000;

/// Inserts into a map that a long test run could grow without end.
pub(super) fn insert_bounded<V>(map: &Mutex<HashMap<String, V>>, key: String, value: V) {
    let mut map = lock(map);
    if map.len() > 10_000 {
        map.clear();
    }
    map.insert(key, value);
}

impl ProviderState {
    pub fn new(key: SigningKey, client_secret: String, interactive: bool) -> Self {
        let default_client = RegisteredClient {
            secret: client_secret,
            redirect_uris: vec!["http://127.0.0.1:8000/redirect_uri".into()],
            post_logout_redirect_uris: vec!["http://127.0.0.1:8000/logout".into()],
        };
        ProviderState {
            issuer: OnceLock::new(),
            default_client_id: "test-client".into(),
            interactive,
            keys: Mutex::new(vec![Arc::new(key)]),
            behaviour: Mutex::new(Behaviour::default()),
            user: Mutex::new(("test-user".into(), Map::new())),
            clients: Mutex::new(HashMap::from([("test-client".to_owned(), default_client)])),
            last_registration: Mutex::new(None),
            waiting: Mutex::new(HashMap::new()),
            pushed: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            codes: Mutex::new(HashMap::new()),
            access_tokens: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            revoked: Mutex::new(Vec::new()),
            issued: Mutex::new(VecDeque::new()),
            last_authorize: Mutex::new(None),
            counters: Counters::default(),
        }
    }

    pub fn issuer(&self) -> &str {
        self.issuer.get().map(String::as_str).unwrap_or_default()
    }

    /// Remembers a code or token this provider issued (see `TestProvider::issued_tokens`).
    pub fn record_issued(&self, token: &str) {
        let mut issued = lock(&self.issued);
        if issued.len() >= MAX_ISSUED {
            issued.pop_front();
        }
        issued.push_back(token.to_owned());
    }

    pub fn behaviour(&self) -> Behaviour {
        lock(&self.behaviour).clone()
    }

    pub fn current_key(&self) -> Arc<SigningKey> {
        lock(&self.keys)
            .last()
            .cloned()
            .expect("the provider has a key")
    }

    pub fn client(&self, client_id: &str) -> Option<RegisteredClient> {
        lock(&self.clients).get(client_id).cloned()
    }

    /// Authenticates `account` for `request`: the response its `response_type` asks for (a
    /// code, an ID token bound to the code and access token by `c_hash`/`at_hash`, an access
    /// token), delivered back to the client in its response mode.
    pub fn authorization_response(
        &self,
        request: AuthorizationRequest,
        account: Account,
    ) -> FrontChannel {
        let behaviour = self.behaviour();
        let wants = |word: &str| request.response_type.iter().any(|w| w == word);
        let mut params: Vec<(String, String)> = Vec::new();
        let mut hashes = Map::new();
        let code = wants("code").then(|| random(24));
        if let Some(code) = &code {
            self.record_issued(code);
            hashes.insert("c_hash".into(), half_sha256(code).into());
            params.push(("code".into(), code.clone()));
        }
        if wants("token") {
            let token = self.access_token(
                &account,
                &request.client_id,
                &request.scope,
                &behaviour,
                None,
            );
            hashes.insert("at_hash".into(), half_sha256(&token).into());
            params.push(("access_token".into(), token));
            params.push(("token_type".into(), behaviour.token_type.clone()));
            if let Some(expires_in) = behaviour.expires_in {
                params.push(("expires_in".into(), expires_in.to_string()));
            }
        }
        if wants("id_token") {
            let id_token = self.id_token_with(
                &request.client_id,
                &account,
                request.nonce.as_deref(),
                hashes,
                &behaviour,
            );
            params.push(("id_token".into(), id_token));
        }
        let delivery = self.deliver(&request, params);
        if let Some(code) = code {
            insert_bounded(&self.codes, code, IssuedCode { request, account });
        }
        delivery
    }

    /// The response back to the client with an `error`.
    pub fn error_response(&self, request: &AuthorizationRequest, error: &str) -> FrontChannel {
        let params = vec![
            ("error".to_owned(), error.to_owned()),
            (
                "error_description".to_owned(),
                "<script>alert('the provider said no')</script>".to_owned(),
            ),
        ];
        self.deliver(request, params)
    }

    /// Adds `state` and `iss` to `params` and delivers them in the request's response mode.
    fn deliver(
        &self,
        request: &AuthorizationRequest,
        mut params: Vec<(String, String)>,
    ) -> FrontChannel {
        if let Some(state) = &request.state {
            params.push(("state".into(), state.clone()));
        }
        match &self.behaviour().iss_parameter {
            super::IssParameter::Correct => params.push(("iss".into(), self.issuer().to_owned())),
            super::IssParameter::Value(v) => params.push(("iss".into(), v.clone())),
            super::IssParameter::Omit => {}
        }
        let behaviour = self.behaviour();
        let mut mode = request.response_mode.as_str();
        if mode == "jwt" {
            mode = if request.response_type == ["code"] {
                "query.jwt"
            } else {
                "fragment.jwt"
            };
        }
        if let Some(plain) = mode.strip_suffix(".jwt") {
            mode = plain;
            if behaviour.jarm_responses {
                params = vec![("response".into(), self.jarm(request, params, &behaviour))];
            }
        }
        let mut target = url::Url::parse(&request.redirect_uri).expect("a checked redirect URI");
        match mode {
            "form_post" => FrontChannel::FormPost(form_post_page(target.as_str(), &params)),
            "fragment" => {
                let fragment = url::form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(&params)
                    .finish();
                target.set_fragment(Some(&fragment));
                FrontChannel::Redirect(target.into())
            }
            _ => {
                target.query_pairs_mut().extend_pairs(&params);
                FrontChannel::Redirect(target.into())
            }
        }
    }

    /// The JARM response JWT of `params`, for `request`: signed, maybe encrypted.
    fn jarm(
        &self,
        request: &AuthorizationRequest,
        params: Vec<(String, String)>,
        behaviour: &Behaviour,
    ) -> String {
        let mut claims: Map<String, Value> = params
            .into_iter()
            .map(|(name, value)| (name, Value::String(value)))
            .collect();
        // The `iss` parameter's value (a tenant's issuer, say), else the issuer.
        claims.entry("iss").or_insert_with(|| self.issuer().into());
        claims.insert("aud".into(), request.client_id.clone().into());
        claims.insert("exp".into(), (unix_now() + 120).into());
        let mut header = Map::new();
        if let Some(tweak) = &behaviour.jarm_claims {
            claims.insert("header".into(), Value::Object(header));
            tweak(&mut claims);
            header = match claims.remove("header") {
                Some(Value::Object(header)) => header,
                _ => Map::new(),
            };
        }
        let jwt = make_jwt(&self.current_key(), &behaviour.signing, header, &claims);
        match &behaviour.authorization_encryption {
            Some(encrypt) => encrypt.apply(jwt.as_bytes()),
            None => jwt,
        }
    }

    /// A token response: a new access token for `account` (bound to the DPoP key `jkt` if
    /// given), the ID token, and a new refresh token if `new_refresh_token`.
    pub fn token_body(
        &self,
        account: &Account,
        (grant, jkt): ((&str, &str), Option<&str>),
        id_token: Option<String>,
        new_refresh_token: bool,
        behaviour: &Behaviour,
    ) -> Value {
        let (client_id, scope) = grant;
        let access_token = self.access_token(account, client_id, scope, behaviour, jkt);
        let token_type = if jkt.is_some() {
            "DPoP"
        } else {
            behaviour.token_type.as_str()
        };
        let mut body = json!({ "access_token": access_token, "token_type": token_type });
        if let Some(id_token) = id_token {
            body["id_token"] = id_token.into();
        }
        if let Some(expires_in) = behaviour.expires_in {
            body["expires_in"] = expires_in.into();
        }
        if new_refresh_token {
            let refresh_token = random(32);
            self.record_issued(&refresh_token);
            insert_bounded(&self.refresh_tokens, refresh_token.clone(), account.clone());
            body["refresh_token"] = refresh_token.into();
        }
        body
    }

    /// A new access token for `account` and `client_id` with `scope`: a JWT (RFC 9068) or an
    /// opaque string, as the behaviour says; remembered for userinfo and introspection.
    pub fn access_token(
        &self,
        account: &Account,
        client_id: &str,
        scope: &str,
        behaviour: &Behaviour,
        jkt: Option<&str>,
    ) -> String {
        let now = unix_now();
        let exp = now + behaviour.expires_in.unwrap_or(300);
        let token = if behaviour.jwt_access_tokens {
            let mut claims = Map::new();
            claims.insert("iss".into(), self.issuer().into());
            claims.insert("sub".into(), account.0.clone().into());
            let audience = behaviour.access_token_audience.clone();
            claims.insert(
                "aud".into(),
                audience.unwrap_or_else(|| client_id.to_owned()).into(),
            );
            claims.insert("client_id".into(), client_id.into());
            claims.insert("scope".into(), scope.into());
            claims.insert("exp".into(), exp.into());
            claims.insert("iat".into(), now.into());
            claims.insert("jti".into(), random(12).into());
            if let Some(jkt) = jkt {
                claims.insert("cnf".into(), json!({ "jkt": jkt }));
            }
            if let Some(tweak) = &behaviour.access_token_claims {
                tweak(&mut claims);
            }
            let mut header = Map::new();
            header.insert("typ".into(), behaviour.access_token_typ.clone().into());
            make_jwt(&self.current_key(), &behaviour.signing, header, &claims)
        } else {
            random(32)
        };
        let issued = IssuedToken {
            account: account.clone(),
            client_id: client_id.to_owned(),
            scope: scope.to_owned(),
            exp,
            jkt: jkt.map(str::to_owned),
        };
        self.record_issued(&token);
        insert_bounded(&self.access_tokens, token.clone(), issued);
        token
    }

    /// An ID token for `account` and `client_id`, signed as the behaviour says.
    pub fn id_token(
        &self,
        client_id: &str,
        account: &Account,
        nonce: Option<&str>,
        behaviour: &Behaviour,
    ) -> String {
        self.id_token_with(client_id, account, nonce, Map::new(), behaviour)
    }

    /// An ID token with extra claims (`c_hash`, `at_hash`) before the behaviour's tweak.
    pub fn id_token_with(
        &self,
        client_id: &str,
        account: &Account,
        nonce: Option<&str>,
        extra: Map<String, Value>,
        behaviour: &Behaviour,
    ) -> String {
        let now = unix_now();
        let mut claims = extra;
        claims.insert("iss".into(), self.issuer().into());
        claims.insert("sub".into(), account.0.clone().into());
        claims.insert("aud".into(), client_id.into());
        claims.insert("exp".into(), (now + 300).into());
        claims.insert("iat".into(), now.into());
        // A login: authentication time and nonce. (A refresh has neither: Core 12.2 keeps
        // the original auth_time, which a client compares only when present.)
        if let Some(nonce) = nonce {
            claims.insert("auth_time".into(), now.into());
            claims.insert("nonce".into(), nonce.into());
            // A new provider session per login (Back-Channel Logout's `sid`).
            claims.insert("sid".into(), random(16).into());
        }
        claims.extend(account.1.clone());
        if let Some(tweak) = &behaviour.id_token_claims {
            tweak(&mut claims);
        }
        let mut header = Map::new();
        if let Some(tweak) = &behaviour.id_token_header {
            tweak(&mut header);
        }
        let id_token = make_jwt(&self.current_key(), &behaviour.signing, header, &claims);
        self.record_issued(&id_token);
        match &behaviour.id_token_encryption {
            Some(encrypt) => {
                let jwe = encrypt.apply(id_token.as_bytes());
                self.record_issued(&jwe);
                jwe
            }
            None => id_token,
        }
    }
}
