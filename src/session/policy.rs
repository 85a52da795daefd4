//! The rules that decide what happens to a session, as plain functions of the session, the
//! configuration and the time: is it still valid for this provider, is its use worth
//! recording, is a silent re-authentication due, and what a completed login makes of it. The
//! web edge reads the cookies, asks here, and applies the answer.

use crate::config::{OidcConfig, ProviderConfig, SilentRefreshFailure};
use crate::error::AuthError;
use crate::session::model::UserSession;

/// Silent re-authentications are at least this many seconds apart, so that a slow round trip
/// cannot loop.
pub(crate) const MIN_SILENT_GAP: i64 = 3;

/// Whose sessions a guard accepts: those made by this provider's client at its issuer.
pub(crate) struct Owner<'a> {
    /// The provider's name in the configuration.
    pub provider: &'a str,
    /// Its configured issuer.
    pub issuer: &'a str,
    /// Whether the session's client id is this provider's client (a registered client not
    /// known yet counts as accepted: its provider was not reached since the start).
    pub client_accepted: bool,
}

/// The timing rules of the sessions of one provider.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SessionRules {
    /// `session_inactivity_timeout`, seconds.
    pub inactivity_timeout: Option<i64>,
    /// The provider's `session_refresh_interval`, seconds.
    pub refresh_interval: Option<i64>,
    /// `session_expires_with_id_token`.
    pub expires_with_id_token: bool,
    /// The provider's `silent_refresh_failure`.
    pub silent_refresh_failure: SilentRefreshFailure,
}

impl SessionRules {
    /// The rules of `provider`'s sessions under `config`.
    pub fn of(config: &OidcConfig, provider: Option<&ProviderConfig>) -> Self {
        SessionRules {
            inactivity_timeout: config.session_inactivity_timeout.map(|t| t as i64),
            refresh_interval: provider
                .and_then(|p| p.session_refresh_interval)
                .map(|i| (i as i64).max(MIN_SILENT_GAP)),
            expires_with_id_token: config.session_expires_with_id_token,
            silent_refresh_failure: provider
                .map(|p| p.silent_refresh_failure)
                .unwrap_or_default(),
        }
    }
}

/// What a request's session allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionDecision {
    /// No usable session: absent, expired, of another provider or client, idle too long, or
    /// ended (by a logout). The request needs a login.
    NoSession,
    /// A valid session.
    Valid {
        /// The use should be recorded (the inactivity timeout rolls; about once a minute).
        record_use: bool,
        /// A silent re-authentication is due (for a browser navigation that can follow it).
        silent_refresh_due: bool,
    },
}

/// Decides what `session` (already decrypted and not past its absolute end) allows at `now`.
/// `ended` says whether a logout recorded it as ended.
pub(crate) fn judge(
    session: Option<&UserSession>,
    owner: &Owner<'_>,
    ended: bool,
    rules: &SessionRules,
    now: i64,
) -> SessionDecision {
    let Some(session) = session else {
        return SessionDecision::NoSession;
    };
    let belongs = session.provider() == owner.provider
        && session.issuer() == owner.issuer
        && owner.client_accepted;
    let idle = rules
        .inactivity_timeout
        .is_some_and(|t| session.is_idle(now, t));
    if !belongs || idle || ended || session.is_expired(now) {
        return SessionDecision::NoSession;
    }
    let since = now.saturating_sub(session.last_session_refresh());
    SessionDecision::Valid {
        record_use: rules
            .inactivity_timeout
            .is_some_and(|t| session.touch_due(now, t)),
        silent_refresh_due: rules.refresh_interval.is_some_and(|i| since >= i),
    }
}

/// What a completed (or failed) login leads to.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // one per login; boxing would only cost an allocation
pub(crate) enum LoginOutcome {
    /// Store this session, in place of any previous one (a new id), and go back.
    Store(UserSession),
    /// A silent re-authentication failed: the session ends; then an interactive login
    /// (`login`) or the error view.
    SilentFailed { error: AuthError, login: bool },
    /// The login failed: the error view.
    Failed(AuthError),
}

/// What the result of a login makes of the browser's session. A silent re-authentication
/// (`silent`) continues the session it was started for, which must still be there, not ended
/// meanwhile, and of the same user of the same provider; any failure of it ends the session
/// and, by default, starts an interactive login (never an error page on every navigation),
/// except when the provider returned another user.
pub(crate) fn after_login(
    result: Result<UserSession, AuthError>,
    silent: bool,
    previous: Option<(&UserSession, bool)>,
    rules: &SessionRules,
) -> LoginOutcome {
    let login_again = |error: AuthError| LoginOutcome::SilentFailed {
        login: rules.silent_refresh_failure == SilentRefreshFailure::Login
            && !matches!(error, AuthError::SubjectChanged),
        error,
    };
    let mut session = match (result, silent) {
        (Ok(session), false) => session,
        (Ok(session), true) => match previous {
            Some((previous, false))
                if previous.provider() == session.provider()
                    && previous.issuer() == session.issuer()
                    && previous.claims().subject() == session.claims().subject() =>
            {
                session.continues(previous)
            }
            _ => return login_again(AuthError::InvalidState("the session to refresh has ended")),
        },
        (Err(error), true) => return login_again(error),
        (Err(error), false) => return LoginOutcome::Failed(error),
    };
    if rules.expires_with_id_token {
        if let Some(exp) = session.claims().get("exp").and_then(|e| e.as_i64()) {
            session.end_by(exp);
        }
    }
    LoginOutcome::Store(session)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::id_token::Claims;
    use crate::protocol::secret::IdTokenJwt;
    use crate::session::model::NewSession;

    fn session(sub: &str, now: i64) -> UserSession {
        let claims: Claims = serde_json::from_value(
            serde_json::json!({"sub": sub, "iss": "https://op", "exp": now + 300}),
        )
        .unwrap();
        UserSession::new(NewSession {
            provider: "default".into(),
            issuer: "https://op".into(),
            client_id: "app".into(),
            id_token: IdTokenJwt::new("h.p.s".into()),
            claims,
            access_token: None,
            expires_in: None,
            refresh_token: None,
            userinfo: None,
            now,
            lifetime: 3_600,
            dpop_key: None,
        })
    }

    const OWNER: Owner<'static> = Owner {
        provider: "default",
        issuer: "https://op",
        client_accepted: true,
    };

    #[test]
    fn a_session_is_valid_only_for_its_own_provider_and_while_it_lasts() {
        let rules = SessionRules::default();
        let s = session("alice", 1_000);
        let valid = SessionDecision::Valid {
            record_use: false,
            silent_refresh_due: false,
        };
        assert_eq!(judge(Some(&s), &OWNER, false, &rules, 1_001), valid);
        assert_eq!(
            judge(None, &OWNER, false, &rules, 1_001),
            SessionDecision::NoSession
        );
        assert_eq!(
            judge(Some(&s), &OWNER, true, &rules, 1_001),
            SessionDecision::NoSession,
            "ended by a logout"
        );
        assert_eq!(
            judge(Some(&s), &OWNER, false, &rules, 4_600),
            SessionDecision::NoSession,
            "past its absolute end"
        );
        for owner in [
            Owner {
                provider: "other",
                ..OWNER
            },
            Owner {
                issuer: "https://other",
                ..OWNER
            },
            Owner {
                client_accepted: false,
                ..OWNER
            },
        ] {
            assert_eq!(
                judge(Some(&s), &owner, false, &rules, 1_001),
                SessionDecision::NoSession
            );
        }
    }

    #[test]
    fn idle_sessions_end_and_uses_are_recorded_about_once_a_minute() {
        let rules = SessionRules {
            inactivity_timeout: Some(600),
            ..SessionRules::default()
        };
        let s = session("alice", 1_000);
        let at = |now| judge(Some(&s), &OWNER, false, &rules, now);
        assert_eq!(
            at(1_030),
            SessionDecision::Valid {
                record_use: false,
                silent_refresh_due: false
            }
        );
        assert_eq!(
            at(1_060),
            SessionDecision::Valid {
                record_use: true,
                silent_refresh_due: false
            }
        );
        assert_eq!(
            at(1_600),
            SessionDecision::Valid {
                record_use: true,
                silent_refresh_due: false
            }
        );
        assert_eq!(
            at(1_601),
            SessionDecision::NoSession,
            "idle for longer than the timeout"
        );
    }

    #[test]
    fn silent_reauthentication_is_due_after_the_interval_and_never_more_often_than_the_gap() {
        let mut provider_rules = SessionRules {
            refresh_interval: Some(60),
            ..SessionRules::default()
        };
        let s = session("alice", 1_000);
        let due = |rules: &SessionRules, now| match judge(Some(&s), &OWNER, false, rules, now) {
            SessionDecision::Valid {
                silent_refresh_due, ..
            } => silent_refresh_due,
            SessionDecision::NoSession => panic!("no session"),
        };
        assert!(!due(&provider_rules, 1_059));
        assert!(due(&provider_rules, 1_060));
        // A configured interval of 1 s still waits the minimum gap.
        let config: OidcConfig = figment::Figment::from(figment::providers::Serialized::defaults(
            serde_json::json!({"oidc": {"providers": {"default": {
                "issuer": "https://op", "client_id": "a", "client_secret": "s",
                "session_refresh_interval": 1}}}}),
        ))
        .extract_inner("oidc")
        .unwrap();
        provider_rules = SessionRules::of(&config, config.providers.get("default"));
        assert_eq!(provider_rules.refresh_interval, Some(MIN_SILENT_GAP));
        assert!(!due(&provider_rules, 1_002));
        assert!(due(&provider_rules, 1_003));
    }

    #[test]
    fn a_silent_login_continues_only_the_same_live_session() {
        let rules = SessionRules::default();
        let previous = session("alice", 1_000);
        let fresh = session("alice", 2_000);
        match after_login(Ok(fresh), true, Some((&previous, false)), &rules) {
            LoginOutcome::Store(s) => assert_eq!(s.expires_at(), previous.expires_at()),
            other => panic!("{other:?}"),
        }
        for (previous, label) in [(Some((&previous, true)), "ended meanwhile"), (None, "gone")] {
            let outcome = after_login(Ok(session("alice", 2_000)), true, previous, &rules);
            assert!(
                matches!(outcome, LoginOutcome::SilentFailed { login: true, .. }),
                "{label}: {outcome:?}"
            );
        }
        let bob = after_login(
            Ok(session("bob", 2_000)),
            true,
            Some((&previous, false)),
            &rules,
        );
        assert!(matches!(
            bob,
            LoginOutcome::SilentFailed { login: true, .. }
        ));
        let changed = after_login(Err(AuthError::SubjectChanged), true, None, &rules);
        assert!(
            matches!(changed, LoginOutcome::SilentFailed { login: false, .. }),
            "another user: never silently on to a login"
        );
        let error_rules = SessionRules {
            silent_refresh_failure: SilentRefreshFailure::Error,
            ..rules
        };
        let refused = after_login(Err(AuthError::LoginRequired), true, None, &error_rules);
        assert!(matches!(
            refused,
            LoginOutcome::SilentFailed { login: false, .. }
        ));
        let failed = after_login(Err(AuthError::LoginRequired), false, None, &rules);
        assert!(matches!(
            failed,
            LoginOutcome::Failed(AuthError::LoginRequired)
        ));
    }

    #[test]
    fn a_session_may_end_with_its_id_token() {
        let rules = SessionRules {
            expires_with_id_token: true,
            ..SessionRules::default()
        };
        match after_login(Ok(session("alice", 1_000)), false, None, &rules) {
            LoginOutcome::Store(s) => assert_eq!(s.expires_at(), 1_300),
            other => panic!("{other:?}"),
        }
    }
}
