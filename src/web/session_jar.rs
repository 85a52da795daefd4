//! A request's session, read from and written to its cookie jar: in the cookies themselves
//! (`session_store = "cookie"`, the default), or on the server (`"memory"`, `"redis"`) with
//! only a random id in the cookie. Every part of the edge reads and writes sessions here.

use std::sync::Arc;

use rocket::http::CookieJar;

use crate::error::StoreError;
use crate::session::model::UserSession;
use crate::session::server::{ServerSessions, SessionInfo};
use crate::web::cookies::CookieSettings;

/// The sessions, in cookies or on the server.
pub(crate) struct SessionJar {
    pub cookies: Arc<CookieSettings>,
    server: Option<ServerSessions>,
}

impl SessionJar {
    /// Sessions in cookies (`server` is `None`) or on the server.
    pub fn new(cookies: Arc<CookieSettings>, server: Option<ServerSessions>) -> Self {
        SessionJar { cookies, server }
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
        let Some((id, current)) = self.cookies.read_sealed_session_id(jar) else {
            return Ok(None);
        };
        let session = server.read(&id, now).await?;
        if let (Some(session), false) = (&session, current) {
            // Sealed under a previous secret key: seal it under the current one.
            self.cookies
                .write_session_id(jar, &id, session.expires_at());
        }
        Ok(session)
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
        let current = if new {
            None
        } else {
            self.cookies.read_session_id(jar)
        };
        let id = server.write(current, session).await?;
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
            (Some(server), Some(id)) => server.remove(&id).await,
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
        match &self.server {
            Some(server) => Ok(Some(server.of_user(issuer, client_id, subject, now).await?)),
            None => Ok(None),
        }
    }

    /// Removes the server entry of the session with the handle `id` (see [`SessionInfo`]).
    pub async fn delete(&self, id: &str) -> Result<(), StoreError> {
        match &self.server {
            Some(server) => server.delete(id).await,
            None => Ok(()),
        }
    }
}
