//! The application's view of ended sessions
//! ([`OpenIdConnect::on_logout`](crate::OpenIdConnect::on_logout)): told of every session that
//! ends, whoever ended it, for an audit trail or to clean up what the application keeps per
//! session. Told after the fact, on a task of its own: it never delays or changes a logout.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// Who ended a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogoutChannel {
    /// The user, through a logout route (RP-initiated logout).
    RpInitiated,
    /// The provider, with a logout token (Back-Channel Logout).
    Backchannel,
    /// The provider, through the browser (Front-Channel Logout).
    Frontchannel,
    /// The application, with [`OidcSessions`](crate::OidcSessions).
    Application,
    /// The application in a request ([`CurrentSession::end`](crate::CurrentSession::end)), or
    /// a login its `on_login` hook refused, which ends the session the browser had.
    Local,
}

impl LogoutChannel {
    /// The channel's name, as the metrics label it: `rp_initiated`, `backchannel`,
    /// `frontchannel`, `application`, `local`.
    ///
    /// # Example
    ///
    /// ```
    /// use rocket_openidconnect::LogoutChannel;
    ///
    /// assert_eq!(LogoutChannel::Backchannel.as_str(), "backchannel");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            LogoutChannel::RpInitiated => "rp_initiated",
            LogoutChannel::Backchannel => "backchannel",
            LogoutChannel::Frontchannel => "frontchannel",
            LogoutChannel::Application => "application",
            LogoutChannel::Local => "local",
        }
    }
}

/// Sessions that ended: of which provider, through which channel, and of whom, as far as the
/// channel tells (a front-channel logout names only the provider's session id; a logout token
/// a subject, a provider session id, or both).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::SessionEnded;
///
/// fn audit(ended: &SessionEnded) -> String {
///     format!(
///         "{} ended session(s) of {} at {}",
///         ended.channel().as_str(),
///         ended.subject().unwrap_or("?"),
///         ended.provider()
///     )
/// }
/// ```
#[derive(Clone, Debug)]
pub struct SessionEnded {
    pub(crate) provider: String,
    pub(crate) channel: LogoutChannel,
    pub(crate) subject: Option<String>,
    pub(crate) provider_sid: Option<String>,
}

impl SessionEnded {
    /// The name of the provider the sessions were with.
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// Who ended them.
    pub fn channel(&self) -> LogoutChannel {
        self.channel
    }

    /// The user (`sub`), when the channel names one.
    pub fn subject(&self) -> Option<&str> {
        self.subject.as_deref()
    }

    /// The provider's session id (`sid`), when the channel names one.
    pub fn provider_sid(&self) -> Option<&str> {
        self.provider_sid.as_deref()
    }
}

/// The application's logout hook.
pub(crate) type LogoutHookFn =
    dyn Fn(SessionEnded) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync;

/// Tells `hook` (if any) of `ended`, on a task of its own.
pub(crate) fn notify(hook: &Option<Arc<LogoutHookFn>>, ended: SessionEnded) {
    if let Some(hook) = hook {
        rocket::tokio::spawn(hook(ended));
    }
}
