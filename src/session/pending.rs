//! Logins and logouts under way: what the browser carries (in an encrypted cookie) between
//! leaving for the provider and coming back.

use serde::{Deserialize, Serialize};

use crate::protocol::dpop::DpopKey;
use crate::protocol::response::{ResponseMode, ResponseType};
use crate::protocol::secret::{Nonce, PkceVerifier, State};

/// A login that was started and not yet completed; kept in an encrypted cookie named after its
/// state, so several tabs can log in at once.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PendingLogin {
    /// What the response carries.
    #[serde(default)]
    pub response_type: ResponseType,
    /// How the response comes back.
    #[serde(default)]
    pub response_mode: ResponseMode,
    pub state: State,
    pub nonce: Nonce,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pkce_verifier: Option<PkceVerifier>,
    pub provider: String,
    pub return_to: String,
    pub created_at: i64,
    /// A silent re-authentication (`prompt=none`) of the session of this subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub silent_sub: Option<String>,
    /// A step-up of the session of this subject: the new login must be the same user's, with
    /// what was asked for (else 403, and the session stays as it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_up_sub: Option<String>,
    /// The `max_age` sent: the ID token's `auth_time` is checked against it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// The `acr_values` sent: the ID token's `acr` must be one of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acr_values: Option<String>,
    /// The DPoP key the session's tokens will be bound to (its thumbprint went as
    /// `dpop_jkt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_key: Option<DpopKey>,
}

impl PendingLogin {
    /// Until when (Unix time) the login may complete.
    pub fn expires_at(&self, login_timeout: u64) -> i64 {
        self.created_at.saturating_add(login_timeout as i64)
    }
}

/// A logout sent to the provider whose return is awaited; kept in an encrypted cookie.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PendingLogout {
    pub state: State,
    pub provider: String,
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_logins_keep_their_cookie_format_and_hide_their_secrets() {
        // The format of cookies written before the secrets had their own types.
        let json = r#"{"state":"s-1","nonce":"n-1","pkce_verifier":"v-1","provider":"default",
            "return_to":"/","created_at":100}"#;
        let pending: PendingLogin = serde_json::from_str(json).unwrap();
        assert!(pending.state.matches("s-1") && pending.nonce.matches("n-1"));
        assert_eq!(pending.response_type, ResponseType::Code);
        assert_eq!(pending.expires_at(600), 700);
        let printed = format!("{pending:?}");
        assert!(
            !printed.contains("s-1") && !printed.contains("v-1"),
            "{printed}"
        );
        let again = serde_json::to_value(&pending).unwrap();
        assert_eq!(again["state"], "s-1");
    }
}
