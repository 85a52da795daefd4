//! Routes that list and end a user's server-side sessions (`OidcSessions`), for the tests of
//! server-side sessions: `GET /` (the user's claims), `GET /sessions`, `POST
//! /sessions/<id>/end`, `POST /sessions/end-all`.

use rocket::serde::json::{json, Json, Value};
use rocket::{get, post, routes, Route};
use rocket_openidconnect::{AuthError, OidcSessions, OidcUser};

/// The routes above.
pub fn routes() -> Vec<Route> {
    routes![me, list, end_one, end_all]
}

/// The user's claims, as the example app's `/` gives them (for `browser_logged_in`).
#[get("/")]
fn me(user: OidcUser) -> Json<Value> {
    Json(json!({ "id_token": user.claims() }))
}

/// The handles of the user's sessions (`null` if they are not listed).
#[get("/sessions")]
async fn list(user: OidcUser, sessions: OidcSessions) -> Result<Json<Value>, AuthError> {
    let found = sessions
        .of_user(user.provider(), user.claims().subject())
        .await?;
    Ok(Json(json!(found.map(|list| list
        .iter()
        .map(|s| json!({ "id": s.id, "started_at": s.started_at, "expires_at": s.expires_at }))
        .collect::<Vec<_>>()))))
}

#[post("/sessions/<id>/end")]
async fn end_one(user: OidcUser, sessions: OidcSessions, id: &str) -> Result<String, AuthError> {
    let ended = sessions
        .end(user.provider(), user.claims().subject(), id)
        .await?;
    Ok(ended.to_string())
}

#[post("/sessions/end-all")]
async fn end_all(user: OidcUser, sessions: OidcSessions) -> Result<&'static str, AuthError> {
    sessions
        .end_user(user.provider(), user.claims().subject())
        .await?;
    Ok("ended")
}
