//! What a guard leaves for later in the request: a guard cannot respond itself (and cookies it
//! sets are dropped when Rocket turns to a catcher), so it leaves a verdict for the 401 catcher,
//! or a silent re-authentication for the fairing's response hook.

use std::sync::{Arc, Mutex};

use rocket::request::Request;

use crate::client::logout::LogoutOutcome;
use crate::error::{AuthError, BearerError};
use crate::session::model::UserSession;
use crate::session::requirement::StepUp;

/// A silent re-authentication due in this request: the fairing's response hook replaces the
/// (successful) response with a redirect to the URL, if the pending-login cookie (named here)
/// is in it.
#[derive(Default)]
pub(crate) struct SilentRefresh(Mutex<Option<(String, String)>>);

impl SilentRefresh {
    pub fn set(req: &Request<'_>, url: String, cookie: String) {
        let slot = req.local_cache(SilentRefresh::default);
        slot.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert((url, cookie));
    }

    pub fn take(req: &Request<'_>) -> Option<(String, String)> {
        req.local_cache(SilentRefresh::default)
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// What a guard of this crate left for the 401 catcher to do: a guard cannot respond itself,
/// and cookies it sets are dropped when Rocket turns to a catcher, so the catcher does it.
pub(crate) enum Verdict {
    /// No session: log in with this provider.
    Login(&'static str),
    /// A logout that needs a redirect, a confirmation or an error page.
    Logout(LogoutOutcome),
    /// A refused bearer token (an RFC 6750 response).
    Bearer(BearerError),
    /// The session could not be checked (the store is down: 503), or a requirement of the
    /// route refuses it (403, or 401 with an RFC 9470 challenge): the error view, with the
    /// error's status.
    Failed(AuthError),
    /// A requirement asks this session of this provider for a stronger authentication: a
    /// step-up login.
    StepUp(&'static str, Arc<UserSession>, StepUp),
}

/// The verdict of this request, if any (the first guard's wins).
#[derive(Default)]
pub(crate) struct PendingVerdict(Mutex<Option<Verdict>>);

impl PendingVerdict {
    pub fn set(req: &Request<'_>, verdict: Verdict) {
        let slot = req.local_cache(PendingVerdict::default);
        let mut slot = slot.0.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(verdict);
        }
    }

    /// Sets `verdict` even if another guard set one (a refused bearer token outranks a
    /// login another guard would start).
    pub fn replace(req: &Request<'_>, verdict: Verdict) {
        let slot = req.local_cache(PendingVerdict::default);
        *slot.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(verdict);
    }

    pub fn take(req: &Request<'_>) -> Option<Verdict> {
        req.local_cache(PendingVerdict::default)
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}
