"""Flask-pyoidc 3.14.3's protected route, for the side-by-side load run (benches/flask/run.sh).

Configured with static provider metadata and client credentials (no network at start). The
bench-only route /bench-login writes the session Flask-pyoidc's decorator accepts (as after a
login), so wrk can drive the protected route with a real Flask session cookie.
"""
import secrets
import time

from flask import Flask, session
from flask_pyoidc import OIDCAuthentication
from flask_pyoidc.provider_configuration import ClientMetadata, ProviderConfiguration, ProviderMetadata
from flask_pyoidc.user_session import UserSession

app = Flask(__name__)
app.config.update(
    SECRET_KEY="benchmark-only-secret-key-0123456789",
    OIDC_REDIRECT_URI="http://127.0.0.1:8091/redirect_uri",
)
provider = ProviderConfiguration(
    provider_metadata=ProviderMetadata(
        issuer="https://op.example",
        authorization_endpoint="https://op.example/authorize",
        token_endpoint="https://op.example/token",
        jwks_uri="https://op.example/jwks",
    ),
    client_metadata=ClientMetadata(client_id="bench", client_secret="bench-secret"),
)
auth = OIDCAuthentication({"default": provider}, app)

GROUPS = ["group-%02d-of-the-organisation" % i for i in range(1, 21)]


@app.route("/ping")
def ping():
    return "pong"


@app.route("/ping/user")
@auth.oidc_auth("default")
def ping_user():
    return "pong"


@app.route("/bench-login")
def bench_login():
    """A session like the one a login leaves (ID token claims, tokens, userinfo)."""
    claims = {"iss": "https://op.example", "sub": "ada", "aud": "bench", "name": "Ada Lovelace",
              "email": "ada@example.com", "groups": GROUPS, "exp": int(time.time()) + 3600,
              "iat": int(time.time())}
    UserSession(session, "default").update(
        access_token=secrets.token_urlsafe(700), id_token=claims,
        id_token_jwt=secrets.token_urlsafe(750),
        userinfo={"sub": "ada", "email": "ada@example.com", "groups": GROUPS},
        refresh_token=secrets.token_urlsafe(48),
    )
    return "logged in"
