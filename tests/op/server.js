// A real OpenID Provider (the `oidc-provider` npm package) for the
// rocket_openidconnect end-to-end tests. Development-only: in-memory storage,
// built-in dev login/consent pages (any login + password is accepted),
// quick-start signing keys, plain http on 127.0.0.1.
//
// Environment:
//   OP_PORT                    port to listen on (default 0 = any free port)
//   CLIENT_ID, CLIENT_SECRET   the single registered client
//   REDIRECT_URIS              comma separated, exact-match redirect URIs
//   POST_LOGOUT_REDIRECT_URIS  comma separated (optional)
//   TOKEN_ENDPOINT_AUTH_METHOD default client_secret_basic (or client_secret_post,
//                              client_secret_jwt, private_key_jwt, none)
//   CLIENT_JWKS                the client's public keys (a JWK set as JSON), for
//                              private_key_jwt
//   OP_VERBOSE=1               keep oidc-provider's dev WARNING/NOTICE lines
//   OP_KEEP_RUNNING=1          do not exit on stdin EOF (for the demo)
//   ACCESS_TOKEN_TTL           access token lifetime in seconds (default 3600)
//   BACKCHANNEL_LOGOUT_URI     the client's back-channel logout URI (optional; with sid)
//   RESPONSE_TYPES             comma separated response types of the client (default code),
//                              e.g. `code,id_token,id_token token,code id_token,code token,
//                              code id_token token`; the OP supports these and `code`
//   OP_TLS_CERT, OP_TLS_KEY    PEM files: serve https with this certificate (default http)
//   OP_HOST                    the host name in the issuer (default 127.0.0.1; it always
//                              listens on 127.0.0.1)
//   OP_TLS_CLIENT_CA           PEM file: ask for client certificates issued by this CA
//   OP_PAR                     `off` (no PAR endpoint) or `required` (only pushed requests);
//                              default: offered, not required
//   OP_MTLS_PATHS              comma separated paths (e.g. `/token`) that answer 401 unless
//                              the request came with a client certificate of OP_TLS_CLIENT_CA
//   OP_DPOP_NONCE=1            DPoP server nonces (RFC 9449 8) at every endpoint: a proof
//                              without the current nonce gets `use_dpop_nonce`
//   OP_DPOP_OFF=1              no DPoP at all (proofs ignored, Bearer tokens only)
//   DPOP_BOUND=1               the client's `dpop_bound_access_tokens` (never a Bearer token)
//   OP_MTLS_AUTH=1             mutual-TLS client authentication (RFC 8705, with OP_TLS_CLIENT_CA):
//                              `tls_client_auth` for a certificate with the subject
//                              CLIENT_CERT_SUBJECT (e.g. `CN=app`), certificate-bound access
//                              tokens, and `mtls_endpoint_aliases` under `/mtls`, the paths that
//                              take certificates (logged as `OP mtls.alias <path>`; a certificate
//                              sent to a plain token, userinfo or PAR endpoint is logged as
//                              `OP mtls.plain <path>`)
//   INTROSPECTION_ALG          the client's introspection_signed_response_alg (e.g. RS256):
//                              introspection answers as signed JWTs (RFC 9701) when asked
//   USERINFO_ALG               the client's userinfo_signed_response_alg (e.g. RS256): userinfo
//                              answers are signed JWTs
//   OP_JAR=1                   signed request objects (RFC 9101) required of the client
//   OP_JAR_ENC=ec|rsa          the provider publishes an encryption key of that kind (use: enc;
//                              with an RS256 signing key) and decrypts request objects
//                              (features.encryption)
//   OP_JARM=1                  JWT Secured Authorization Responses (features.jwtResponseModes):
//                              response_mode jwt, query.jwt, fragment.jwt, form_post.jwt
//   AUTHORIZATION_ENC          `alg enc`: the client's authorization_encrypted_response_alg/_enc
//                              (JARM responses signed, then encrypted to CLIENT_JWKS)
//   ID_TOKEN_ENC, USERINFO_ENC `alg enc` (e.g. `RSA-OAEP-256 A256GCM`): the client's
//                              id_token_encrypted_response_alg/_enc (or userinfo_...): ID tokens
//                              (userinfo answers, signed first) encrypted to the client's `use:
//                              enc` key of CLIENT_JWKS (features.encryption)
//   OP_FAPI=2.0                the FAPI 2.0 Security Profile (`features.fapi`), with ES256 and
//                              PS256 signing keys (ID tokens ES256 for the client)
//
// Accounts: any login is an account whose `sub` is the login name; logins starting with
// `admin` are in the groups `admins` and `users`, the others in `users` (scope `groups`). A
// login answers `acr` `urn:example:acr:mfa` when the request asked for it (`acr_values` or an
// essential `acr` claim), except for logins starting with `weak` (who cannot do more), and
// `urn:example:acr:pwd` otherwise.
//
// Prints exactly one stdout line `OP_READY <issuer>` once listening. Exits on stdin EOF,
// SIGTERM and SIGINT.

import * as http from 'node:http';
import * as https from 'node:https';
import * as fs from 'node:fs';
import * as crypto from 'node:crypto';

// oidc-provider prints development warnings (dev keys, dev interactions,
// Node 20 "unsupported runtime", default helper functions) via console.warn and
// console.info -- the latter on stdout. Drop them unless OP_VERBOSE is set, so
// stdout carries only the OP_READY line. This must happen before the import.
if (!process.env.OP_VERBOSE) {
  for (const method of ['info', 'warn']) {
    const original = console[method].bind(console);
    console[method] = (first, ...rest) => {
      if (typeof first === 'string' && first.includes('oidc-provider ')) return;
      original(first, ...rest);
    };
  }
}
const { default: Provider, errors } = await import('oidc-provider');

const ACR_PASSWORD = 'urn:example:acr:pwd';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACR_MFA = 'urn:example:acr:mfa';
const list = (value) => (value || '').split(',').map((s) => s.trim()).filter(Boolean);
const env = process.env;
const clientId = env.CLIENT_ID;
const redirectUris = list(env.REDIRECT_URIS);
if (!clientId || redirectUris.length === 0) {
  console.error('server.js: CLIENT_ID and REDIRECT_URIS are required');
  process.exit(2);
}
const authMethod = env.TOKEN_ENDPOINT_AUTH_METHOD || 'client_secret_basic';
const responseTypes = list(env.RESPONSE_TYPES);
if (responseTypes.length === 0) responseTypes.push('code');
// A response type returning an ID token or access token from the authorization endpoint
// (implicit or hybrid) needs the `implicit` grant type. oidc-provider would add it to the
// client by itself, but only after its redirect URI checks; listing it keeps them honest.
const implicit = responseTypes.some((type) => /(^| )(id_token|token)( |$)/.test(type));

const client = {
  client_id: clientId,
  redirect_uris: redirectUris,
  post_logout_redirect_uris: list(env.POST_LOGOUT_REDIRECT_URIS),
  response_types: responseTypes,
  grant_types: ['authorization_code', 'refresh_token', 'client_credentials', TOKEN_EXCHANGE,
    ...(implicit ? ['implicit'] : [])],
  token_endpoint_auth_method: authMethod,
};
if (!['none', 'private_key_jwt', 'tls_client_auth'].includes(authMethod)) {
  client.client_secret = env.CLIENT_SECRET;
}
if (env.CLIENT_JWKS) client.jwks = JSON.parse(env.CLIENT_JWKS);
if (env.DPOP_BOUND === '1') client.dpop_bound_access_tokens = true;
// Signed userinfo (OIDC Core 5.3.2) with this algorithm.
if (env.USERINFO_ALG) client.userinfo_signed_response_alg = env.USERINFO_ALG;
// Encrypted ID tokens and userinfo answers (OIDC Core 10.2) with these algorithms.
const encryption = {
  ID_TOKEN_ENC: 'id_token', USERINFO_ENC: 'userinfo', AUTHORIZATION_ENC: 'authorization',
};
for (const [name, what] of Object.entries(encryption)) {
  if (!env[name]) continue;
  const [alg, enc] = env[name].split(' ');
  client[`${what}_encrypted_response_alg`] = alg;
  client[`${what}_encrypted_response_enc`] = enc;
}
const encrypting = Object.keys(encryption).some((name) => env[name]) || !!env.OP_JAR_ENC;
// Signed introspection answers (RFC 9701) with this algorithm.
if (env.INTROSPECTION_ALG) client.introspection_signed_response_alg = env.INTROSPECTION_ALG;
const mtlsAuth = env.OP_MTLS_AUTH === '1';
if (mtlsAuth && authMethod === 'tls_client_auth') {
  client.tls_client_auth_subject_dn = env.CLIENT_CERT_SUBJECT;
  client.tls_client_certificate_bound_access_tokens = true;
}
// The client certificate of a request, PEM (mutual TLS).
const peerCertificate = (ctx) => {
  const cert = ctx.req.socket.getPeerCertificate?.();
  if (!cert || !cert.raw) return undefined;
  const body = cert.raw.toString('base64').match(/.{1,64}/g).join('\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
};
const fapi = env.OP_FAPI === '2.0';
if (fapi) client.id_token_signed_response_alg = 'ES256';

// FAPI 2.0 allows PS256, ES256 and EdDSA only: an EC key made for this run, and the RSA key
// of tests/fixtures/op-ps256.pem (made once: RSA key generation takes a time of its own).
const signingKeys = () => {
  const jwk = (privateKey, alg) => ({
    ...privateKey.export({ format: 'jwk' }),
    alg,
    use: 'sig',
    kid: `${alg.toLowerCase()}-${crypto.randomBytes(4).toString('hex')}`,
  });
  const rsa = fs.readFileSync(new URL('../fixtures/op-ps256.pem', import.meta.url));
  return {
    keys: [
      jwk(crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, 'ES256'),
      jwk(crypto.createPrivateKey(rsa), 'PS256'),
    ],
  };
};
// OP_JAR_ENC: an RS256 signing key (the fixture's RSA key) and an encryption key made now.
const keysWithEncryption = (kind) => {
  const rsa = fs.readFileSync(new URL('../fixtures/op-ps256.pem', import.meta.url));
  const pair = kind === 'rsa'
    ? crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })
    : crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    keys: [
      { ...crypto.createPrivateKey(rsa).export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'sig-rs256' },
      { ...pair.privateKey.export({ format: 'jwk' }), use: 'enc', kid: `enc-${kind}` },
    ],
  };
};
if (env.BACKCHANNEL_LOGOUT_URI) {
  client.backchannel_logout_uri = env.BACKCHANNEL_LOGOUT_URI;
  client.backchannel_logout_session_required = true;
}

// Stop when the parent goes away (stdin EOF) or asks us to. OP_KEEP_RUNNING=1 (the demo)
// ignores stdin.
const stop = () => process.exit(0);
if (!env.OP_KEEP_RUNNING) {
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

// Listen first so that the issuer can carry the actual port.
const tls = env.OP_TLS_CERT && env.OP_TLS_KEY;
const server = tls
  ? https.createServer({
    cert: fs.readFileSync(env.OP_TLS_CERT),
    key: fs.readFileSync(env.OP_TLS_KEY),
    ...(env.OP_TLS_CLIENT_CA ? {
      ca: [fs.readFileSync(env.OP_TLS_CLIENT_CA)],
      requestCert: true,
      // The handshake succeeds without one; the paths of OP_MTLS_PATHS refuse such requests.
      rejectUnauthorized: false,
    } : {}),
  })
  : http.createServer();
server.on('error', (err) => {
  console.error(`server.js: ${err.message}`);
  process.exit(1);
});
await new Promise((resolve) => server.listen(Number(env.OP_PORT || 0), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `${tls ? 'https' : 'http'}://${env.OP_HOST || '127.0.0.1'}:${port}`;

const hour = 60 * 60;
const provider = new Provider(issuer, {
  clients: [client],
  ...(fapi ? { jwks: signingKeys() } : {}),
  ...(env.OP_JAR_ENC ? { jwks: keysWithEncryption(env.OP_JAR_ENC) } : {}),
  ...(mtlsAuth ? {
    clientAuthMethods: ['client_secret_basic', 'client_secret_jwt', 'client_secret_post',
      'private_key_jwt', 'none', 'tls_client_auth'],
  } : {}),
  // Any login is an account whose `sub` is the login name.
  async findAccount(_ctx, sub) {
    return {
      accountId: sub,
      async claims() {
        return {
          sub,
          name: `${sub} Tester`,
          given_name: sub,
          family_name: 'Tester',
          email: `${sub}@example.com`,
          email_verified: true,
          groups: sub.startsWith('admin') ? ['admins', 'users'] : ['users'],
        };
      },
    };
  },
  claims: {
    openid: ['sub'],
    profile: ['name', 'given_name', 'family_name'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  },
  // `api`: the example app's own API (its `/api` route), called with the user's token.
  scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'api'],
  acrValues: [ACR_PASSWORD, ACR_MFA],
  // `code` always stays available (the default for dynamically registered clients).
  responseTypes: [...new Set(['code', ...responseTypes])],
  // Only S256 exists in oidc-provider 9. It consults `required` only when response_type
  // contains `code`, so pure implicit requests (id_token, id_token token) need no PKCE.
  pkce: { required: () => true },
  // Key management for encryption: the ECDH-ES family and RSA-OAEP-256 (not the defaults' dir
  // and AES key wrap with the client secret).
  ...(encrypting ? {
    enabledJWA: {
      idTokenEncryptionAlgValues: ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW', 'RSA-OAEP-256'],
      userinfoEncryptionAlgValues: ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW', 'RSA-OAEP-256'],
      authorizationEncryptionAlgValues: ['ECDH-ES', 'ECDH-ES+A128KW', 'ECDH-ES+A256KW',
        'RSA-OAEP-256'],
    },
  } : {}),
  features: {
    devInteractions: { enabled: true },
    ...(encrypting ? { encryption: { enabled: true } } : {}),
    // The `claims` request parameter: an essential `acr` makes a session of a lower level log
    // in again (step-up).
    claimsParameter: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    // Ending a session at the provider POSTs logout tokens to the clients that have a
    // back-channel logout URI (OpenID Connect Back-Channel Logout 1.0).
    backchannelLogout: { enabled: true },
    revocation: { enabled: true },
    // Pushed authorization requests (RFC 9126): on by default; OP_PAR=off turns them off,
    // OP_PAR=required makes them the only way in.
    pushedAuthorizationRequests: {
      enabled: env.OP_PAR !== 'off',
      requirePushedAuthorizationRequests: env.OP_PAR === 'required',
    },
    introspection: { enabled: true },
    userinfo: { enabled: true },
    // DPoP (RFC 9449): on by default; OP_DPOP_NONCE=1 adds server nonces, required at every
    // endpoint that takes a proof.
    dPoP: {
      enabled: env.OP_DPOP_OFF !== '1',
      ...(env.OP_DPOP_NONCE === '1' ? {
        nonceSecret: crypto.createHash('sha256').update('test-op-dpop-nonce').digest(),
        requireNonce: () => true,
      } : {}),
    },
    ...(fapi ? { fapi: { enabled: true, profile: '2.0' } } : {}),
    ...(env.USERINFO_ALG || env.USERINFO_ENC ? { jwtUserinfo: { enabled: true } } : {}),
    ...(env.INTROSPECTION_ALG ? { jwtIntrospection: { enabled: true } } : {}),
    ...(env.OP_JARM === '1' ? { jwtResponseModes: { enabled: true } } : {}),
    ...(env.OP_JAR === '1' ? {
      requestObjects: { enabled: true, requireSignedRequestObject: true },
    } : {}),
    ...(mtlsAuth ? {
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        getCertificate: peerCertificate,
        certificateAuthorized: (ctx) => ctx.req.socket.authorized === true,
        certificateSubjectMatches(ctx, property, expected) {
          const pem = peerCertificate(ctx);
          if (!pem || property !== 'tls_client_auth_subject_dn') return false;
          return new crypto.X509Certificate(pem).subject.split('\n').join(',') === expected;
        },
      },
    } : {}),
    // Dynamic client registration (open: no initial access token), and its management
    // (RFC 7592: read, update, delete with the registration access token).
    registration: { enabled: true },
    registrationManagement: { enabled: true, rotateRegistrationAccessToken: false },
    // The application as a client of APIs: client credentials, and access tokens for two
    // resource servers, one with JWT access tokens (RFC 9068), one with opaque ones
    // (introspection).
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => undefined,
      useGrantedResource: () => true,
      async getResourceServerInfo(_ctx, resource) {
        const formats = { 'https://api.example/jwt': 'jwt', 'https://api.example/opaque': 'opaque' };
        if (!formats[resource]) throw new errors.InvalidTarget();
        return {
          scope: 'api read',
          audience: resource,
          accessTokenFormat: formats[resource],
          ...(formats[resource] === 'jwt' ? { jwt: { sign: { alg: 'RS256' } } } : {}),
        };
      },
    },
  },
  // Refresh tokens: oidc-provider's default issueRefreshToken already issues one when
  // the granted scope has offline_access, which (per OIDC Core) it only keeps when the
  // authorization request also has prompt=consent.
  cookies: { keys: ['rocket-openidconnect-test-op-cookie-key'] },
  ttl: {
    AccessToken: Number(env.ACCESS_TOKEN_TTL) || hour,
    AuthorizationCode: 10 * 60,
    IdToken: hour,
    RefreshToken: 24 * hour,
    Interaction: hour,
    Session: 24 * hour,
    Grant: 24 * hour,
  },
  // Outgoing requests (back-channel logout tokens) go to the relying party on loopback,
  // which oidc-provider's SSRF protection refuses ("special-use IP address"): this test OP
  // drops that protection. Never do this in a real provider.
  async fetch(url, options) {
    const { dispatcher: _ssrfProtection, ...rest } = options;
    return globalThis.fetch(url, rest);
  },
  // Plain JSON errors in the browser-facing endpoints are easier to read in test output.
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
});

// Errors go to stderr (the Rust harness collects it for failure messages).
for (const event of ['server_error', 'authorization.error', 'grant.error', 'end_session.error',
  'userinfo.error', 'introspection.error', 'revocation.error', 'jwks.error', 'discovery.error',
  'registration_create.error', 'backchannel.error']) {
  provider.on(event, (_ctx, err) => {
    const cause = err?.cause ? ` [${err.cause.code || err.cause.message}]` : '';
    console.error(`OP ${event}: ${err?.message}${err?.error_description ? ` (${err.error_description})` : ''}${cause}`);
  });
}

// Each back-channel logout delivered, so that tests can see it.
provider.on('backchannel.success', (_ctx, client) => {
  console.error(`OP backchannel.success ${client.clientId}`);
});

// Each pushed authorization request accepted, with its parameters, so that tests can see
// what the browser no longer carries.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'pushed_authorization_request' && ctx.status === 201) {
    console.error(`OP par ${ctx.body?.request_uri} ${JSON.stringify(ctx.oidc.params)}`);
  }
});

// Each request that came with a DPoP proof: the endpoint, the status and the error or token
// type, so that tests can see nonce challenges and bound tokens.
provider.use(async (ctx, next) => {
  await next();
  const route = ctx.oidc?.route;
  if (ctx.get('DPoP') && ['token', 'userinfo', 'revocation', 'pushed_authorization_request'].includes(route)) {
    const what = ctx.body?.error || ctx.body?.token_type || '-';
    console.error(`OP dpop ${route} ${ctx.status} ${what}`);
  }
});

// Each accepted token revocation (the client authenticated), so that tests can see it.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'revocation' && ctx.status === 200) {
    console.error(`OP revocation.success ${ctx.oidc.client?.clientId}`);
  }
});

// Each read, update and deletion of a registration (RFC 7592), with its status.
provider.use(async (ctx, next) => {
  await next();
  const route = ctx.oidc?.route;
  if (['client', 'client_update', 'client_delete'].includes(route)) {
    console.error(`OP registration.${route} ${ctx.status}`);
  }
});

// Each dynamic registration, so that tests can count them.
provider.on('registration_create.success', (_ctx, client) => {
  console.error(`OP registration_create.success ${client.clientId}`);
});

// oidc-provider refuses implicit/hybrid web clients whose redirect URIs use http or
// localhost (as OpenID Connect Dynamic Client Registration 1.0 requires). The test RP is
// exactly that, so skip those two checks, and only them, for the static client: this is
// oidc-provider's own development recipe ("Allowing HTTP and/or localhost for implicit
// response type web clients"). `application_type: 'native'` would also be accepted, but it
// changes behaviour: consent on every authorization (prompt=none fails) and loopback
// redirect URIs matching any port.
if (implicit) {
  const { invalidate } = provider.Client.Schema.prototype;
  provider.Client.Schema.prototype.invalidate = function devInvalidate(message, code) {
    if (this.client_id === clientId
      && (code === 'implicit-force-https' || code === 'implicit-forbid-localhost')) return;
    invalidate.call(this, message, code);
  };
}

// The development login pages set no `acr`: give each login the one it earned (see above).
const interactionFinished = provider.interactionFinished.bind(provider);
provider.interactionFinished = async (req, res, result, options) => {
  if (result?.login) {
    const { params } = await provider.interactionDetails(req, res);
    const asked = (params.acr_values || '').split(' ');
    let essential = [];
    try { essential = JSON.parse(params.claims || '{}')?.id_token?.acr?.values || []; } catch { /* none */ }
    const wantsMfa = asked.includes(ACR_MFA) || essential.includes(ACR_MFA);
    const canMfa = !String(result.login.accountId).startsWith('weak');
    result.login.acr = wantsMfa && canMfa ? ACR_MFA : ACR_PASSWORD;
    console.error(`OP login.acr ${result.login.accountId} ${result.login.acr}`);
  }
  return interactionFinished(req, res, result, options);
};

// A token exchange (RFC 8693) for the tests: an opaque access token of the user trades for
// a new one naming the requested audience (logged as `OP token_exchange <sub> <audience>`);
// the audience `refused` is refused (invalid_target).
provider.registerGrantType(TOKEN_EXCHANGE, async (ctx) => {
  const { params } = ctx.oidc;
  if (params.subject_token_type !== 'urn:ietf:params:oauth:token-type:access_token') {
    throw new errors.InvalidRequest('unsupported subject_token_type');
  }
  const subject = await ctx.oidc.provider.AccessToken.find(params.subject_token);
  if (!subject || subject.clientId !== ctx.oidc.client.clientId) {
    throw new errors.InvalidGrant('invalid subject_token');
  }
  if (params.audience === 'refused') throw new errors.InvalidTarget();
  const token = new ctx.oidc.provider.AccessToken({
    accountId: subject.accountId,
    client: ctx.oidc.client,
    grantId: subject.grantId,
    scope: params.scope || subject.scope,
    gty: 'token-exchange',
    extra: { exchanged_for: params.audience },
  });
  const value = await token.save();
  console.error(`OP token_exchange ${subject.accountId} ${params.audience}`);
  ctx.body = {
    access_token: value,
    issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    token_type: 'Bearer',
    expires_in: token.expiration,
  };
}, ['subject_token', 'subject_token_type', 'audience', 'resource', 'scope',
  'requested_token_type'], ['audience', 'resource']);

// Each token issued by the refresh-token grant, with its resource, so that tests can count
// them.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.oidc?.route === 'token' && ctx.status === 200
      && ctx.oidc.params?.grant_type === 'refresh_token') {
    console.error(`OP refresh ${ctx.oidc.params.resource || '-'}`);
  }
});

// Static clients are validated lazily; fail now rather than at the first request.
try {
  await provider.Client.find(clientId);
} catch (err) {
  console.error(`server.js: invalid client configuration: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
  process.exit(1);
}

// Mutual-TLS endpoint aliases (RFC 8705 5): `/mtls/...` is the same endpoint, and the only
// place a certificate is taken; discovery names them.
if (mtlsAuth) {
  const aliased = ['token_endpoint', 'userinfo_endpoint', 'revocation_endpoint',
    'introspection_endpoint', 'pushed_authorization_request_endpoint'];
  provider.use(async (ctx, next) => {
    const certificate = ctx.req.socket.authorized === true;
    if (ctx.path.startsWith('/mtls/')) {
      if (!certificate) {
        ctx.status = 401;
        ctx.type = 'json';
        ctx.body = { error: 'invalid_client', error_description: 'a client certificate is required' };
        return;
      }
      ctx.path = ctx.path.slice('/mtls'.length);
      console.error(`OP mtls.alias ${ctx.path}`);
    } else if (certificate && ['/token', '/me', '/request'].some((p) => ctx.path.startsWith(p))) {
      console.error(`OP mtls.plain ${ctx.path}`);
    }
    await next();
    if (ctx.oidc?.route === 'discovery' && ctx.body) {
      ctx.body.mtls_endpoint_aliases = Object.fromEntries(aliased
        .filter((name) => ctx.body[name])
        .map((name) => [name, ctx.body[name].replace(issuer, `${issuer}/mtls`)]));
    }
  });
}

// Endpoints that require a client certificate (mutual TLS): refused without one.
const mtlsPaths = list(env.OP_MTLS_PATHS);
if (mtlsPaths.length > 0) {
  provider.use(async (ctx, next) => {
    if (mtlsPaths.includes(ctx.path) && !ctx.req.socket.authorized) {
      console.error(`OP mtls.refused ${ctx.path}`);
      ctx.status = 401;
      ctx.type = 'json';
      ctx.body = { error: 'invalid_client', error_description: 'a client certificate is required' };
      return;
    }
    if (mtlsPaths.includes(ctx.path)) console.error(`OP mtls.accepted ${ctx.path}`);
    await next();
  });
}

server.on('request', provider.callback());
process.stdout.write(`OP_READY ${issuer}\n`);
