// A real OAuth2 / OpenID Connect authorization server for Kiln's auth tests: node-oidc-provider
// (npm `oidc-provider`, pinned in package.json) issuing JWT access tokens by client credentials,
// the way a SMART backend-services deployment would. Nothing here verifies tokens: Kiln does.
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

export async function startAuthServer({ audience, clients, ttl = 300 }) {
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
    })),
    jwks: { keys: [keys.RS256.jwk, keys.ES256.jwk] },
    cookies: { keys: ['kiln-test-cookie-key'] },
    // A client's own `ttl` reaches its tokens through the resource server info below.
    ttl: { ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL ?? ttl },
    scopes: ['openid', 'offline_access', ...allScopes],
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
      const c = byId.get(token.clientId);
      return c?.claims ?? undefined;
    },
  });
  provider.on('server_error', (ctx, err) => { console.error('authz-server error:', err); });
  handler = provider.callback();

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
    close() {
      server.closeAllConnections?.();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

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
