//! The one-time secrets of a login, each in its own type: what holds them cannot print them by
//! accident (`Debug` shows `[redacted]`), and they are compared in constant time.

use std::fmt;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

macro_rules! secret {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Serialize, Deserialize)]
        #[serde(transparent)]
        pub(crate) struct $name(String);

        impl $name {
            /// Wraps a value.
            pub fn new(value: String) -> Self {
                $name(value)
            }

            /// The value itself: for the request that carries it, never for a log.
            pub fn secret(&self) -> &str {
                &self.0
            }

            /// Whether `other` is this value (in constant time).
            #[allow(dead_code)] // not every secret is compared
            pub fn matches(&self, other: &str) -> bool {
                bool::from(self.0.as_bytes().ct_eq(other.as_bytes()))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret!(
    /// The `state` of an authorization request (or of a logout sent to the provider).
    State
);
secret!(
    /// The `nonce` of an authorization request.
    Nonce
);
secret!(
    /// The PKCE `code_verifier` of an authorization request.
    PkceVerifier
);
secret!(
    /// An authorization code.
    AuthorizationCode
);
secret!(
    /// A raw ID token (a compact JWT), as received.
    IdTokenJwt
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output_and_compare_exactly() {
        let state = State::new("the-state-value".into());
        let code = AuthorizationCode::new("the-code".into());
        let printed = format!(
            "{state:?} {code:?} {:?}",
            Some(IdTokenJwt::new("eyJ.x.y".into()))
        );
        assert_eq!(
            printed,
            "State([redacted]) AuthorizationCode([redacted]) Some(IdTokenJwt([redacted]))"
        );
        assert!(state.matches("the-state-value"));
        assert!(!state.matches("the-state-valuE") && !state.matches("the-state"));
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            "\"the-state-value\""
        );
    }
}
