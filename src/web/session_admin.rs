//! The [`OidcSessions`] guard: the application's view of its users' sessions, to list them
//! (with a server-side session store) and end them (with any store), for an administration
//! page or an account page.

use std::sync::Arc;

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Ignite, Rocket, Sentinel};

use crate::client::RelyingParty;
use crate::error::AuthError;
use crate::session::model::UserSession;
use crate::session::records::{EndedBy, Records};
use crate::session::server::SessionInfo;
use crate::util::clock::unix_now;
use crate::util::metrics;
use crate::web::logout_hook::{notify, LogoutChannel, LogoutHookFn, SessionEnded};
use crate::web::runtime::launch_check;
use crate::web::runtime::OidcRuntime;
use crate::web::session_jar::SessionJar;

/// A request guard to list and end users' sessions. Listing needs the sessions on the server
/// (`session_store = "memory"` or `"redis"`); ending works with every store (with sessions in
/// cookies, the ended sessions are recorded and refused from then on, on every instance that
/// shares `redis_url`).
///
/// # Example
///
/// ```
/// use rocket::get;
/// use rocket::serde::json::{json, Json, Value};
/// use rocket_openidconnect::{AuthError, OidcSessions, OidcUser};
///
/// /// The signed-in user's own sessions.
/// #[get("/account/sessions")]
/// async fn my_sessions(user: OidcUser, sessions: OidcSessions) -> Result<Json<Value>, AuthError> {
///     let sub = user.claims().subject();
///     let list = sessions.of_user(user.provider(), sub).await?.unwrap_or_default();
///     Ok(Json(json!(list.iter().map(|s| json!({
///         "id": s.id, "started_at": s.started_at, "last_seen": s.last_seen,
///     })).collect::<Vec<_>>())))
/// }
///
/// /// Log out everywhere.
/// #[get("/account/logout-everywhere")]
/// async fn everywhere(user: OidcUser, sessions: OidcSessions) -> Result<&'static str, AuthError> {
///     sessions.end_user(user.provider(), user.claims().subject()).await?;
///     Ok("All your sessions have ended.")
/// }
/// ```
pub struct OidcSessions {
    rp: Arc<RelyingParty>,
    records: Arc<Records>,
    sessions: Arc<SessionJar>,
    on_logout: Option<Arc<LogoutHookFn>>,
}

impl OidcSessions {
    /// The provider's issuer and the client id of `provider`.
    async fn client_of(&self, provider: &str) -> Result<(String, String), AuthError> {
        let ready = self.rp.provider(provider)?.ready().await?;
        Ok((
            self.rp.provider(provider)?.config.issuer().to_owned(),
            ready.credentials.client_id.clone(),
        ))
    }

    async fn live(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<Vec<(SessionInfo, Arc<UserSession>)>>, AuthError> {
        let (issuer, client_id) = self.client_of(provider).await?;
        let now = unix_now();
        let Some(found) = self
            .sessions
            .of_user(&issuer, &client_id, subject, now)
            .await?
        else {
            return Ok(None);
        };
        let mut live = Vec::new();
        for (info, session) in found {
            if !self.records.is_ended(&session).await? {
                live.push((info, session));
            }
        }
        Ok(Some(live))
    }

    /// The current sessions of the user `subject` of `provider` (a provider name of the
    /// configuration), oldest first; `None` when sessions are kept in cookies (which the server
    /// cannot enumerate).
    pub async fn of_user(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<Vec<SessionInfo>>, AuthError> {
        Ok(self.live(provider, subject).await?.map(|sessions| {
            let mut list: Vec<SessionInfo> = sessions.into_iter().map(|(info, _)| info).collect();
            list.sort_by_key(|s| s.started_at);
            list
        }))
    }

    /// Ends every session of the user `subject` of `provider`, on every instance that shares
    /// the store.
    pub async fn end_user(&self, provider: &str, subject: &str) -> Result<(), AuthError> {
        let (issuer, client_id) = self.client_of(provider).await?;
        let now = unix_now();
        let until = now.saturating_add(self.rp.config.session_lifetime as i64);
        let client = (issuer.as_str(), client_id.as_str());
        self.records
            .end(client, EndedBy::Subject, subject, now, until)
            .await?;
        if let Some(found) = self
            .sessions
            .of_user(&issuer, &client_id, subject, now)
            .await?
        {
            for (info, _) in found {
                self.sessions.delete(&info.id).await?;
            }
        }
        metrics::logout(provider, "application");
        self.notify(provider, subject, None);
        Ok(())
    }

    /// Ends the one session `id` (a [`SessionInfo::id`] from [`of_user`](Self::of_user)) of
    /// the user `subject` of `provider`. `Ok(false)` if it was not (or no longer) there.
    pub async fn end(&self, provider: &str, subject: &str, id: &str) -> Result<bool, AuthError> {
        let Some(sessions) = self.live(provider, subject).await? else {
            return Ok(false);
        };
        let Some((info, session)) = sessions.into_iter().find(|(info, _)| info.id == id) else {
            return Ok(false);
        };
        let client = (session.issuer(), session.client_id());
        let now = unix_now();
        self.records
            .end(
                client,
                EndedBy::Session,
                session.sid(),
                now,
                session.expires_at(),
            )
            .await?;
        self.sessions.delete(&info.id).await?;
        metrics::logout(provider, "application");
        self.notify(provider, subject, session.provider_sid());
        Ok(true)
    }

    /// Tells the application's logout hook of sessions it ended.
    fn notify(&self, provider: &str, subject: &str, provider_sid: Option<&str>) {
        let ended = SessionEnded {
            provider: provider.to_owned(),
            channel: LogoutChannel::Application,
            subject: Some(subject.to_owned()),
            provider_sid: provider_sid.map(str::to_owned),
        };
        notify(&self.on_logout, ended);
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for OidcSessions {
    type Error = AuthError;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, AuthError> {
        match OidcRuntime::of(req) {
            Some(runtime) => Outcome::Success(OidcSessions {
                rp: runtime.rp.clone(),
                records: runtime.records.clone(),
                sessions: runtime.sessions.clone(),
                on_logout: runtime.on_logout.clone(),
            }),
            None => Outcome::Error((Status::InternalServerError, AuthError::LoginRequired)),
        }
    }
}

impl Sentinel for OidcSessions {
    fn abort(rocket: &Rocket<Ignite>) -> bool {
        launch_check(rocket, "OidcSessions", None)
    }
}
