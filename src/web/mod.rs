//! The Rocket edge, the only layer that names Rocket: the runtime the fairing manages, the
//! cookies, the responses, the guards ([`OidcUser`](user::OidcUser), bearer tokens, the
//! application's tokens, logout, session administration), the routes (callback, login, logout,
//! logouts started by the provider, the relay page), the 401 catcher and the fairing.
//!
//! Each guard and route reads the request, asks the layers below (the session policy decides,
//! the client talks to the provider), and applies the outcome to the response.

pub(crate) mod app_token;
pub(crate) mod authorized;
pub(crate) mod bearer;
pub(crate) mod callback;
pub(crate) mod catcher;
pub(crate) mod cookies;
pub(crate) mod current_session;
pub(crate) mod downstream;
pub(crate) mod fairing;
pub(crate) mod jwks;
pub(crate) mod login;
pub(crate) mod login_hook;
pub(crate) mod logout;
pub(crate) mod logout_hook;
pub(crate) mod navigation;
pub(crate) mod provider;
pub(crate) mod provider_handle;
pub(crate) mod provider_logout;
pub(crate) mod relay;
pub(crate) mod response;
pub(crate) mod runtime;
pub(crate) mod session_admin;
pub(crate) mod session_jar;
pub(crate) mod user;
pub(crate) mod verdict;
