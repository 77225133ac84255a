// A real OAuth2 / OpenID Connect authorization server for Kiln's auth tests: node-oidc-provider
// (npm `oidc-provider`, pinned in package.json) issuing JWT access tokens by client credentials
// (secret or `private_key_jwt`, as SMART backend services) and by authorization code with PKCE
// (the [code flow] parts: a test user logs in and consents without a page). Nothing here verifies
// tokens: Kiln does.
//
//   import { startAuthServer } from '../auth/authz-server.mjs';
//   const as = await startAuthServer({ audience: 'http://kiln.test/fhir', clients: [...] });
//   const token = await as.token('rs-client', 'system/Patient.rs');
//
// Each client names the JWS algorithm of its access tokens (RS256 or ES256), the scopes it may
// ask for, and extra claims (patient, fhirUser, tenant) added to its tokens. The signing keys are
// generated here at start-up and exposed (`keys`) so tests can also craft tokens of their own with
// the issuer's real keys (expired, wrong audience, ...) and check Kiln refuses them.
//
// Opaque tokens (RFC 7662 introspection): a client with `format: 'opaque'` gets opaque access
// tokens instead of JWTs (oidc-provider's introspection answers only for those), optionally with
// its own lifetime (`ttl`, seconds). A client with `authMethod: 'client_secret_basic'` (e.g. the
// one a resource server introspects as) authenticates with HTTP Basic. `counters.introspection`
// counts introspection calls; `faults.introspection`, when set to a (req, res) function, answers
// them instead of the provider (a broken endpoint); `revoke(token, clientId)` revokes a token.
//
// Run directly (`node tests/auth/authz-server.mjs AUDIENCE`) it serves a demo setup and prints
// its issuer URL.
import http from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

function newKey(kind, kid) {
  const { privateKey, publicKey } = kind === 'RS256'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: kind, use: 'sig' };
  return { kid, alg: kind, privateKey, publicKey, jwk };
}

// A sensible default set of clients for the integration tests.
export const DEFAULT_SCOPES = [
  'openid', 'fhirUser', 'launch', 'launch/patient', 'offline_access',
  'system/*.rs', 'system/*.cruds', 'system/*.read', 'system/*.write', 'system/*.*',
  'user/*.rs', 'user/*.cruds', 'user/*.read', 'user/*.*',
  'patient/*.rs', 'patient/*.read',
];

export async function startAuthServer({ audience, clients, ttl = 300, users = [], login }) {
  const keys = { RS256: newKey('RS256', 'rsa-1'), ES256: newKey('ES256', 'ec-1') };
  const counters = { jwks: 0, discovery: 0, token: 0, introspection: 0 };
  const faults = { introspection: null };
  let handler = (req, res) => { res.statusCode = 503; res.end(); };
  const server = http.createServer((req, res) => {
    const path = req.url.split('?')[0];
    if (path === '/jwks') counters.jwks += 1;
    if (path.startsWith('/.well-known/')) counters.discovery += 1;
    if (path === '/token') counters.token += 1;
    if (path === '/token/introspection') {
      counters.introspection += 1;
      if (faults.introspection) return faults.introspection(req, res);
    }
    handler(req, res);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const byId = new Map(clients.map((c) => [c.id, c]));
  // Every scope any client may ask for is a scope the resource server (Kiln) accepts.
  const allScopes = new Set();
  for (const c of clients) for (const s of c.scopes) allScopes.add(s);

  const provider = new Provider(issuer, {
    clients: clients.map((c) => ({
      client_id: c.id,
      client_secret: `${c.id}-secret`,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: c.authMethod ?? 'client_secret_post',
      scope: c.scopes.join(' '),
      ...codeFlowClientMetadata(c), // [code flow] (see the code-flow block below)
    })),
    jwks: { keys: [keys.RS256.jwk, keys.ES256.jwk] },
    cookies: { keys: ['kiln-test-cookie-key'] },
    // A client's own `ttl` reaches its tokens through the resource server info below.
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl },
    scopes: ['openid', 'offline_access', ...allScopes],
    ...codeFlowConfiguration(users), // [code flow]
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resource, client) => {
          if (resource !== audience) throw new Error(`unknown resource ${resource}`);
          const c = byId.get(client.clientId);
          return {
            scope: [...allScopes].join(' '),
            audience,
            accessTokenTTL: c?.ttl ?? ttl,
            accessTokenFormat: c?.format ?? 'jwt',
            jwt: { sign: { alg: c?.alg ?? 'RS256' } },
          };
        },
      },
    },
    extraTokenClaims: (ctx, token) => {
      const launched = codeFlow.tokenClaims(token); // [code flow]
      if (launched) return { ...byId.get(token.clientId)?.claims, ...launched };
      const c = byId.get(token.clientId);
      return c?.claims ?? undefined;
    },
  });
  provider.on('server_error', (ctx, err) => { console.error('authz-server error:', err); });
  handler = provider.callback();
  const codeFlow = installCodeFlow(provider, { users, login, // [code flow]
    setHandler: (h) => { handler = h; } });

  return {
    issuer,
    keys,
    counters,
    faults,
    introspectionUrl: `${issuer}/token/introspection`,
    // A fresh access token for `clientId` with the given space-separated scope.
    async token(clientId, scope) {
      const body = new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: clientId,
        client_secret: `${clientId}-secret`,
        scope,
        resource: audience,
      });
      const res = await fetch(`${issuer}/token`, { method: 'POST', body });
      const json = await res.json();
      if (res.status !== 200) throw new Error(`token for ${clientId} (${scope}): ${JSON.stringify(json)}`);
      return json.access_token;
    },
    async revoke(token, clientId) {
      const body = new URLSearchParams({ token, client_id: clientId, client_secret: `${clientId}-secret` });
      const res = await fetch(`${issuer}/token/revocation`, { method: 'POST', body });
      if (res.status !== 200) throw new Error(`revoking for ${clientId}: ${res.status} ${await res.text()}`);
    },
    // [code flow] Who the next interactive login is (a `users` id), and the login count.
    loginAs(userId) { codeFlow.loginAs(userId); },
    get logins() { return codeFlow.logins; },
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

// ---- [code flow] authorization code + PKCE, public/confidential/private_key_jwt clients, SMART
// standalone launch. A client opts in with any of:
//   redirectUris: [...]          authorization_code (+ refresh_token) with PKCE S256 (required)
//   public: true                 token_endpoint_auth_method none (else client_secret_basic/post)
//   jwks: { keys: [...] }        private_key_jwt (SMART backend services) for its token requests;
//                                `assertionAlg` (RS384 default, or ES384) is the required alg
// Login and consent are not a page: the interaction URL (/interaction/:uid) logs in the current
// test user (`login`, or `loginAs(id)`; one of `users: [{ id, claims, patient }]`) and grants
// everything the client asked for. `claims` (e.g. fhirUser) come back from findAccount (ID token,
// userinfo) and go into the access token; with the `launch/patient` scope the user's `patient` is
// the launch context: `patient` in the token response and in the access token.
function codeFlowClientMetadata(c) {
  const meta = {};
  if (c.redirectUris) {
    meta.grant_types = ['authorization_code', 'refresh_token'];
    if (c.clientCredentials) meta.grant_types.push('client_credentials');
    meta.response_types = ['code'];
    meta.redirect_uris = c.redirectUris;
    meta.token_endpoint_auth_method = c.public ? 'none' : (c.authMethod ?? 'client_secret_basic');
  }
  if (c.jwks) {
    meta.jwks = c.jwks;
    meta.token_endpoint_auth_method = 'private_key_jwt';
    meta.token_endpoint_auth_signing_alg = c.assertionAlg ?? 'RS384';
  }
  if (meta.token_endpoint_auth_method === 'none' || meta.token_endpoint_auth_method === 'private_key_jwt') {
    meta.client_secret = undefined;
  }
  return meta;
}

function codeFlowConfiguration(users) {
  const byId = new Map(users.map((u) => [u.id, u]));
  const claimNames = [...new Set(users.flatMap((u) => Object.keys(u.claims ?? {})))];
  return {
    findAccount: (ctx, id) => {
      const user = byId.get(id);
      if (!user) return undefined;
      return { accountId: id, claims: () => ({ sub: id, ...user.claims }) };
    },
    // fhirUser (and any other user claim) is released with the scope of the same name.
    claims: { openid: ['sub'], ...Object.fromEntries(claimNames.map((n) => [n, [n]])) },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    clientAuthMethods: ['none', 'client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    enabledJWA: { clientAuthSigningAlgValues: ['RS256', 'RS384', 'ES256', 'ES384'] },
  };
}

function installCodeFlow(provider, { users, login, setHandler }) {
  const byId = new Map(users.map((u) => [u.id, u]));
  const launches = new Map(); // grantId -> { claims, patient }
  const state = { current: login, logins: 0 };

  async function interaction(req, res) {
    try {
      const details = await provider.interactionDetails(req, res);
      const { prompt, params } = details;
      if (prompt.name === 'login') {
        const user = byId.get(state.current);
        if (!user) throw new Error(`no test user to log in (${state.current})`);
        state.logins += 1;
        await provider.interactionFinished(req, res, { login: { accountId: user.id } },
          { mergeWithLastSubmission: false });
        return;
      }
      // consent: grant every scope asked for, and record the launch context.
      const accountId = details.session.accountId;
      const grant = details.grantId
        ? await provider.Grant.find(details.grantId)
        : new provider.Grant({ accountId, clientId: params.client_id });
      const missing = prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
        grant.addResourceScope(resource, scopes.join(' '));
      }
      const grantId = await grant.save();
      const user = byId.get(accountId);
      const requested = String(params.scope ?? '').split(' ');
      launches.set(grantId, {
        claims: user?.claims ?? {},
        patient: requested.includes('launch/patient') ? user?.patient : undefined,
      });
      await provider.interactionFinished(req, res,
        { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true });
    } catch (err) {
      res.statusCode = 400;
      res.setHeader('Content-Type', 'text/plain');
      res.end(`interaction failed: ${err.message}`);
    }
  }

  // `patient` (the launch context) in the token endpoint's response, next to the access token.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.oidc?.route !== 'token' || ctx.status !== 200 || !ctx.body?.access_token) return;
    const launch = launches.get(ctx.oidc.entities?.Grant?.jti);
    if (launch?.patient) ctx.body = { ...ctx.body, patient: launch.patient };
  });

  const handler = provider.callback(); // again: Koa composes the middleware when asked
  setHandler((req, res) => {
    if (req.url.startsWith('/interaction/')) { interaction(req, res); return; }
    handler(req, res);
  });
  return {
    tokenClaims(token) {
      const launch = token.grantId ? launches.get(token.grantId) : undefined;
      if (!launch) return undefined;
      return { ...launch.claims, ...(launch.patient ? { patient: launch.patient } : {}) };
    },
    loginAs(id) { state.current = id; },
    get logins() { return state.logins; },
  };
}
// ---- [end code flow]

if (import.meta.url === `file://${process.argv[1]}`) {
  const audience = process.argv[2] || 'http://127.0.0.1:8080/fhir';
  const as = await startAuthServer({
    audience,
    clients: [
      { id: 'demo-rs', alg: 'RS256', scopes: DEFAULT_SCOPES, claims: { fhirUser: 'Practitioner/demo' } },
      { id: 'demo-es', alg: 'ES256', scopes: DEFAULT_SCOPES, claims: { fhirUser: 'Practitioner/demo' } },
    ],
  });
  console.log(`issuer: ${as.issuer}`);
  console.log(`token:  curl -s -d grant_type=client_credentials -d client_id=demo-rs -d client_secret=demo-rs-secret -d 'scope=system/*.rs' -d resource=${audience} ${as.issuer}/token`);
}
