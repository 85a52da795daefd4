//! The relying party's public keys (`jwks_path`): the JWK set of `signing_keys` (`use: sig`,
//! for providers that verify its client assertions and signed request objects) and of
//! `encryption_keys` (`use: enc`, for providers that encrypt to it), public parts only.

use rocket::http::{ContentType, Header};
use rocket::response::Responder;
use rocket::{get, routes, Route, State};

use crate::web::runtime::OidcRuntime;

/// The routes mounted at `jwks_path`.
pub(crate) fn jwks_routes() -> Vec<Route> {
    routes![jwks]
}

/// The key set, as JSON; caches may keep it five minutes.
#[derive(Responder)]
struct KeySet {
    body: (ContentType, String),
    cache: Header<'static>,
}

#[get("/")]
fn jwks(runtime: &State<OidcRuntime>) -> KeySet {
    KeySet {
        body: (ContentType::JSON, runtime.rp.keys.public_set().to_string()),
        cache: Header::new("Cache-Control", "public, max-age=300"),
    }
}
