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
//! See the README for the configuration reference.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod admin;
mod backchannel;
mod bearer;
mod bearer_guard;
mod client_credentials;
mod config;
mod cookies;
mod error;
mod fairing;
mod flow;
mod front_channel;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod guard;
mod http;
mod logout;
mod logout_routes;
mod provider;
mod provider_logout_routes;
#[cfg(feature = "redis")]
mod redis_store;
mod refresh;
mod replay;
mod return_to;
mod routes;
mod session;
mod sessions;
mod store;
mod token;

#[cfg(feature = "testing")]
pub mod testing;

pub use admin::OidcSessions;
pub use bearer::{AccessTokenInfo, BearerError};
pub use bearer_guard::{BearerToken, OidcAccess};
pub use client_credentials::ClientCredentialsGrant;
pub use config::{
    AccessTokenValidation, ClientAuthMethod, OidcConfig, ProviderConfig, RegistrationConfig,
    SessionStoreKind, SilentRefreshFailure, UserinfoMethod,
};
pub use error::{AuthError, ConfigError, ProviderError, StoreError, TokenError};
pub use fairing::OpenIdConnect;
pub use front_channel::{ResponseMode, ResponseType};
pub use guard::{DefaultProvider, OidcUser, Provider};
pub use logout_routes::OidcLogout;
pub use provider::ProviderMetadata;
pub use return_to::safe_return_path;
pub use routes::login_catcher;
pub use session::UserSession;
pub use sessions::SessionInfo;
pub use token::Claims;

pub use openidconnect;
pub use rocket;
