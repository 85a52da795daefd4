//! Two pages for the tests of several providers: `GET /` needs a login with the `default`
//! provider, `GET /partner` one with the `partner` provider; each answers
//! `<provider>:<subject>`.

use rocket::{get, routes, Route};
use rocket_openidconnect::{provider, OidcUser};

provider!(pub Partner = "partner");

/// Both pages.
pub fn routes() -> Vec<Route> {
    routes![main_page, partner_page]
}

/// The `default` provider's page only.
pub fn main_routes() -> Vec<Route> {
    routes![main_page]
}

#[get("/")]
fn main_page(user: OidcUser) -> String {
    format!("default:{}", user.claims().subject())
}

#[get("/partner")]
fn partner_page(user: OidcUser<Partner>) -> String {
    format!("partner:{}", user.claims().subject())
}
