//! OpenID Connect sign-in (Relying Party) for [Rocket](https://rocket.rs) 0.5.
//!
//! Attach the fairing, put a guard in a handler, write the configuration:
//!
//! ```no_run
//! use rocket::{get, launch, routes};
//! use rocket::serde::json::{json, Json, Value};
//! use rocket_openidconnect::{OidcUser, OpenIdConnect};
//!
//! #[get("/")]
//! fn index(user: OidcUser) -> Json<Value> {
//!     Json(json!({ "id_token": user.claims(), "userinfo": user.userinfo() }))
//! }
//!
//! #[launch]
//! fn rocket() -> _ {
//!     rocket::build()
//!         .attach(OpenIdConnect::fairing())
//!         .mount("/", routes![index])
//! }
//! ```
//!
//! ```toml
//! [default]
//! secret_key = "..."            # encrypts the session cookies: `openssl rand -base64 32`
//! [default.oidc]
//! base_url = "https://app.example.com"
//! [default.oidc.providers.default]
//! issuer = "https://op.example.com"
//! client_id = "my-app"
//! client_secret = "..."
//! scope = ["openid", "profile", "email"]
//! ```
//!
//! # What happens
//!
//! * A request to a route guarded by [`OidcUser`] without a session: a browser navigation is
//!   redirected (303) to the provider (authorization code flow with `state`, `nonce` and PKCE
//!   S256); anything else gets 401.
//! * The provider sends the browser back to `redirect_path`: the state is matched to a pending
//!   login of this browser, the code is exchanged, the ID token is validated completely
//!   (signature, `alg`, `iss`, `aud`, `azp`, `exp`, `iat`, `nbf`, `nonce`, `sub`), userinfo is
//!   fetched and its `sub` compared, and a fresh session is stored in encrypted cookies.
//! * Later requests read the session from the cookies: no call to the provider.
//!
//! The configuration keys are documented in `docs/configuration.md`; the module map and the
//! import rules in `ARCHITECTURE.md`.

#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![deny(missing_docs)]

// The layers, from the bottom up; each imports only the ones before it (ARCHITECTURE.md).
// Helpers: clock, random values, parameters, URL checks, safe text, single-flight cache.
mod util;
// The errors of every layer.
mod error;
// The protocols' data and checks, no I/O.
mod protocol;
// The `oidc` table: schema and checks.
mod config;
// Sessions: model, codecs, stores, records, policy.
mod session;
// Everything that talks to a provider.
mod client;
// The Rocket edge: guards, routes, catcher, fairing.
mod web;

#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

pub use client::app_token::AppToken;
pub use config::{
    AccessTokenValidation, ClientAuthMethod, IntrospectionResponse, OidcConfig, PreviousSecretKey,
    Profile, ProviderConfig, PushedAuthorization, RegistrationConfig, RequestObject,
    SessionStoreKind, SilentRefreshFailure, UserinfoMethod,
};
pub use error::{
    AuthError, BearerError, ClaimsError, ConfigError, ProviderError, StoreError, TokenError,
};
pub use protocol::access_token::AccessTokenInfo;
pub use protocol::dpop::DpopAlgorithm;
pub use protocol::grant::{ClientCredentialsRequest, SubjectToken, TokenExchangeRequest};
pub use protocol::id_token::Claims;
pub use protocol::metadata::ProviderMetadata;
pub use protocol::response::{ResponseMode, ResponseType};
pub use session::model::UserSession;
pub use session::requirement::{
    Acr, AllOf, AnyOf, ClaimContains, ClaimEquals, Decision, HasRole, Literal, MaxAge, Principal,
    Requirement, StepUp,
};
pub use session::server::SessionInfo;
pub use util::url::safe_return_path;
pub use web::app_token::ClientCredentialsGrant;
pub use web::authorized::Authorized;
pub use web::bearer::{BearerToken, OidcAccess};
pub use web::catcher::login_catcher;
pub use web::current_session::CurrentSession;
pub use web::fairing::OpenIdConnect;
pub use web::login_hook::LoginEvent;
pub use web::logout::OidcLogout;
pub use web::logout_hook::{LogoutChannel, SessionEnded};
pub use web::provider::{DefaultProvider, Provider};
pub use web::provider_handle::{ProviderHandle, ProviderResponse};
pub use web::session_admin::OidcSessions;
pub use web::user::OidcUser;

pub use openidconnect;
pub use rocket;
