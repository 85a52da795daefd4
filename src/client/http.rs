//! The HTTP client of each provider: how it connects (the trusted roots, a client certificate
//! for mutual TLS, a proxy), a timeout on every call, no redirects (a provider's 3xx is an
//! error, never followed with our credentials), and a bound on the size of every response
//! body. A certificate failure is told apart from other transport errors, and logged naming
//! the provider.

use std::path::Path;
use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};

use crate::config::{OidcConfig, ProviderConfig};
use crate::error::ProviderError;
use crate::util::metrics;
use crate::util::text::for_log;

/// Largest response body accepted from a provider (discovery, key set, token, userinfo).
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// A response read in full (within [`MAX_BODY`]).
pub(crate) struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
    /// A `DPoP-Nonce` header (RFC 9449 8), if one of the allowed characters and not too long.
    pub dpop_nonce: Option<String>,
    /// A `WWW-Authenticate` header, if it is text.
    pub www_authenticate: Option<String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as a JSON object, or an error naming the endpoint. The body itself never appears
    /// in the error: it may hold tokens.
    pub fn json_object(
        &self,
        endpoint: &'static str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, ProviderError> {
        match serde_json::from_slice::<serde_json::Value>(&self.body) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            Ok(_) => Err(invalid(endpoint, "the body is JSON but not an object")),
            Err(_) => Err(invalid(endpoint, "the body is not JSON")),
        }
    }

    /// Whether the content type is `application/json` (parameters ignored) or absent.
    pub fn is_json(&self) -> bool {
        self.content_type.as_deref().is_none_or(|ct| {
            let media = ct.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/json")
                || (media.starts_with("application/") && media.ends_with("+json"))
        })
    }
}

pub(crate) fn invalid(endpoint: &'static str, reason: impl Into<String>) -> ProviderError {
    ProviderError::InvalidResponse {
        endpoint,
        reason: reason.into(),
    }
}

/// How calls to one provider connect, read from the configuration at ignite (its files
/// loaded): the provider's settings where it has them, else the global ones.
pub(crate) struct Connection {
    roots: Vec<reqwest::Certificate>,
    system_roots: bool,
    identity: Option<reqwest::Identity>,
    proxy: Option<String>,
}

impl Connection {
    /// The connection settings of provider `name`; a file that cannot be read or holds no
    /// usable PEM is an error naming the key and the file.
    pub fn of(config: &OidcConfig, name: &str, provider: &ProviderConfig) -> Result<Self, String> {
        let key = format!("oidc.providers.{name}");
        let (roots_key, files) = match &provider.ca_certificates {
            Some(files) => (format!("{key}.ca_certificates"), files.as_slice()),
            None => (
                "oidc.ca_certificates".to_owned(),
                config.ca_certificates.as_slice(),
            ),
        };
        let mut roots = Vec::new();
        for file in files {
            roots.extend(load_roots(&roots_key, file)?);
        }
        let identity = match (&provider.tls_client_certificate, &provider.tls_client_key) {
            (Some(certificate), Some(private_key)) => {
                Some(load_identity(&key, certificate, private_key)?)
            }
            _ => None,
        };
        Ok(Connection {
            roots,
            system_roots: provider.use_system_roots.unwrap_or(config.use_system_roots),
            identity,
            proxy: provider
                .http_proxy
                .clone()
                .or_else(|| config.http_proxy.clone()),
        })
    }
}

fn read(key: &str, file: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(file).map_err(|e| format!("{key}: cannot read `{}`: {e}", file.display()))
}

/// The certificates of a PEM file (one or several).
fn load_roots(key: &str, file: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem = read(key, file)?;
    let roots = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| format!("{key}: `{}` is not a PEM certificate file", file.display()))?;
    if roots.is_empty() {
        return Err(format!(
            "{key}: `{}` holds no PEM certificate",
            file.display()
        ));
    }
    Ok(roots)
}

/// A client certificate (with its chain) and its private key.
fn load_identity(
    key: &str,
    certificate: &Path,
    private_key: &Path,
) -> Result<reqwest::Identity, String> {
    let mut pem = read(&format!("{key}.tls_client_certificate"), certificate)?;
    pem.push(b'\n');
    pem.extend(read(&format!("{key}.tls_client_key"), private_key)?);
    reqwest::Identity::from_pem(&pem).map_err(|_| {
        format!(
            "{key}.tls_client_certificate, {key}.tls_client_key: `{}` and `{}` are not a PEM \
             certificate and its private key (PKCS#8, PKCS#1 or SEC1)",
            certificate.display(),
            private_key.display()
        )
    })
}

/// The client of one provider.
#[derive(Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
    /// The provider's name, for log lines and errors.
    provider: String,
}

impl HttpClient {
    /// The client of `provider`, connecting as `connection` says.
    pub fn new(provider: &str, timeout: Duration, connection: Connection) -> Result<Self, String> {
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rocket_openidconnect/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .tls_built_in_root_certs(connection.system_roots);
        for root in connection.roots {
            builder = builder.add_root_certificate(root);
        }
        if let Some(identity) = connection.identity {
            builder = builder.identity(identity);
        }
        // A configured proxy replaces the environment's (which reqwest reads otherwise);
        // `NO_PROXY` applies to both.
        if let Some(proxy) = &connection.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str())
                .map_err(|_| format!("oidc.providers.{provider}.http_proxy: not a proxy URL"))?
                .no_proxy(reqwest::NoProxy::from_env());
            builder = builder.proxy(proxy);
        }
        let inner = builder.build().map_err(|e| {
            format!(
                "oidc.providers.{provider}: cannot build its HTTP client: {}",
                for_log(&error_chain(&e), 300)
            )
        })?;
        Ok(HttpClient {
            inner,
            provider: provider.to_owned(),
        })
    }

    /// The underlying client (its TLS settings, proxy, timeouts; no redirects), for the
    /// application's own calls to the provider.
    pub fn reqwest(&self) -> &reqwest::Client {
        &self.inner
    }

    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.inner.get(url).header(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        )
    }

    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.inner.post(url).header(
            reqwest::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        )
    }

    /// Sends `request` and reads the whole body (at most [`MAX_BODY`] bytes). Counted and
    /// timed in the metrics by endpoint and outcome.
    pub async fn send(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpResponse, ProviderError> {
        let started = std::time::Instant::now();
        let result = self.send_untimed(endpoint, request).await;
        let outcome = match &result {
            Ok(response) if (200..300).contains(&response.status) => "success",
            Ok(_) => "http_error",
            Err(ProviderError::Tls { .. }) => "tls_error",
            Err(e) if e.is_unreachable() => "unreachable",
            Err(_) => "invalid_response",
        };
        metrics::provider_request(
            &self.provider,
            endpoint,
            outcome,
            started.elapsed().as_secs_f64(),
        );
        result
    }

    async fn send_untimed(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpResponse, ProviderError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| self.failure(endpoint, &e))?;
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let www_authenticate = header("www-authenticate");
        // NQCHAR (RFC 9449 8): printable ASCII without `"` and `\\`.
        let dpop_nonce = header("dpop-nonce").filter(|n| {
            !n.is_empty()
                && n.len() <= 512
                && n.bytes()
                    .all(|b| (0x21..=0x7e).contains(&b) && b != b'"' && b != b'\\')
        });
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY as u64)
        {
            return Err(invalid(endpoint, "the body is too large"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| self.failure(endpoint, &e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(invalid(endpoint, "the body is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            dpop_nonce,
            www_authenticate,
            body,
        })
    }

    /// Maps a transport error without its text (reqwest's messages contain the URL). A TLS
    /// failure says what was wrong with the certificate, and is logged at once with the
    /// provider's name: it is a configuration problem, not an outage.
    fn failure(&self, endpoint: &'static str, e: &reqwest::Error) -> ProviderError {
        if let Some(reason) = find_rustls(e).map(describe_tls) {
            log::error!(
                "OpenID Connect: provider `{}`: TLS failure at the {endpoint}: {reason}",
                self.provider
            );
            return ProviderError::Tls {
                provider: self.provider.clone(),
                endpoint,
                reason,
            };
        }
        let reason = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "connection failed"
        } else if e.is_body() || e.is_decode() {
            "the response body could not be read"
        } else {
            "the request failed"
        };
        ProviderError::Unreachable {
            endpoint,
            reason: reason.into(),
        }
    }
}

/// The rustls error under a transport error, if any: `std::io::Error::source` skips the error
/// it wraps, so each io::Error is looked into with `get_ref`.
fn find_rustls<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(inner) = e
            .downcast_ref::<std::io::Error>()
            .and_then(std::io::Error::get_ref)
        {
            let inner: &(dyn std::error::Error + 'static) = inner;
            if let Some(tls) = find_rustls(inner) {
                return Some(tls);
            }
        }
        current = e.source();
    }
    None
}

/// What a rustls error means for an operator.
fn describe_tls(error: &rustls::Error) -> String {
    use rustls::CertificateError as C;
    match error {
        rustls::Error::InvalidCertificate(certificate) => match certificate {
            C::UnknownIssuer => "the provider's certificate is not trusted (unknown issuer: \
                                 configure its CA in ca_certificates)"
                .into(),
            C::Expired | C::ExpiredContext { .. } => {
                "the provider's certificate has expired".into()
            }
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "the provider's certificate is not valid yet".into()
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "the provider's certificate is for another host name".into()
            }
            C::Revoked => "the provider's certificate is revoked".into(),
            other => format!(
                "the provider's certificate is refused: {}",
                for_log(&format!("{other:?}"), 120)
            ),
        },
        rustls::Error::AlertReceived(alert) => format!(
            "the provider refused the TLS handshake ({}): a client certificate may be required",
            for_log(&format!("{alert:?}"), 60)
        ),
        rustls::Error::NoCertificatesPresented => "the provider presented no certificate".into(),
        other => for_log(&other.to_string(), 160),
    }
}

/// The messages of an error and its sources, for a configuration error.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}
