//! Many server-side sessions without as many logins (features `testing` and `redis`): for
//! benchmarks and tests that need a large session store.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use crate::error::StoreError;
use crate::session::model::UserSession;
use crate::session::redis::RedisStore;
use crate::session::server::ServerSessions;
use crate::util::clock::unix_now;

/// Writes sessions into Redis the way an application with the same `secret_key` keeps them
/// (`session_store = "redis"`), through the library's own session store, and gives the
/// cookie each one's browser would send.
///
/// # Example
///
/// ```no_run
/// use rocket_openidconnect::testing::{SessionSeeder, TestProvider};
///
/// # rocket::async_test(async {
/// let provider = TestProvider::start().await;
/// let secret_key = "GIlLiBWeDA0JCRqy4gbyD+4fjB5Eq9ajakg69W7Op5/2/vFVwVadLP/2h4L3CNxAHNqv1Qs6+QL2lWQakz/jQw==";
/// let seeder = SessionSeeder::redis("redis://127.0.0.1:6379/", secret_key).unwrap();
/// let session = provider.session_for("default", "alice");
/// let cookie = seeder.insert(&session).await.unwrap();
/// assert!(cookie.starts_with("oidc_session.id="));
/// # });
/// ```
pub struct SessionSeeder {
    sessions: ServerSessions,
    cookie_key: cookie::Key,
    cookie_name: String,
}

impl SessionSeeder {
    /// Sessions in the Redis at `url`, sealed for an application whose Rocket `secret_key` is
    /// `secret_key` (base64, as in `Rocket.toml`), with the default cookie name over plain
    /// http (`oidc_session.id`).
    pub fn redis(url: &str, secret_key: &str) -> Result<Self, String> {
        let store = RedisStore::new(url, std::time::Duration::from_secs(5))?;
        let bytes = STANDARD
            .decode(secret_key)
            .map_err(|_| "secret_key: not base64".to_owned())?;
        Ok(SessionSeeder {
            sessions: ServerSessions::new(Arc::new(store), secret_key.as_bytes(), &[], None),
            cookie_key: crate::web::cookies::cookie_key(&bytes),
            cookie_name: "oidc_session.id".to_owned(),
        })
    }

    /// Stores `session` under a new id; returns the `Cookie` header (`name=value`) that
    /// carries it.
    pub async fn insert(&self, session: &UserSession) -> Result<String, StoreError> {
        let id = self.sessions.write(None, session).await?;
        let mut jar = cookie::CookieJar::new();
        jar.private_mut(&self.cookie_key)
            .add(cookie::Cookie::new(self.cookie_name.clone(), id));
        let sealed = jar
            .get(&self.cookie_name)
            .map(|c| c.value().to_owned())
            .unwrap_or_default();
        Ok(format!("{}={sealed}", self.cookie_name))
    }

    /// How many sessions the user `subject` of `issuer` and `client_id` has (the listing
    /// behind [`OidcSessions`](crate::OidcSessions)).
    pub async fn count_of_user(
        &self,
        issuer: &str,
        client_id: &str,
        subject: &str,
    ) -> Result<usize, StoreError> {
        let found = self
            .sessions
            .of_user(issuer, client_id, subject, unix_now())
            .await?;
        Ok(found.len())
    }
}
