//! The client's credentials: configured, or obtained by OpenID Connect Dynamic Client
//! Registration 1.0 and kept in a file so that restarts and other instances reuse them.

use std::io::Write;
use std::path::{Path, PathBuf};

use openidconnect::ClientSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::client::http::{invalid, HttpClient};
use crate::config::{ClientAuthMethod, ProviderConfig, RegistrationConfig};
use crate::error::ProviderError;
use crate::protocol::metadata::ProviderMetadata;
use crate::util::clock::unix_now;

const ENDPOINT: &str = "registration endpoint";

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
}

impl StoredClient {
    fn credentials(self) -> ClientCredentials {
        ClientCredentials {
            client_id: self.client_id,
            client_secret: self.client_secret.map(ClientSecret::new),
            auth_method: parse_method(self.token_endpoint_auth_method.as_deref()),
            registered: true,
        }
    }

    fn usable_for(&self, issuer: &str, redirect_uri: &str, now: i64) -> bool {
        self.issuer == issuer
            && self.redirect_uri == redirect_uri
            && (self.client_secret_expires_at == 0 || self.client_secret_expires_at > now + 60)
    }
}

fn parse_method(method: Option<&str>) -> ClientAuthMethod {
    method
        .and_then(ClientAuthMethod::from_name)
        .unwrap_or(ClientAuthMethod::ClientSecretBasic)
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
    /// The URL of the relying party's public keys (`jwks_path`), if served.
    pub jwks_uri: Option<String>,
    /// The relying party's public keys, when it has keys but does not serve them (registered
    /// inline as `jwks`).
    pub jwks: Option<Value>,
}

/// The credentials for `config`: the configured ones, or a registration (from the store when
/// the stored client is still good and is not `refused`, else a new one, then stored).
pub(crate) async fn credentials(
    http: &HttpClient,
    config: &ProviderConfig,
    metadata: &ProviderMetadata,
    uris: &ClientUris,
    refused: Option<&str>,
) -> Result<ClientCredentials, ProviderError> {
    let Some(registration) = &config.registration else {
        return Ok(ClientCredentials {
            client_id: config.client_id.clone().unwrap_or_default(),
            client_secret: config.client_secret.clone(),
            auth_method: config.client_auth_method(),
            registered: false,
        });
    };
    let Some(store) = &config.registration_store else {
        return register(http, config, registration, metadata, uris)
            .await
            .map(StoredClient::credentials);
    };
    // One instance at a time reads, registers and writes the store.
    let lock = lock_store(store).await?;
    let now = unix_now();
    if let Some(stored) = read_store(store) {
        let refused = refused.is_some_and(|id| id == stored.client_id);
        if !refused && stored.usable_for(&metadata.issuer, &uris.redirect_uri, now) {
            drop(lock);
            return Ok(stored.credentials());
        }
    }
    let stored = register(http, config, registration, metadata, uris).await?;
    write_store(store, &stored)?;
    drop(lock);
    Ok(stored.credentials())
}

async fn register(
    http: &HttpClient,
    config: &ProviderConfig,
    registration: &RegistrationConfig,
    metadata: &ProviderMetadata,
    uris: &ClientUris,
) -> Result<StoredClient, ProviderError> {
    let endpoint = metadata
        .registration_endpoint
        .as_deref()
        .ok_or(ProviderError::MissingEndpoint("registration endpoint"))?;
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
    // RFC 9449 5.2: the provider then never issues this client a Bearer token.
    if config.dpop {
        body.entry("dpop_bound_access_tokens")
            .or_insert(true.into());
    }
    let mut request = http
        .post(endpoint)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(Value::Object(body).to_string());
    if let Some(token) = &registration.initial_access_token {
        request = request.bearer_auth(token.secret());
    }
    let response = http.send(ENDPOINT, request).await?;
    if !matches!(response.status, 200 | 201) {
        return Err(ProviderError::Status {
            endpoint: ENDPOINT,
            status: response.status,
        });
    }
    let answer = response.json_object(ENDPOINT)?;
    let string = |name: &str| answer.get(name).and_then(Value::as_str).map(str::to_owned);
    let client_id = string("client_id")
        .filter(|id| !id.is_empty())
        .ok_or_else(|| invalid(ENDPOINT, "no client_id"))?;
    log::info!(
        "OpenID Connect: registered a client at `{}`",
        metadata.issuer
    );
    Ok(StoredClient {
        issuer: metadata.issuer.clone(),
        redirect_uri: uris.redirect_uri.clone(),
        client_id,
        client_secret: string("client_secret"),
        client_secret_expires_at: answer
            .get("client_secret_expires_at")
            .and_then(Value::as_i64)
            .unwrap_or(0),
        token_endpoint_auth_method: string("token_endpoint_auth_method"),
    })
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
