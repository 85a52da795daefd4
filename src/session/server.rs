//! Sessions kept on the server (`session_store = "memory"` or `"redis"`): the browser holds
//! only a random id. A session is stored under the SHA-256 of its id (so the store never holds
//! a usable id), sealed ([`seal`](crate::session::seal)), until it expires: its absolute end,
//! or its idle end with an inactivity timeout (sliding). Each user's sessions are indexed, so
//! that an application can list and end them.

use std::sync::Arc;

use crate::error::StoreError;
use crate::session::model::UserSession;
use crate::session::seal::SessionCipher;
use crate::session::store::{key, Store};
use crate::util::random::random_token;

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

/// Sessions in a store, by the id their cookie holds.
pub(crate) struct ServerSessions {
    store: Arc<dyn Store>,
    cipher: SessionCipher,
    /// Ciphers of older secret keys (`previous_secret_keys`): they only open.
    previous: Vec<SessionCipher>,
    inactivity: Option<i64>,
    /// Sessions already opened, by store key, with the sealed bytes they were opened from: a
    /// read that finds the same bytes (compared in full) reuses the session instead of
    /// decrypting and parsing it again.
    opened: quick_cache::sync::Cache<String, Opened>,
}

/// A session opened from sealed bytes, and whether under the current key.
type Opened = (Arc<Vec<u8>>, Arc<UserSession>, bool);

/// At most this many opened sessions are kept per process.
const OPENED_CAPACITY: usize = 10_000;

impl ServerSessions {
    /// Sessions in `store`, sealed under a key derived from `secret` (and opened also under
    /// the `previous` secrets); with an inactivity timeout, an entry ends at its idle end.
    pub fn new(
        store: Arc<dyn Store>,
        secret: &[u8],
        previous: &[&[u8]],
        inactivity: Option<u64>,
    ) -> Self {
        ServerSessions {
            store,
            cipher: SessionCipher::new(secret),
            previous: previous.iter().map(|s| SessionCipher::new(s)).collect(),
            inactivity: inactivity.map(|t| t as i64),
            opened: quick_cache::sync::Cache::new(OPENED_CAPACITY),
        }
    }

    /// The session whose cookie holds `id`, if it is there, authentic and not expired. One
    /// sealed under a previous secret key is sealed again under the current one.
    pub async fn read(&self, id: &str, now: i64) -> Result<Option<Arc<UserSession>>, StoreError> {
        let entry = entry_key(id);
        let Some(blob) = self
            .store
            .get_many(std::slice::from_ref(&entry))
            .await?
            .remove(0)
        else {
            return Ok(None);
        };
        let known = self
            .opened
            .get(&entry)
            .filter(|(sealed, _, _)| sealed.as_slice() == blob.as_slice());
        let (session, current) = match known {
            Some((_, session, current)) => (session, current),
            None => {
                let Some((session, current)) = self.open_any(&entry, &blob) else {
                    return Ok(None);
                };
                let session = Arc::new(session);
                self.opened
                    .insert(entry.clone(), (Arc::new(blob), session.clone(), current));
                (session, current)
            }
        };
        if session.is_expired(now) {
            return Ok(None);
        }
        if !current {
            self.write(Some(id.to_owned()), &session).await?;
        }
        Ok(Some(session))
    }

    /// Stores `session` under `id` (the current session's, or `None` for a new id: a login).
    /// Returns the id the cookie must hold.
    pub async fn write(
        &self,
        id: Option<String>,
        session: &UserSession,
    ) -> Result<String, StoreError> {
        let id = id.unwrap_or_else(random_token);
        let entry = entry_key(&id);
        let mut until = session.expires_at();
        if let Some(timeout) = self.inactivity {
            until = until.min(session.last_seen().saturating_add(timeout));
        }
        let blob = self.cipher.seal(&entry, session.to_json().as_bytes());
        self.store.put(&entry, &blob, until).await?;
        let index = user_index(
            session.issuer(),
            session.client_id(),
            session.claims().subject(),
        );
        self.store
            .add_member(&index, &entry, session.expires_at())
            .await?;
        Ok(id)
    }

    /// Removes the session whose cookie holds `id`.
    pub async fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.store.delete(&entry_key(id)).await
    }

    /// The sessions of a user, with their handles, oldest first; entries that are gone leave
    /// the index.
    pub async fn of_user(
        &self,
        issuer: &str,
        client_id: &str,
        subject: &str,
        now: i64,
    ) -> Result<Vec<(SessionInfo, Arc<UserSession>)>, StoreError> {
        let index = user_index(issuer, client_id, subject);
        let entries = self.store.members(&index).await?;
        let blobs = self.store.get_many(&entries).await?;
        let mut found = Vec::new();
        for (entry, blob) in entries.into_iter().zip(blobs) {
            let session = blob
                .and_then(|blob| self.open(&entry, &blob))
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
                None => self.store.remove_member(&index, &entry).await?,
            }
        }
        found.sort_by(|(a, _), (b, _)| (a.started_at, &a.id).cmp(&(b.started_at, &b.id)));
        Ok(found)
    }

    /// Removes the entry of the session with the handle `handle` (see [`SessionInfo`]).
    pub async fn delete(&self, handle: &str) -> Result<(), StoreError> {
        self.store.delete(&format!("session:{handle}")).await
    }

    fn open(&self, entry: &str, blob: &[u8]) -> Option<UserSession> {
        self.open_any(entry, blob).map(|(session, _)| session)
    }

    /// The session in `blob` and whether it was sealed under the current key (else under a
    /// previous one).
    fn open_any(&self, entry: &str, blob: &[u8]) -> Option<(UserSession, bool)> {
        let (json, current) = match self.cipher.open(entry, blob) {
            Some(json) => (json, true),
            None => (
                self.previous.iter().find_map(|c| c.open(entry, blob))?,
                false,
            ),
        };
        let session = UserSession::from_json(std::str::from_utf8(&json).ok()?)?;
        Some((session, current))
    }
}

/// The store key of the session whose cookie holds `id`.
fn entry_key(id: &str) -> String {
    key("session", &[id])
}

/// The store key of the set of a user's sessions, each member until its session's expiry.
/// (Earlier builds kept a set without member expiry under `user-sessions`; the new name keeps
/// Redis from answering `WRONGTYPE` for those, which expire by themselves.)
fn user_index(issuer: &str, client_id: &str, subject: &str) -> String {
    key("sessions-of-user", &[issuer, client_id, subject])
}
