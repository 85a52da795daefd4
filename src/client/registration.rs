//! The client's credentials: configured, or obtained by OpenID Connect Dynamic Client
//! Registration 1.0 and kept in a file so that restarts and other instances reuse them.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openidconnect::ClientSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::client::http::{invalid, HttpClient};
use crate::config::{ClientAuthMethod, ProviderConfig, RegistrationConfig};
use crate::error::ProviderError;
use crate::protocol::metadata::ProviderMetadata;
use crate::session::seal::SessionCipher;
use crate::util::clock::unix_now;

const ENDPOINT: &str = "registration endpoint";
const MANAGEMENT: &str = "registration management endpoint";

/// How the client identifies itself to the provider.
#[derive(Debug, Clone)]
pub(crate) struct ClientCredentials {
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub auth_method: ClientAuthMethod,
    /// Obtained by dynamic registration (so a refused client can be registered anew).
    pub registered: bool,
}

/// What the registration store file holds.
#[derive(Serialize, Deserialize)]
struct StoredClient {
    issuer: String,
    redirect_uri: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    client_secret_expires_at: i64,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    /// Where the registration is read, updated and deleted (RFC 7592), if the provider
    /// manages registrations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_client_uri: Option<String>,
    /// The registration access token, sealed under a key derived from the secret key
    /// (base64url of nonce and AES-256-GCM ciphertext, bound to the client id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    registration_access_token: Option<String>,
    /// SHA-256 (hex) of the metadata registered, to know when the configuration changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    metadata_sha256: Option<String>,
}

impl StoredClient {
    /// The credentials, with the method the provider registered (the requested one when it
    /// did not say, or named one this crate does not speak).
    fn credentials(self, requested: ClientAuthMethod) -> ClientCredentials {
        ClientCredentials {
            client_id: self.client_id,
            client_secret: self.client_secret.map(ClientSecret::new),
            auth_method: self
                .token_endpoint_auth_method
                .as_deref()
                .and_then(ClientAuthMethod::from_name)
                .unwrap_or(requested),
            registered: true,
        }
    }

    /// The registration's management URI and (opened) access token, if it has them and the
    /// URI is one the token may be sent to (see [`management_uri`]).
    fn management(
        &self,
        cipher: Option<&SessionCipher>,
        metadata: &ProviderMetadata,
        allow_http: bool,
    ) -> Option<Management> {
        let uri = self.registration_client_uri.clone()?;
        management_uri(&uri, metadata, allow_http)?;
        let sealed = URL_SAFE_NO_PAD
            .decode(self.registration_access_token.as_deref()?)
            .ok()?;
        let token = cipher?.open(&self.token_entry(), &sealed)?;
        Some(Management {
            uri,
            token: String::from_utf8(token).ok()?,
        })
    }

    /// What the registration access token is bound to: the client and where it is sent.
    fn token_entry(&self) -> String {
        format!(
            "registration access token of {} for {}",
            self.client_id,
            self.registration_client_uri.as_deref().unwrap_or_default()
        )
    }

    fn usable_for(&self, issuer: &str, redirect_uri: &str, now: i64) -> bool {
        self.issuer == issuer
            && self.redirect_uri == redirect_uri
            && (self.client_secret_expires_at == 0 || self.client_secret_expires_at > now + 60)
    }
}

/// `uri` if a registration access token (and a client secret) may be sent there: https (or
/// http where the provider's URLs may be), at the origin of the provider's registration
/// endpoint or issuer. Anything else is not managed: a provider behind a proxy that answers
/// with an `http://` URI, or a store file pointed elsewhere, gets nothing.
fn management_uri<'a>(
    uri: &'a str,
    metadata: &ProviderMetadata,
    allow_http: bool,
) -> Option<&'a str> {
    crate::util::url::check_url(uri, allow_http).ok()?;
    let known = [
        Some(&metadata.issuer),
        metadata.registration_endpoint.as_ref(),
    ];
    let known = known.into_iter().flatten().map(String::as_str);
    crate::util::url::at_origin_of(uri, known).then_some(uri)
}

/// A registration's management endpoint and token (RFC 7592).
struct Management {
    uri: String,
    token: String,
}

/// What the provider said of a stored registration.
enum Checked {
    /// Read (or updated): the registration as the provider has it now.
    Confirmed(StoredClient),
    /// The provider no longer knows the client (401, 403, 404): register anew.
    Gone,
    /// The provider refused the update of the metadata: register anew, delete the old one.
    UpdateRefused,
    /// No answer that tells: go on with the stored client.
    Unknown,
}

/// The application's URLs as a provider knows them (and a dynamic registration registers).
pub(crate) struct ClientUris {
    /// The callback path of this provider (relative to `base_url`).
    pub redirect_path: String,
    /// The absolute callback URL sent to the provider.
    pub redirect_uri: String,
    /// Whether another provider uses the same callback path (then `iss` is required).
    pub shares_redirect_path: bool,
    /// The default post-logout redirect URI (registered with a dynamic registration).
    pub post_logout_redirect_uri: String,
    /// Where the provider may end sessions (registered with a dynamic registration).
    pub backchannel_logout_uri: String,
    pub frontchannel_logout_uri: String,
    /// The login route's URL, for logins a third party starts (OpenID Connect Core 4): only
    /// with `login_path` and an https `base_url` (registered as `initiate_login_uri`).
    pub initiate_login_uri: Option<String>,
    /// The URL of the relying party's public keys (`jwks_path`), if served.
    pub jwks_uri: Option<String>,
    /// The relying party's public keys, when it has keys but does not serve them (registered
    /// inline as `jwks`).
    pub jwks: Option<Value>,
}

/// The credentials for `config` (see [`obtain`]). Under the fapi2 profile a registration
/// whose method is not `private_key_jwt` or mutual TLS is refused.
pub(crate) async fn credentials(
    http: &HttpClient,
    config: &ProviderConfig,
    metadata: &ProviderMetadata,
    uris: &ClientUris,
    refused: Option<&str>,
    cipher: Option<&SessionCipher>,
) -> Result<ClientCredentials, ProviderError> {
    let credentials = obtain(http, config, metadata, uris, refused, cipher).await?;
    let method = credentials.auth_method;
    if config.is_fapi2() && !method.suits_fapi2() {
        return Err(invalid(
            ENDPOINT,
            format!(
                "the client is registered with `{}`, which the fapi2 profile does not allow",
                method.name()
            ),
        ));
    }
    Ok(credentials)
}

/// The credentials for `config`: the configured ones, or a registration (from the store when
/// the stored client is still good and is not `refused`, else a new one, then stored). A
/// stored registration the provider manages (RFC 7592) is read to confirm it, updated when the
/// configured metadata changed, and deleted when a new registration replaces it.
async fn obtain(
    http: &HttpClient,
    config: &ProviderConfig,
    metadata: &ProviderMetadata,
    uris: &ClientUris,
    refused: Option<&str>,
    cipher: Option<&SessionCipher>,
) -> Result<ClientCredentials, ProviderError> {
    let Some(registration) = &config.registration else {
        return Ok(ClientCredentials {
            client_id: config.client_id.clone().unwrap_or_default(),
            client_secret: config.client_secret.clone(),
            auth_method: config.client_auth_method(),
            registered: false,
        });
    };
    let mut body = registration_body(config, registration, uris);
    // Configured ID-token algorithms (the fapi2 profile's too): ask for one the provider
    // offers, else it signs with its default (RS256), which the login would then refuse.
    if let Some(configured) = &config.id_token_signing_algs {
        let offered = &metadata.id_token_signing_alg_values_supported;
        let alg = configured
            .iter()
            .find(|a| offered.is_empty() || offered.contains(a))
            .or(configured.first());
        if let Some(alg) = alg {
            body.entry("id_token_signed_response_alg")
                .or_insert(alg.as_str().into());
        }
    }
    // The method asked for: what the provider registered unless it says otherwise.
    let requested = body
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str)
        .and_then(ClientAuthMethod::from_name)
        .unwrap_or(ClientAuthMethod::ClientSecretBasic);
    let digest = hex::encode(Sha256::digest(Value::Object(body.clone()).to_string()));
    let context = Registering {
        http,
        metadata,
        uris,
        digest: &digest,
        cipher,
        allow_http: config.http_allowed(),
    };
    let Some(store) = &config.registration_store else {
        return context
            .register(registration, &body)
            .await
            .map(|stored| stored.credentials(requested));
    };
    // One instance at a time reads, registers and writes the store.
    let lock = lock_store(store).await?;
    let now = unix_now();
    let mut replaced = None;
    if let Some(stored) = read_store(store) {
        let refused = refused.is_some_and(|id| id == stored.client_id);
        let management = stored.management(cipher, metadata, config.http_allowed());
        if refused || !stored.usable_for(&metadata.issuer, &uris.redirect_uri, now) {
            replaced = management;
        } else if let Some(management) = management {
            match context.check(&stored, &management, &body).await {
                Checked::Confirmed(current) => {
                    write_store(store, &current)?;
                    drop(lock);
                    return Ok(current.credentials(requested));
                }
                Checked::Unknown => {
                    drop(lock);
                    return Ok(stored.credentials(requested));
                }
                Checked::Gone => {}
                Checked::UpdateRefused => replaced = Some(management),
            }
        } else {
            drop(lock);
            return Ok(stored.credentials(requested));
        }
    }
    let stored = context.register(registration, &body).await?;
    write_store(store, &stored)?;
    drop(lock);
    if let Some(old) = replaced {
        context.delete(&old).await;
    }
    Ok(stored.credentials(requested))
}

/// The client metadata a registration of `config` sends.
fn registration_body(
    config: &ProviderConfig,
    registration: &RegistrationConfig,
    uris: &ClientUris,
) -> Map<String, Value> {
    let mut body: Map<String, Value> = registration.metadata.clone();
    body.insert(
        "redirect_uris".into(),
        vec![uris.redirect_uri.as_str()].into(),
    );
    body.entry("post_logout_redirect_uris")
        .or_insert_with(|| vec![uris.post_logout_redirect_uri.as_str()].into());
    body.insert(
        "response_types".into(),
        vec![config.response_type.as_str()].into(),
    );
    body.insert(
        "grant_types".into(),
        config.response_type.grant_types().into(),
    );
    body.entry("application_type").or_insert("web".into());
    // The provider may end sessions through either logout channel (with the session id).
    for (name, uri) in [
        ("backchannel_logout_uri", &uris.backchannel_logout_uri),
        ("frontchannel_logout_uri", &uris.frontchannel_logout_uri),
    ] {
        body.entry(name).or_insert(uri.as_str().into());
    }
    if let Some(uri) = &uris.initiate_login_uri {
        body.entry("initiate_login_uri")
            .or_insert(uri.as_str().into());
    }
    body.entry("backchannel_logout_session_required")
        .or_insert(true.into());
    body.entry("frontchannel_logout_session_required")
        .or_insert(true.into());
    // The relying party's keys: by URL where it serves them, else inline.
    if let Some(uri) = &uris.jwks_uri {
        body.entry("jwks_uri").or_insert(uri.as_str().into());
    } else if let Some(jwks) = &uris.jwks {
        body.entry("jwks").or_insert(jwks.clone());
    }
    body.entry("token_endpoint_auth_method")
        .or_insert(config.client_auth_method().name().into());
    if let Some(alg) = &config.userinfo_signed_response_alg {
        body.entry("userinfo_signed_response_alg")
            .or_insert(alg.as_str().into());
    }
    for (what, encryption) in [
        ("id_token", config.id_token_encryption()),
        ("userinfo", config.userinfo_encryption()),
        ("authorization", config.authorization_encryption()),
    ] {
        if let Some(encryption) = encryption {
            body.entry(format!("{what}_encrypted_response_alg"))
                .or_insert(encryption.alg.name().into());
            body.entry(format!("{what}_encrypted_response_enc"))
                .or_insert(encryption.enc.name().into());
        }
    }
    if let Some(alg) = config.authorization_signing_alg() {
        body.entry("authorization_signed_response_alg")
            .or_insert(alg.into());
    }
    if let Some(alg) = config.introspection_alg() {
        body.entry("introspection_signed_response_alg")
            .or_insert(alg.into());
    }
    // RFC 9449 5.2: the provider then never issues this client a Bearer token.
    if config.dpop {
        body.entry("dpop_bound_access_tokens")
            .or_insert(true.into());
    }
    body
}

/// What a registration, its check and its replacement need.
struct Registering<'a> {
    http: &'a HttpClient,
    metadata: &'a ProviderMetadata,
    uris: &'a ClientUris,
    /// The SHA-256 of the metadata to register.
    digest: &'a str,
    cipher: Option<&'a SessionCipher>,
    /// Plain http allowed for the provider's URLs beyond loopback.
    allow_http: bool,
}

impl Registering<'_> {
    async fn register(
        &self,
        registration: &RegistrationConfig,
        body: &Map<String, Value>,
    ) -> Result<StoredClient, ProviderError> {
        let endpoint = self
            .metadata
            .registration_endpoint
            .as_deref()
            .ok_or(ProviderError::MissingEndpoint("registration endpoint"))?;
        let mut request = self
            .http
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(Value::Object(body.clone()).to_string());
        if let Some(token) = &registration.initial_access_token {
            request = request.bearer_auth(token.secret());
        }
        let response = self.http.send(ENDPOINT, request).await?;
        if !matches!(response.status, 200 | 201) {
            return Err(ProviderError::Status {
                endpoint: ENDPOINT,
                status: response.status,
            });
        }
        let stored = self.stored(&response.json_object(ENDPOINT)?, None)?;
        log::info!(
            "OpenID Connect: registered a client at `{}`",
            self.metadata.issuer
        );
        Ok(stored)
    }

    /// The provider's answer about a registration as what the store keeps; `previous` fills
    /// in what an answer to a read or update may leave out.
    fn stored(
        &self,
        answer: &Map<String, Value>,
        previous: Option<&StoredClient>,
    ) -> Result<StoredClient, ProviderError> {
        let string = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
        let client_id = string("client_id")
            .filter(|id| !id.is_empty())
            .ok_or_else(|| invalid(ENDPOINT, "no client_id"))?;
        let mut stored = StoredClient {
            issuer: self.metadata.issuer.clone(),
            redirect_uri: self.uris.redirect_uri.clone(),
            client_id,
            client_secret: string("client_secret")
                .or_else(|| previous.and_then(|p| p.client_secret.clone())),
            client_secret_expires_at: answer
                .get("client_secret_expires_at")
                .and_then(Value::as_i64)
                .unwrap_or(0),
            token_endpoint_auth_method: string("token_endpoint_auth_method"),
            registration_client_uri: string("registration_client_uri")
                .or_else(|| previous.and_then(|p| p.registration_client_uri.clone()))
                .filter(|uri| management_uri(uri, self.metadata, self.allow_http).is_some()),
            registration_access_token: None,
            metadata_sha256: Some(self.digest.to_owned()),
        };
        let token = string("registration_access_token")
            .filter(|_| stored.registration_client_uri.is_some());
        stored.registration_access_token = match (token, self.cipher) {
            (Some(token), Some(cipher)) => {
                Some(URL_SAFE_NO_PAD.encode(cipher.seal(&stored.token_entry(), token.as_bytes())))
            }
            // A token not rotated: the one kept (sealed for the same client and URI).
            (None, _) => previous
                .filter(|p| p.registration_client_uri == stored.registration_client_uri)
                .and_then(|p| p.registration_access_token.clone()),
            // No secret key to seal it with: the registration is not managed.
            (Some(_), None) => None,
        };
        Ok(stored)
    }

    /// Reads the stored registration (RFC 7592 2.1), or updates it (2.2) when the metadata
    /// to register changed since.
    async fn check(
        &self,
        stored: &StoredClient,
        management: &Management,
        body: &Map<String, Value>,
    ) -> Checked {
        let changed = stored.metadata_sha256.as_deref() != Some(self.digest);
        let request = if changed {
            let mut update = body.clone();
            update.insert("client_id".into(), stored.client_id.clone().into());
            if let Some(secret) = &stored.client_secret {
                update.insert("client_secret".into(), secret.clone().into());
            }
            self.http
                .reqwest()
                .put(&management.uri)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(Value::Object(update).to_string())
        } else {
            self.http.get(&management.uri)
        };
        let request = request.bearer_auth(&management.token);
        let response = match self.http.send(MANAGEMENT, request).await {
            Ok(response) => response,
            Err(error) => {
                log::warn!("OpenID Connect: the registration could not be checked: {error}");
                return Checked::Unknown;
            }
        };
        match response.status {
            200 => match response
                .json_object(MANAGEMENT)
                .and_then(|answer| self.stored(&answer, Some(stored)))
            {
                Ok(current) if current.client_id == stored.client_id => {
                    if changed {
                        log::info!(
                            "OpenID Connect: updated the registration at `{}`",
                            self.metadata.issuer
                        );
                    }
                    Checked::Confirmed(current)
                }
                _ => Checked::Unknown,
            },
            401 | 403 | 404 => Checked::Gone,
            400..=499 if changed => Checked::UpdateRefused,
            _ => Checked::Unknown,
        }
    }

    /// Deletes a registration a new one replaced (RFC 7592 2.3); a failure is logged.
    async fn delete(&self, old: &Management) {
        let request = self.http.reqwest().delete(&old.uri).bearer_auth(&old.token);
        match self.http.send(MANAGEMENT, request).await {
            Ok(response) if matches!(response.status, 204 | 200) => {
                log::info!(
                    "OpenID Connect: deleted the replaced registration at `{}`",
                    self.metadata.issuer
                );
            }
            Ok(response) => log::warn!(
                "OpenID Connect: the replaced registration was not deleted: HTTP {}",
                response.status
            ),
            Err(error) => {
                log::warn!("OpenID Connect: the replaced registration was not deleted: {error}")
            }
        }
    }
}

fn store_error(path: &Path, error: std::io::Error) -> ProviderError {
    ProviderError::InvalidResponse {
        endpoint: "registration store",
        reason: format!("{}: {error}", path.display()),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// An exclusive lock on `<store>.lock` (released when the file is dropped).
async fn lock_store(path: &Path) -> Result<std::fs::File, ProviderError> {
    let lock_path = with_suffix(path, ".lock");
    let open_path = lock_path.clone();
    let file = tokio::task::spawn_blocking(move || {
        let file = private_file(&open_path, false)?;
        file.lock()?;
        Ok::<_, std::io::Error>(file)
    })
    .await
    .map_err(|e| store_error(&lock_path, std::io::Error::other(e)))?
    .map_err(|e| store_error(&lock_path, e))?;
    Ok(file)
}

/// Opens (creating with mode 0600) a file only its owner can read.
fn private_file(path: &Path, truncate: bool) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.create(true).write(true).truncate(truncate);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

fn read_store(path: &Path) -> Option<StoredClient> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str(&text).ok()
}

/// Writes the store atomically: a private temporary file, flushed, then renamed over it.
fn write_store(path: &Path, stored: &StoredClient) -> Result<(), ProviderError> {
    let temporary = with_suffix(path, &format!(".{}.tmp", std::process::id()));
    let json = serde_json::to_vec_pretty(stored).map_err(|e| store_error(path, e.into()))?;
    let result = private_file(&temporary, true)
        .and_then(|mut file| {
            file.write_all(&json)?;
            file.sync_all()
        })
        .and_then(|()| std::fs::rename(&temporary, path));
    if let Err(error) = result {
        let _ = std::fs::remove_file(&temporary);
        return Err(store_error(path, error));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registration_access_token_goes_only_to_the_provider_over_https() {
        let metadata: ProviderMetadata = serde_json::from_value(serde_json::json!({
            "issuer": "https://op.example",
            "authorization_endpoint": "https://op.example/authorize",
            "jwks_uri": "https://op.example/jwks",
            "registration_endpoint": "https://reg.op.example/register",
        }))
        .unwrap();
        let ok = |uri: &str| management_uri(uri, &metadata, false).is_some();
        assert!(ok("https://reg.op.example/register/client-1"));
        assert!(ok("https://op.example/clients/client-1"));
        assert!(!ok("http://reg.op.example/register/client-1"), "clear text");
        assert!(
            !ok("https://evil.example/register/client-1"),
            "another origin"
        );
        assert!(
            !ok("https://reg.op.example:8443/register/client-1"),
            "another port"
        );
        assert!(!ok("not a url"));
    }
}
