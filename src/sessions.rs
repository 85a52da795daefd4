//! Where a user's session lives: in its cookies (`session_store = "cookie"`, the default), or
//! on the server (`"memory"`, `"redis"`) with only a random id in the cookie. Every part of the
//! crate reads and writes sessions through [`Sessions`].
//!
//! On the server a session is stored under the SHA-256 of its id (so the store never holds a
//! usable id), encrypted with AES-256-GCM under a key derived from Rocket's `secret_key` (HKDF
//! SHA-256; the store key is the associated data, so an entry cannot be moved to another id),
//! until it expires: its absolute end, or its idle end with an inactivity timeout (sliding).
//! Each user's sessions are indexed, so that an application can list and end them.

use std::sync::Arc;

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use rand::RngCore;
use rocket::http::CookieJar;
use sha2::Sha256;

use crate::cookies::CookieSettings;
use crate::error::StoreError;
use crate::flow::random_token;
use crate::session::UserSession;
use crate::store::{key, Store};

/// The sessions, in cookies or on the server.
pub(crate) struct Sessions {
    pub cookies: Arc<CookieSettings>,
    server: Option<ServerSessions>,
}

/// Sessions kept in a store.
struct ServerSessions {
    store: Arc<dyn Store>,
    cipher: Aes256Gcm,
    inactivity: Option<i64>,
}

/// What an application sees of a session kept on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// An opaque handle of the session (not its cookie value: it cannot be used to log in).
    pub id: String,
    /// The provider it was started with.
    pub provider: String,
    /// When it started (Unix time).
    pub started_at: i64,
    /// When it was last used (Unix time, to the minute), as recorded for the inactivity timeout;
    /// without one, the time of its login.
    pub last_seen: i64,
    /// When it ends at the latest (Unix time).
    pub expires_at: i64,
}

impl Sessions {
    /// Sessions in cookies.
    pub fn in_cookies(cookies: Arc<CookieSettings>) -> Self {
        Sessions {
            cookies,
            server: None,
        }
    }

    /// Sessions in `store`, encrypted with a key derived from `secret` (Rocket's secret key).
    pub fn on_server(
        cookies: Arc<CookieSettings>,
        store: Arc<dyn Store>,
        secret: &[u8],
        inactivity: Option<u64>,
    ) -> Self {
        let mut key = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, secret)
            .expand(b"rocket_openidconnect session store v1", &mut key)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Sessions {
            cookies,
            server: Some(ServerSessions {
                store,
                cipher: Aes256Gcm::new(&key.into()),
                inactivity: inactivity.map(|t| t as i64),
            }),
        }
    }

    /// The session of this request, if any (intact, not expired).
    pub async fn read(
        &self,
        jar: &CookieJar<'_>,
        now: i64,
    ) -> Result<Option<Arc<UserSession>>, StoreError> {
        let Some(server) = &self.server else {
            return Ok(self.cookies.read_shared_session(jar, now));
        };
        let Some(id) = self.cookies.read_session_id(jar) else {
            return Ok(None);
        };
        let entry = entry_key(&id);
        let Some(blob) = server
            .store
            .get_many(std::slice::from_ref(&entry))
            .await?
            .remove(0)
        else {
            return Ok(None);
        };
        let session = server
            .open(&entry, &blob)
            .and_then(|json| String::from_utf8(json).ok())
            .and_then(|json| UserSession::from_json(&json));
        Ok(session.filter(|s| !s.is_expired(now)).map(Arc::new))
    }

    /// Stores `session`: as a new session (a new id: a login), or in place of the current one.
    /// `Ok(false)` if it does not fit in its cookies.
    pub async fn write(
        &self,
        jar: &CookieJar<'_>,
        session: &UserSession,
        new: bool,
    ) -> Result<bool, StoreError> {
        let Some(server) = &self.server else {
            return Ok(self.cookies.write_session(jar, session));
        };
        let id = match self.cookies.read_session_id(jar) {
            Some(id) if !new => id,
            _ => random_token(),
        };
        let entry = entry_key(&id);
        let mut until = session.expires_at();
        if let Some(timeout) = server.inactivity {
            until = until.min(session.last_seen().saturating_add(timeout));
        }
        let blob = server.seal(&entry, session.to_json().as_bytes());
        server.store.put(&entry, &blob, until).await?;
        let index = user_index(
            session.issuer(),
            session.client_id(),
            session.claims().subject(),
        );
        server
            .store
            .add_member(&index, &entry, session.expires_at())
            .await?;
        self.cookies
            .write_session_id(jar, &id, session.expires_at());
        Ok(true)
    }

    /// Ends this request's session: its cookies, and its entry on the server.
    /// The cookies go even when the store fails (the error is returned after).
    pub async fn remove(&self, jar: &CookieJar<'_>) -> Result<(), StoreError> {
        let id = self.cookies.read_session_id(jar);
        self.cookies.remove_session(jar);
        match (&self.server, id) {
            (Some(server), Some(id)) => server.store.delete(&entry_key(&id)).await,
            _ => Ok(()),
        }
    }

    /// The sessions of a user kept on the server; `None` with sessions in cookies.
    pub async fn of_user(
        &self,
        issuer: &str,
        client_id: &str,
        subject: &str,
        now: i64,
    ) -> Result<Option<Vec<(SessionInfo, Arc<UserSession>)>>, StoreError> {
        let Some(server) = &self.server else {
            return Ok(None);
        };
        let index = user_index(issuer, client_id, subject);
        let entries = server.store.members(&index).await?;
        let blobs = server.store.get_many(&entries).await?;
        let mut found = Vec::new();
        for (entry, blob) in entries.into_iter().zip(blobs) {
            let session = blob
                .and_then(|blob| server.open(&entry, &blob))
                .and_then(|json| String::from_utf8(json).ok())
                .and_then(|json| UserSession::from_json(&json))
                .filter(|s| !s.is_expired(now));
            match session {
                Some(session) => {
                    let info = SessionInfo {
                        id: entry.trim_start_matches("session:").to_owned(),
                        provider: session.provider().to_owned(),
                        started_at: session.started_at(),
                        last_seen: session.last_seen(),
                        expires_at: session.expires_at(),
                    };
                    found.push((info, Arc::new(session)));
                }
                // Gone (expired, ended): drop it from the index.
                None => server.store.remove_member(&index, &entry).await?,
            }
        }
        Ok(Some(found))
    }

    /// Removes the server entry of the session with the handle `id` (see [`SessionInfo`]).
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        match &self.server {
            Some(server) => server.store.delete(&format!("session:{id}")).await,
            None => Ok(()),
        }
    }
}

/// The store key of the session whose cookie holds `id`.
fn entry_key(id: &str) -> String {
    key("session", &[id])
}

/// The store key of the set of a user's sessions.
fn user_index(issuer: &str, client_id: &str, subject: &str) -> String {
    key("user-sessions", &[issuer, client_id, subject])
}

impl ServerSessions {
    /// A random nonce, then the ciphertext of `plaintext` bound to `entry`.
    fn seal(&self, entry: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: entry.as_bytes(),
        };
        let sealed = self
            .cipher
            .encrypt(&Nonce::from(nonce), payload)
            .expect("AES-GCM encryption of a session cannot fail");
        [nonce.as_slice(), &sealed].concat()
    }

    /// The plaintext of a blob written by [`seal`](Self::seal) for `entry`, if authentic.
    fn open(&self, entry: &str, blob: &[u8]) -> Option<Vec<u8>> {
        if blob.len() < 12 {
            return None;
        }
        let (nonce, sealed) = blob.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().ok()?;
        let payload = Payload {
            msg: sealed,
            aad: entry.as_bytes(),
        };
        self.cipher.decrypt(&Nonce::from(nonce), payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> crate::OidcConfig {
        use rocket::figment::providers::{Format, Toml};
        let toml = r#"
            [oidc.providers.default]
            issuer = "https://op.example"
            client_id = "client"
            client_secret = "secret"
        "#;
        crate::OidcConfig::from_figment(&rocket::figment::Figment::from(Toml::string(toml)))
            .expect("a valid configuration")
    }

    fn server(secret: &[u8]) -> ServerSessions {
        let sessions = Sessions::on_server(
            Arc::new(CookieSettings::new(&config(), false, false)),
            Arc::new(crate::store::MemoryStore::default()),
            secret,
            None,
        );
        sessions.server.unwrap()
    }

    #[test]
    fn sealed_sessions_open_only_under_their_key_and_entry() {
        let a = server(b"secret-a");
        let blob = a.seal("session:1", b"data");
        assert_eq!(a.open("session:1", &blob).as_deref(), Some(&b"data"[..]));
        assert_eq!(a.open("session:2", &blob), None, "moved to another entry");
        assert_eq!(
            server(b"secret-b").open("session:1", &blob),
            None,
            "another key"
        );
        let mut flipped = blob.clone();
        flipped[20] ^= 1;
        assert_eq!(a.open("session:1", &flipped), None, "tampered");
        assert_eq!(a.open("session:1", &blob[..5]), None, "truncated");
        assert_ne!(
            a.seal("session:1", b"data"),
            blob,
            "a fresh nonce each time"
        );
    }
}
