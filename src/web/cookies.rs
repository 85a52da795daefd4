//! The cookies the library sets: the session (in encrypted chunks) and one short-lived
//! encrypted cookie per pending login. All are `HttpOnly`, `SameSite=Lax` (set explicitly:
//! Rocket's default `Strict` is not sent on the way back from the provider), `Path=/`, and
//! `Secure` with the `__Host-` prefix when the application is served over https.

use std::cell::Cell;
use std::sync::Arc;

use rocket::http::{Cookie, CookieJar, SameSite};
use rocket::time::{Duration, OffsetDateTime};

use crate::config::OidcConfig;
use crate::protocol::response::ResponseMode;
use crate::session::chunks::{decode_chunks, encode_chunks, MAX_CHUNKS};
use crate::session::model::UserSession;
use crate::session::pending::{PendingLogin, PendingLogout};
use crate::util::metrics;
use crate::util::random::is_well_formed_token;
use crate::util::secret_key::decode_secret_key;

/// At most this many logins may be pending at once in one browser; the oldest is dropped.
pub(crate) const MAX_PENDING: usize = 3;

/// Cookie names and attributes, fixed at ignite.
pub(crate) struct CookieSettings {
    session_name: String,
    pending_prefix: String,
    secure: bool,
    /// Browsers accept `Secure` cookies from the application (https or loopback).
    secure_context: bool,
    permanent: bool,
    login_timeout: i64,
    decoded: DecodedSessions,
    /// The cookie keys of `previous_secret_keys`: cookies sealed under them are still read.
    previous: Vec<cookie::Key>,
}

/// Sessions recently decoded from their cookies, so that the next request with the very same
/// cookies skips base64, AES-GCM and JSON (most of the guard's cost). An entry is found by the
/// chunks' authentication tags and used only if every chunk is byte for byte the one that was
/// decrypted and authenticated: a different cookie can never hit another's entry. Expiry,
/// logout and inactivity are still checked on every request, by the guard.
///
/// Bounded by weight ([`DECODED_BUDGET`] bytes, about twice the cookie bytes per entry: the
/// chunks kept for the comparison and the decoded session); when full, entries leave one by
/// one (S3-FIFO, `quick_cache`), never all at once.
struct DecodedSessions(quick_cache::sync::Cache<Vec<u8>, Arc<DecodedEntry>, EntryWeight>);

/// The chunks as received (still encrypted) and the session they decode to; `stale` when
/// they were sealed under a previous secret key.
struct DecodedEntry {
    chunks: Vec<String>,
    session: Arc<UserSession>,
    stale: bool,
}

/// The memory an entry holds, roughly: its chunks, and a decoded session of about their size.
#[derive(Clone)]
struct EntryWeight;

impl quick_cache::Weighter<Vec<u8>, Arc<DecodedEntry>> for EntryWeight {
    fn weight(&self, key: &Vec<u8>, entry: &Arc<DecodedEntry>) -> u64 {
        let chunks: usize = entry.chunks.iter().map(String::len).sum();
        (key.len() + 2 * chunks + 256) as u64
    }
}

/// The memory the decoded sessions may take (64 MiB: about 6,500 sessions of 4.9 KB of
/// cookies).
const DECODED_BUDGET: u64 = 64 * 1024 * 1024;

impl Default for DecodedSessions {
    fn default() -> Self {
        DecodedSessions(quick_cache::sync::Cache::with_weighter(
            8_192,
            DECODED_BUDGET,
            EntryWeight,
        ))
    }
}

impl DecodedSessions {
    /// The lookup key: the last bytes (the GCM tag) of each chunk. Bytes, not characters: a
    /// cookie value may hold any (percent-decoded) text, and a cut inside a character would
    /// panic.
    fn key(raw: &[&str]) -> Vec<u8> {
        let mut key = Vec::with_capacity(raw.len() * 25);
        for value in raw {
            let bytes = value.as_bytes();
            key.extend_from_slice(&bytes[bytes.len().saturating_sub(24)..]);
            key.push(b'|');
        }
        key
    }

    fn get(&self, raw: &[&str]) -> Option<(Arc<UserSession>, bool)> {
        let entry = self.0.get(&Self::key(raw))?;
        let same =
            entry.chunks.len() == raw.len() && entry.chunks.iter().zip(raw).all(|(a, b)| a == b);
        same.then(|| (entry.session.clone(), entry.stale))
    }

    fn insert(&self, raw: &[&str], session: Arc<UserSession>, stale: bool) {
        let chunks = raw.iter().map(|v| (*v).to_owned()).collect();
        let entry = DecodedEntry {
            chunks,
            session,
            stale,
        };
        self.0.insert(Self::key(raw), Arc::new(entry));
    }
}

impl CookieSettings {
    pub fn new(config: &OidcConfig, secure: bool, secure_context: bool) -> Self {
        let prefix = if secure { "__Host-" } else { "" };
        CookieSettings {
            session_name: format!("{prefix}{}", config.cookie_name),
            pending_prefix: format!("{prefix}{}_login.", config.cookie_name),
            secure,
            secure_context,
            permanent: config.session_permanent,
            login_timeout: config.login_timeout as i64,
            decoded: DecodedSessions::default(),
            previous: config
                .previous_secret_keys
                .iter()
                .filter_map(|key| decode_secret_key(key.secret()).ok())
                .map(|bytes| cookie_key(&bytes))
                .collect(),
        }
    }

    /// The private cookie `name` of the request, opened under the current secret key or a
    /// previous one; with `true` when under the current one.
    fn open(&self, jar: &CookieJar<'_>, name: &str) -> Option<(Cookie<'static>, bool)> {
        if let Some(cookie) = jar.get_private(name) {
            return Some((cookie, true));
        }
        if self.previous.is_empty() {
            return None;
        }
        let sealed = jar.get(name)?;
        let raw = cookie::CookieJar::new();
        self.previous
            .iter()
            .find_map(|key| raw.private(key).decrypt(sealed.clone()))
            .map(|cookie| (cookie, false))
    }

    /// The value of the private cookie `name`, opened under any accepted key.
    fn open_value(&self, jar: &CookieJar<'_>, name: &str) -> Option<String> {
        self.open(jar, name).map(|(c, _)| c.value().to_owned())
    }

    fn cookie(&self, name: String, value: String) -> Cookie<'static> {
        Cookie::build((name, value))
            .http_only(true)
            .same_site(SameSite::Lax)
            .path("/")
            .secure(self.secure)
            .build()
    }

    fn chunk_name(&self, index: usize) -> String {
        format!("{}.{index}", self.session_name)
    }

    /// The session in the request's cookies, if it is intact and not expired; cookies seen
    /// before are not decoded again. Cookies sealed under a previous secret key are sealed
    /// again under the current one (in this response).
    pub fn read_shared_session(&self, jar: &CookieJar<'_>, now: i64) -> Option<Arc<UserSession>> {
        let names: Vec<String> = (0..MAX_CHUNKS).map(|i| self.chunk_name(i)).collect();
        let raw: Vec<&str> = names
            .iter()
            .map_while(|name| jar.get(name).map(|c| c.value()))
            .collect();
        if raw.is_empty() {
            return None;
        }
        let found = self.decoded.get(&raw);
        metrics::cache_lookup("session", found.is_some());
        let (session, stale) = match found {
            Some(found) => found,
            None => {
                let stale = Cell::new(false);
                let json = decode_chunks(|i| {
                    let (cookie, current) = self.open(jar, names.get(i)?)?;
                    stale.set(stale.get() || !current);
                    Some(cookie.value().to_owned())
                })?;
                let session = Arc::new(UserSession::from_json(&json)?);
                self.decoded.insert(&raw, session.clone(), stale.get());
                (session, stale.get())
            }
        };
        if session.is_expired(now) {
            return None;
        }
        if stale {
            self.write_session(jar, &session);
        }
        Some(session)
    }

    /// Writes `session`, replacing any previous one (and its stale chunks). Returns `false` if
    /// it does not fit.
    pub fn write_session(&self, jar: &CookieJar<'_>, session: &UserSession) -> bool {
        let Some(chunks) = encode_chunks(&session.to_json(), rand::random()) else {
            return false;
        };
        let expires = if self.permanent {
            Some(
                OffsetDateTime::from_unix_timestamp(session.expires_at())
                    .unwrap_or_else(|_| OffsetDateTime::now_utc() + Duration::days(7)),
            )
        } else {
            None
        };
        for (index, chunk) in chunks.iter().enumerate() {
            let mut cookie = self.cookie(self.chunk_name(index), chunk.clone());
            cookie.set_expires(expires);
            jar.add_private(cookie);
        }
        for index in chunks.len()..MAX_CHUNKS {
            self.remove(jar, self.chunk_name(index));
        }
        true
    }

    /// Removes every session cookie (the chunks, or the session id).
    pub fn remove_session(&self, jar: &CookieJar<'_>) {
        for index in 0..MAX_CHUNKS {
            self.remove(jar, self.chunk_name(index));
        }
        self.remove(jar, self.id_name());
    }

    /// The name of the cookie that holds the id of a session kept on the server.
    fn id_name(&self) -> String {
        format!("{}.id", self.session_name)
    }

    /// The id of a session kept on the server, if the request has a well-formed one.
    pub fn read_session_id(&self, jar: &CookieJar<'_>) -> Option<String> {
        self.read_sealed_session_id(jar).map(|(id, _)| id)
    }

    /// The id of a session kept on the server, and whether its cookie was sealed under the
    /// current secret key (else under a previous one).
    pub fn read_sealed_session_id(&self, jar: &CookieJar<'_>) -> Option<(String, bool)> {
        let (cookie, current) = self.open(jar, &self.id_name())?;
        let id = cookie.value();
        is_well_formed_token(id).then(|| (id.to_owned(), current))
    }

    /// Writes the id of a session kept on the server (replacing any session chunks).
    pub fn write_session_id(&self, jar: &CookieJar<'_>, id: &str, expires_at: i64) {
        let mut cookie = self.cookie(self.id_name(), id.to_owned());
        cookie.set_expires(if self.permanent {
            OffsetDateTime::from_unix_timestamp(expires_at).ok()
        } else {
            None
        });
        jar.add_private(cookie);
        for index in 0..MAX_CHUNKS {
            self.remove(jar, self.chunk_name(index));
        }
    }

    fn remove(&self, jar: &CookieJar<'_>, name: String) {
        if jar.get(&name).is_some() || jar.get_pending(&name).is_some() {
            jar.remove(self.cookie(name, String::new()));
        }
    }

    /// A pending-login cookie. A `form_post` response is a cross-site POST, with which
    /// browsers send only `SameSite=None` cookies, and those only when `Secure`: so it is
    /// `SameSite=None; Secure` where browsers accept `Secure` cookies (https, or a loopback host
    /// over plain http), and `Lax` like every other cookie elsewhere (such a login then fails:
    /// the launch warns).
    fn pending_cookie(&self, name: String, value: String, mode: ResponseMode) -> Cookie<'static> {
        let mut cookie = self.cookie(name, value);
        if mode.is_form_post() && self.secure_context {
            cookie.set_same_site(SameSite::None);
            cookie.set_secure(true);
        }
        cookie
    }

    /// The pending logins in the request (decrypted), with their cookie names.
    fn pending_logins(&self, jar: &CookieJar<'_>) -> Vec<(String, Option<PendingLogin>)> {
        // Only names this library could have set: a browser's other cookie names are never
        // echoed back in a removal.
        jar.iter()
            .filter(|c| self.is_pending_name(c.name()))
            .map(|c| {
                let name = c.name().to_owned();
                let pending = self
                    .open_value(jar, &name)
                    .and_then(|value| serde_json::from_str::<PendingLogin>(&value).ok());
                (name, pending)
            })
            .collect()
    }

    /// The providers of the JARM logins pending in the request (their cookies opened: a name
    /// alone proves nothing), before the work a JARM response needs.
    pub fn pending_jarm_providers(&self, jar: &CookieJar<'_>) -> Vec<String> {
        self.pending_logins(jar)
            .into_iter()
            .filter_map(|(_, pending)| pending)
            .filter(|pending| pending.response_mode.is_jwt())
            .map(|pending| pending.provider)
            .collect()
    }

    /// Whether `name` is one this library gives a pending-login cookie.
    fn is_pending_name(&self, name: &str) -> bool {
        name.strip_prefix(&self.pending_prefix)
            .is_some_and(is_well_formed_token)
    }

    /// The name of the pending-login cookie of `state`.
    pub fn pending_name(&self, state: &str) -> String {
        format!("{}{state}", self.pending_prefix)
    }

    /// Remembers a started login; drops the oldest ones beyond [`MAX_PENDING`].
    pub fn add_pending(&self, jar: &CookieJar<'_>, pending: &PendingLogin) {
        let mut existing: Vec<(i64, String, ResponseMode)> = self
            .pending_logins(jar)
            .into_iter()
            .map(|(name, p)| match p {
                Some(p) => (p.created_at, name, p.response_mode),
                None => (i64::MIN, name, ResponseMode::Query),
            })
            .collect();
        if existing.len() >= MAX_PENDING {
            existing.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
            let excess = existing.len() + 1 - MAX_PENDING;
            for (_, name, mode) in existing.drain(..excess) {
                jar.remove(self.pending_cookie(name, String::new(), mode));
            }
        }
        let Ok(value) = serde_json::to_string(pending) else {
            return;
        };
        let name = self.pending_name(pending.state.secret());
        let mut cookie = self.pending_cookie(name, value, pending.response_mode);
        cookie.set_expires(
            OffsetDateTime::from_unix_timestamp(
                pending.created_at.saturating_add(self.login_timeout),
            )
            .ok(),
        );
        jar.add_private(cookie);
    }

    /// Takes (reads and removes) the pending login for `state`: a state is used once.
    pub fn take_pending(&self, jar: &CookieJar<'_>, state: &str) -> Option<PendingLogin> {
        if !is_well_formed_token(state) {
            return None;
        }
        let name = self.pending_name(state);
        let pending: Option<PendingLogin> = self
            .open_value(jar, &name)
            .and_then(|value| serde_json::from_str(&value).ok());
        if jar.get(&name).is_some() {
            let mode = pending
                .as_ref()
                .map_or(ResponseMode::Query, |p| p.response_mode);
            jar.remove(self.pending_cookie(name, String::new(), mode));
        }
        pending
    }

    /// Removes every pending login.
    pub fn remove_all_pending(&self, jar: &CookieJar<'_>) {
        for (name, pending) in self.pending_logins(jar) {
            let mode = pending.map_or(ResponseMode::Query, |p| p.response_mode);
            jar.remove(self.pending_cookie(name, String::new(), mode));
        }
    }

    fn logout_name(&self) -> String {
        format!("{}_logout", self.session_name)
    }

    /// Remembers a logout sent to the provider, until it comes back.
    pub fn set_pending_logout(&self, jar: &CookieJar<'_>, pending: &PendingLogout) {
        let Ok(value) = serde_json::to_string(pending) else {
            return;
        };
        let mut cookie = self.cookie(self.logout_name(), value);
        cookie.set_expires(
            OffsetDateTime::from_unix_timestamp(
                pending.created_at.saturating_add(self.login_timeout),
            )
            .ok(),
        );
        jar.add_private(cookie);
    }

    /// The logout awaiting the provider's return, if any.
    pub fn read_pending_logout(&self, jar: &CookieJar<'_>) -> Option<PendingLogout> {
        let value = self.open_value(jar, &self.logout_name())?;
        serde_json::from_str(&value).ok()
    }

    /// Forgets the pending logout.
    pub fn remove_pending_logout(&self, jar: &CookieJar<'_>) {
        self.remove(jar, self.logout_name());
    }
}

/// The cookie key Rocket makes of a secret key's bytes: the bytes themselves from 64 bytes up,
/// else expanded from them (HKDF), as `rocket::config::SecretKey` does.
pub(crate) fn cookie_key(bytes: &[u8]) -> cookie::Key {
    if bytes.len() >= 64 {
        cookie::Key::from(bytes)
    } else {
        cookie::Key::derive_from(bytes)
    }
}
