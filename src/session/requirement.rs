//! Authorization as types: what a route requires of its user ([`Requirement`]), judged on the
//! user's claims ([`Principal`]) before the handler runs, by the
//! [`Authorized`](crate::Authorized) guard. A requirement allows, denies (403), or asks for a
//! stronger authentication (step-up: a new login with `acr_values` and/or `max_age`).
//!
//! Ready-made requirements take their claim names and values as types declared with
//! [`literal!`](crate::literal!): [`ClaimEquals`], [`ClaimContains`], [`HasRole`], [`Acr`],
//! [`MaxAge`], and [`AnyOf`] / [`AllOf`] of up to four others.

use std::marker::PhantomData;

use serde_json::{Map, Value};

use crate::session::model::UserSession;

/// A string known at compile time, as a type: a claim path, a claim value, a role, an `acr`.
/// Declare one with [`literal!`](crate::literal!).
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{literal, Literal};
///
/// literal!(pub Groups = "groups");
/// assert_eq!(Groups::VALUE, "groups");
/// ```
pub trait Literal: Send + Sync + 'static {
    /// The string.
    const VALUE: &'static str;
}

/// Declares a [`Literal`] type.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{literal, ClaimContains};
///
/// literal!(Groups = "groups");
/// literal!(Admins = "admins");
/// /// Users whose `groups` claim holds `admins`.
/// type IsAdmin = ClaimContains<Groups, Admins>;
/// ```
#[macro_export]
macro_rules! literal {
    ($vis:vis $name:ident = $value:literal) => {
        #[doc = concat!("The literal `", $value, "`.")]
        #[derive(Debug)]
        $vis struct $name;
        impl $crate::Literal for $name {
            const VALUE: &'static str = $value;
        }
    };
}

/// A stronger authentication a requirement asks for: a new login at the provider with these
/// parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StepUp {
    /// `acr_values` to ask for (space-separated): the new ID token's `acr` must be one of them.
    pub acr_values: Option<String>,
    /// `max_age` to ask for (seconds): the user must have authenticated that recently.
    pub max_age: Option<u64>,
}

impl StepUp {
    /// Asking for one of these `acr` values.
    pub fn acr(values: &str) -> Self {
        StepUp {
            acr_values: Some(values.to_owned()),
            max_age: None,
        }
    }

    /// Asking for an authentication at most `seconds` old.
    pub fn max_age(seconds: u64) -> Self {
        StepUp {
            acr_values: None,
            max_age: Some(seconds),
        }
    }

    /// Both asks at once (the stricter `max_age` of the two).
    fn and(self, other: StepUp) -> StepUp {
        StepUp {
            acr_values: self.acr_values.or(other.acr_values),
            max_age: match (self.max_age, other.max_age) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
        }
    }
}

/// What a requirement says of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// The user may go on.
    Allow,
    /// The user may not (403 with the error view).
    Deny,
    /// The user may, after a stronger authentication (a browser navigation is sent to the
    /// provider; any other request gets 401 with an RFC 9470 challenge).
    StepUp(StepUp),
}

impl From<bool> for Decision {
    fn from(allowed: bool) -> Self {
        if allowed {
            Decision::Allow
        } else {
            Decision::Deny
        }
    }
}

/// What a route requires of its user. Implement it for a type of your own, or combine the
/// ready-made ones.
///
/// # Example
///
/// ```
/// use rocket_openidconnect::{Decision, Principal, Requirement};
///
/// /// Users of the example.com domain with a verified email.
/// struct Staff;
///
/// impl Requirement for Staff {
///     fn check(user: &Principal<'_>) -> Decision {
///         let email = user.claim("email").and_then(|v| v.as_str()).unwrap_or_default();
///         let verified = user.claim("email_verified") == Some(&serde_json::Value::Bool(true));
///         (verified && email.ends_with("@example.com")).into()
///     }
/// }
/// ```
pub trait Requirement: Send + Sync + 'static {
    /// What the requirement says of `user`.
    fn check(user: &Principal<'_>) -> Decision;
}

/// The user a requirement is checked against: the session's claims (the ID token's, then
/// userinfo's for what the ID token does not have), the roles, and the time.
pub struct Principal<'a> {
    session: &'a UserSession,
    roles_claim: Option<&'a str>,
    now: i64,
}

impl<'a> Principal<'a> {
    /// The user of `session`, whose roles are at `roles_claim` (a claim path), at `now`.
    pub(crate) fn new(session: &'a UserSession, roles_claim: Option<&'a str>, now: i64) -> Self {
        Principal {
            session,
            roles_claim,
            now,
        }
    }

    /// The session.
    pub fn session(&self) -> &'a UserSession {
        self.session
    }

    /// A claim by path: `groups`, a nested one (`realm_access.roles`,
    /// `resource_access.my-client.roles`), or one whose name has dots or slashes
    /// (`https://example.com/roles`). The ID token's claims first, then userinfo's.
    pub fn claim(&self, path: &str) -> Option<&'a Value> {
        claim_in(self.session.claims().as_map(), path)
            .or_else(|| self.session.userinfo().and_then(|u| claim_in(u, path)))
    }

    /// Whether the claim at `path` equals `value` (a string claim).
    pub fn claim_equals(&self, path: &str, value: &str) -> bool {
        self.claim(path).and_then(Value::as_str) == Some(value)
    }

    /// Whether the claim at `path` holds `value`: an element of a list, or a word of a
    /// space-separated string.
    pub fn claim_contains(&self, path: &str, value: &str) -> bool {
        self.claim(path)
            .is_some_and(|claim| words(claim).any(|w| w == value))
    }

    /// The roles: the values of the provider's `roles_claim` (a list, or a space-separated
    /// string); none without one.
    pub fn roles(&self) -> Vec<&'a str> {
        self.roles_claim
            .and_then(|path| self.claim(path))
            .map(|claim| words(claim).collect())
            .unwrap_or_default()
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles().contains(&role)
    }

    /// The ID token's `acr`, if any.
    pub fn acr(&self) -> Option<&'a str> {
        self.session.claims().str("acr")
    }

    /// Seconds since the user last authenticated at the provider.
    pub fn authentication_age(&self) -> i64 {
        self.now.saturating_sub(self.session.last_authenticated())
    }
}

/// The claim at `path` in `claims`: the whole path as a name, else the longest prefix (up to a
/// dot) that is a name, then the rest inside it.
fn claim_in<'v>(claims: &'v Map<String, Value>, path: &str) -> Option<&'v Value> {
    if let Some(value) = claims.get(path) {
        return Some(value);
    }
    let cuts = path.match_indices('.').map(|(i, _)| i).collect::<Vec<_>>();
    cuts.into_iter()
        .rev()
        .find_map(|cut| match claims.get(&path[..cut]) {
            Some(Value::Object(inner)) => claim_in(inner, &path[cut + 1..]),
            _ => None,
        })
}

/// The string values of a claim: the strings of a list, or the words of a string.
fn words(claim: &Value) -> Box<dyn Iterator<Item = &str> + '_> {
    match claim {
        Value::Array(list) => Box::new(list.iter().filter_map(Value::as_str)),
        Value::String(text) => Box::new(text.split_whitespace()),
        _ => Box::new(std::iter::empty()),
    }
}

/// The claim at path `P` equals `V` (a string claim).
pub struct ClaimEquals<P, V>(PhantomData<fn() -> (P, V)>);

impl<P: Literal, V: Literal> Requirement for ClaimEquals<P, V> {
    fn check(user: &Principal<'_>) -> Decision {
        user.claim_equals(P::VALUE, V::VALUE).into()
    }
}

/// The claim at path `P` holds `V` (an element of a list, or a word of a string).
pub struct ClaimContains<P, V>(PhantomData<fn() -> (P, V)>);

impl<P: Literal, V: Literal> Requirement for ClaimContains<P, V> {
    fn check(user: &Principal<'_>) -> Decision {
        user.claim_contains(P::VALUE, V::VALUE).into()
    }
}

/// The user has the role `R` (in the provider's `roles_claim`).
pub struct HasRole<R>(PhantomData<fn() -> R>);

impl<R: Literal> Requirement for HasRole<R> {
    fn check(user: &Principal<'_>) -> Decision {
        user.has_role(R::VALUE).into()
    }
}

/// The user authenticated with the `acr` `V` (one of them, space-separated); a session without
/// it steps up: a new login asking for `acr_values=V`.
pub struct Acr<V>(PhantomData<fn() -> V>);

impl<V: Literal> Requirement for Acr<V> {
    fn check(user: &Principal<'_>) -> Decision {
        match user.acr() {
            Some(acr) if V::VALUE.split_whitespace().any(|v| v == acr) => Decision::Allow,
            _ => Decision::StepUp(StepUp::acr(V::VALUE)),
        }
    }
}

/// The user authenticated at most `SECONDS` ago; an older authentication steps up: a new login
/// with `max_age=SECONDS` (and `prompt=login`).
pub struct MaxAge<const SECONDS: u64>;

impl<const SECONDS: u64> Requirement for MaxAge<SECONDS> {
    fn check(user: &Principal<'_>) -> Decision {
        if user.authentication_age() <= SECONDS as i64 {
            Decision::Allow
        } else {
            Decision::StepUp(StepUp::max_age(SECONDS))
        }
    }
}

/// Any of several requirements (a tuple of up to four): allowed if one allows; else a step-up
/// if one asks for it; else denied.
pub struct AnyOf<T>(PhantomData<fn() -> T>);

/// All of several requirements (a tuple of up to four): denied if one denies; else a step-up
/// if one asks for it (all their asks at once); else allowed.
pub struct AllOf<T>(PhantomData<fn() -> T>);

fn any(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    let mut step_up = None;
    for decision in decisions {
        match decision {
            Decision::Allow => return Decision::Allow,
            Decision::StepUp(ask) => step_up = step_up.or(Some(ask)),
            Decision::Deny => {}
        }
    }
    step_up.map_or(Decision::Deny, Decision::StepUp)
}

fn all(decisions: impl IntoIterator<Item = Decision>) -> Decision {
    let mut step_up: Option<StepUp> = None;
    for decision in decisions {
        match decision {
            Decision::Deny => return Decision::Deny,
            Decision::StepUp(ask) => {
                step_up = Some(match step_up {
                    Some(earlier) => earlier.and(ask),
                    None => ask,
                })
            }
            Decision::Allow => {}
        }
    }
    step_up.map_or(Decision::Allow, Decision::StepUp)
}

macro_rules! combinations {
    ($($name:ident),+) => {
        impl<$($name: Requirement),+> Requirement for AnyOf<($($name,)+)> {
            fn check(user: &Principal<'_>) -> Decision {
                any([$($name::check(user)),+])
            }
        }
        impl<$($name: Requirement),+> Requirement for AllOf<($($name,)+)> {
            fn check(user: &Principal<'_>) -> Decision {
                all([$($name::check(user)),+])
            }
        }
    };
}

combinations!(A, B);
combinations!(A, B, C);
combinations!(A, B, C, D);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::id_token::Claims;
    use crate::protocol::secret::IdTokenJwt;
    use crate::session::model::NewSession;
    use serde_json::json;

    fn session(claims: Value, userinfo: Option<Value>) -> UserSession {
        let claims: Claims = serde_json::from_value(claims).unwrap();
        UserSession::new(NewSession {
            provider: "default".into(),
            issuer: "https://op".into(),
            client_id: "app".into(),
            id_token: IdTokenJwt::new("h.p.s".into()),
            claims,
            access_token: None,
            expires_in: None,
            refresh_token: None,
            userinfo: userinfo.and_then(|u| u.as_object().cloned()),
            now: 1_000,
            lifetime: 3_600,
            dpop_key: None,
        })
    }

    crate::literal!(Groups = "groups");
    crate::literal!(Admins = "admins");
    crate::literal!(Realm = "realm_access.roles");
    crate::literal!(UrlRoles = "https://example.com/roles");
    crate::literal!(Editor = "editor");
    crate::literal!(Locale = "locale");
    crate::literal!(En = "en");
    crate::literal!(Mfa = "urn:mfa");

    #[test]
    fn claims_are_found_by_path_nested_or_with_dots_and_userinfo_fills_in() {
        let s = session(
            json!({"sub": "a", "groups": ["users", "admins"],
                   "realm_access": {"roles": ["editor"]},
                   "resource_access": {"my.client": {"roles": ["viewer"]}},
                   "https://example.com/roles": "editor writer"}),
            Some(json!({"sub": "a", "locale": "en", "groups": ["ignored"]})),
        );
        let user = Principal::new(&s, Some("realm_access.roles"), 1_000);
        assert!(user.claim_contains("groups", "admins"));
        assert!(
            !user.claim_contains("groups", "ignored"),
            "the ID token's claim wins"
        );
        assert!(user.claim_contains("realm_access.roles", "editor"));
        assert!(user.claim_contains("resource_access.my.client.roles", "viewer"));
        assert!(user.claim_contains("https://example.com/roles", "writer"));
        assert!(user.claim_equals("locale", "en"), "from userinfo");
        assert!(user.claim("missing.path").is_none());
        assert_eq!(user.roles(), ["editor"]);
        assert_eq!(
            ClaimContains::<Groups, Admins>::check(&user),
            Decision::Allow
        );
        assert_eq!(
            ClaimContains::<UrlRoles, Editor>::check(&user),
            Decision::Allow
        );
        assert_eq!(ClaimContains::<Realm, Admins>::check(&user), Decision::Deny);
        assert_eq!(ClaimEquals::<Locale, En>::check(&user), Decision::Allow);
        assert_eq!(HasRole::<Editor>::check(&user), Decision::Allow);
        assert_eq!(HasRole::<Admins>::check(&user), Decision::Deny);
    }

    #[test]
    fn wrong_types_and_missing_claims_deny() {
        let s = session(json!({"sub": "a", "groups": 5, "locale": ["en"]}), None);
        let user = Principal::new(&s, None, 1_000);
        assert_eq!(
            ClaimContains::<Groups, Admins>::check(&user),
            Decision::Deny
        );
        assert_eq!(ClaimEquals::<Locale, En>::check(&user), Decision::Deny);
        assert_eq!(
            HasRole::<Editor>::check(&user),
            Decision::Deny,
            "no roles_claim"
        );
    }

    #[test]
    fn acr_and_age_step_up_and_combinations_decide() {
        let weak = session(
            json!({"sub": "a", "acr": "urn:pwd", "groups": ["admins"]}),
            None,
        );
        let strong = session(json!({"sub": "a", "acr": "urn:mfa"}), None);
        let at = |s| Principal::new(s, None, 1_100);
        assert_eq!(
            Acr::<Mfa>::check(&at(&weak)),
            Decision::StepUp(StepUp::acr("urn:mfa"))
        );
        assert_eq!(Acr::<Mfa>::check(&at(&strong)), Decision::Allow);
        assert_eq!(MaxAge::<100>::check(&at(&weak)), Decision::Allow);
        assert_eq!(
            MaxAge::<99>::check(&at(&weak)),
            Decision::StepUp(StepUp::max_age(99))
        );
        type Either = AnyOf<(ClaimContains<Groups, Admins>, Acr<Mfa>)>;
        assert_eq!(Either::check(&at(&weak)), Decision::Allow);
        assert_eq!(Either::check(&at(&strong)), Decision::Allow);
        type Both = AllOf<(Acr<Mfa>, MaxAge<10>)>;
        assert_eq!(
            Both::check(&at(&weak)),
            Decision::StepUp(StepUp {
                acr_values: Some("urn:mfa".into()),
                max_age: Some(10)
            })
        );
        type AdminWithMfa = AllOf<(ClaimContains<Groups, Admins>, Acr<Mfa>)>;
        assert_eq!(AdminWithMfa::check(&at(&strong)), Decision::Deny);
    }
}
