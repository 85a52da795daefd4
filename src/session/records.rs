//! One-time records, kept in the [`Store`]: `state` and `nonce` values already used (a
//! replayed callback never creates a second session, even if the provider accepts a code
//! twice), logout tokens already used, and sessions that have ended (by a logout of this
//! application, or of the provider: back-channel and front-channel logout), so that a copy of
//! their cookie is no session any more.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::StoreError;
use crate::session::model::UserSession;
use crate::session::store::{key, Store};

/// What identifies the sessions a logout ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndedBy {
    /// One session of this application (its own random id).
    Session,
    /// Every session of a user (`sub`) at a provider.
    Subject,
    /// Every session that came from one session at the provider (its `sid` claim).
    ProviderSession,
}

impl EndedBy {
    fn kind(self) -> &'static str {
        match self {
            EndedBy::Session => "ended-session",
            EndedBy::Subject => "ended-sub",
            EndedBy::ProviderSession => "ended-sid",
        }
    }
}

/// The client whose sessions a record is about: the provider's issuer and the client id (so
/// that two applications sharing one Redis never end each other's sessions).
pub(crate) type Client<'a> = (&'a str, &'a str);

/// The records, over stores: one for one-time values, one for ended sessions (in memory two
/// separate ones, so that a flood of one kind, such as front-channel logouts with made-up
/// session ids, can never push the other out).
pub(crate) struct Records {
    once: Arc<dyn Store>,
    ended: Arc<dyn Store>,
    /// Whether the store is this process's own and nothing has ended yet: then no session can
    /// have ended, and the check on every request costs nothing.
    local_and_empty: AtomicBool,
}

impl Records {
    pub fn new(once: Arc<dyn Store>, ended: Arc<dyn Store>, local: bool) -> Self {
        Records {
            once,
            ended,
            local_and_empty: AtomicBool::new(local),
        }
    }

    /// Records `value` (of `kind`) as used until `until`; `false` if it was used already.
    pub async fn first_use(&self, kind: &str, value: &str, until: i64) -> Result<bool, StoreError> {
        self.once.insert_new(&key(kind, &[value]), b"", until).await
    }

    /// Forgets that `value` was used (after the action it guarded failed, so that a retry
    /// with the same value can succeed).
    pub async fn forget_use(&self, kind: &str, value: &str) -> Result<(), StoreError> {
        self.once.delete(&key(kind, &[value])).await
    }

    /// Remembers that a session of `client` came from the provider session `sid`, until
    /// `until`: front-channel logouts, which anybody can send, are only taken for such sids.
    pub async fn remember_provider_sid(
        &self,
        client: Client<'_>,
        sid: &str,
        until: i64,
    ) -> Result<(), StoreError> {
        let key = key("known-sid", &[client.0, client.1, sid]);
        self.once.put(&key, b"", until).await
    }

    /// Whether a session of `client` came from the provider session `sid`.
    pub async fn knows_provider_sid(
        &self,
        client: Client<'_>,
        sid: &str,
    ) -> Result<bool, StoreError> {
        let key = key("known-sid", &[client.0, client.1, sid]);
        Ok(self.once.get_many(&[key]).await?.remove(0).is_some())
    }

    /// Records that the sessions of `client` identified by `value` that started at or before
    /// `at` have ended; kept until `until` (when they would have expired anyway).
    pub async fn end(
        &self,
        client: Client<'_>,
        by: EndedBy,
        value: &str,
        at: i64,
        until: i64,
    ) -> Result<(), StoreError> {
        self.local_and_empty.store(false, Ordering::Release);
        let key = key(by.kind(), &[client.0, client.1, value]);
        self.ended.put(&key, at.to_string().as_bytes(), until).await
    }

    /// Whether `session` has ended: by its own id, its user or its provider session.
    pub async fn is_ended(&self, session: &UserSession) -> Result<bool, StoreError> {
        if self.local_and_empty.load(Ordering::Acquire) {
            return Ok(false);
        }
        let keys = session.record_keys(|session| {
            let (issuer, client) = (session.issuer(), session.client_id());
            let subject = session.claims().subject();
            let mut keys = vec![
                key(EndedBy::Session.kind(), &[issuer, client, session.sid()]),
                key(EndedBy::Subject.kind(), &[issuer, client, subject]),
            ];
            if let Some(sid) = session.provider_sid() {
                keys.push(key(EndedBy::ProviderSession.kind(), &[issuer, client, sid]));
            }
            keys
        });
        let started = session.started_at();
        let ends = self.ended.get_many(keys).await?;
        Ok(ends.into_iter().flatten().any(|at| {
            std::str::from_utf8(&at)
                .ok()
                .and_then(|at| at.parse::<i64>().ok())
                .is_some_and(|at| at >= started)
        }))
    }
}
