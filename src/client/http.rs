//! The one HTTP client shared by all calls to providers: connection pooling, a timeout on every
//! call, no redirects (a provider's 3xx is an error, never followed with our credentials), and a
//! bound on the size of every response body.

use std::time::Duration;

use reqwest::header::{HeaderValue, CONTENT_TYPE};

use crate::error::ProviderError;

/// Largest response body accepted from a provider (discovery, key set, token, userinfo).
pub(crate) const MAX_BODY: usize = 256 * 1024;

/// A response read in full (within [`MAX_BODY`]).
pub(crate) struct HttpResponse {
    pub status: u16,
    pub content_type: Option<String>,
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

/// The shared client.
#[derive(Clone)]
pub(crate) struct HttpClient {
    inner: reqwest::Client,
}

impl HttpClient {
    pub fn new(timeout: Duration) -> Result<Self, String> {
        let inner = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("rocket_openidconnect/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(HttpClient { inner })
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

    /// Sends `request` and reads the whole body (at most [`MAX_BODY`] bytes).
    pub async fn send(
        &self,
        endpoint: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<HttpResponse, ProviderError> {
        let mut response = request
            .send()
            .await
            .map_err(|e| unreachable(endpoint, &e))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
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
            .map_err(|e| unreachable(endpoint, &e))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(invalid(endpoint, "the body is too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(HttpResponse {
            status,
            content_type,
            body,
        })
    }
}

/// Maps a transport error without its text: reqwest's messages contain the URL.
fn unreachable(endpoint: &'static str, e: &reqwest::Error) -> ProviderError {
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
