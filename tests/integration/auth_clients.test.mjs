// SMART clients against a real authorization server (oidc-provider, tests/auth/authz-server.mjs)
// and the real Kiln: the authorization code flow with PKCE driven by hand with fetch, a standalone
// launch by the official SMART JavaScript client (npm `fhirclient`, with its node adapter) running
// as a tiny node web app, and SMART backend services authenticating with `private_key_jwt`.
// Kiln runs with its real URL as --base-url here, because fhirclient discovers the authorization
// server from Kiln's own `.well-known/smart-configuration` and then talks to Kiln at that URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { createRequire } from 'node:module';
import { createHash, generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { startAuthServer } from '../auth/authz-server.mjs';
import { startKiln } from './lib/kiln.mjs';
import { bearer, craft, nowSeconds } from './lib/auth.mjs';
import { Browser } from './lib/browser.mjs';

const require = createRequire(import.meta.url);
const smart = require('fhirclient'); // the node entry: smart(req, res, storage)

const RAW_CALLBACK = 'http://127.0.0.1:9/callback'; // never fetched: the code is read off the redirect
const LAUNCH_SCOPE = 'openid fhirUser launch/patient patient/*.rs';

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

function jwtPayload(token) {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString());
}

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

// Backend-services client keys: the AS knows only the public halves (the client's JWKS).
function backendKey(kind, kid) {
  const { privateKey, publicKey } = kind === 'RS384'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 })
    : generateKeyPairSync('ec', { namedCurve: 'P-384' });
  return { privateKey, jwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: kind, use: 'sig' } };
}
const rsKey = backendKey('RS384', 'backend-rs-1');
const esKey = backendKey('ES384', 'backend-es-1');
const strangerKey = backendKey('RS384', 'backend-rs-1'); // same kid, not the registered key

let as;
let kiln;
let base; // Kiln's real base URL (the tokens' audience)
let app; // the fhirclient SMART app
let appOrigin;
let adminToken;

const H = (t) => bearer(t);

// The SMART app: /launch starts a standalone launch (fhirclient's authorize), /app is its
// redirect_uri (fhirclient's ready), which then reads from Kiln and answers what it saw as JSON.
function startSmartApp() {
  const sessions = new Map();
  const storage = {
    async get(key) { return sessions.get(key); },
    async set(key, value) { sessions.set(key, value); return value; },
    async unset(key) { return sessions.delete(key); },
  };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://app');
    try {
      if (url.pathname === '/launch') {
        await smart(req, res, storage).authorize({
          iss: url.searchParams.get('iss'),
          clientId: url.searchParams.get('client_id'),
          clientSecret: url.searchParams.get('client_secret') ?? undefined,
          scope: LAUNCH_SCOPE,
          redirectUri: '/app',
          pkceMode: 'required',
        });
        return;
      }
      if (url.pathname === '/app') {
        const client = await smart(req, res, storage).ready();
        const status = async (p) => {
          try { await p; return 200; } catch (e) { return e.status ?? e.statusCode ?? String(e); }
        };
        const patient = await client.patient.read();
        const obs = await client.request(`Observation?patient=${client.patient.id}`);
        const allObs = await client.request('Observation');
        const otherObs = await client.request('Observation?subject=Patient/p2');
        const result = {
          patientId: client.patient.id,
          patient,
          fhirUser: client.user.fhirUser,
          tokenUri: client.state.tokenUri,
          serverUrl: client.state.serverUrl,
          accessToken: client.state.tokenResponse.access_token,
          observations: (obs.entry ?? []).map((e) => e.resource.id).sort(),
          allObservations: (allObs.entry ?? []).map((e) => e.resource.id).sort(),
          otherObservations: (otherObs.entry ?? []).map((e) => e.resource.id),
          otherPatientRead: await status(client.request('Patient/p2')),
          otherObservationRead: await status(client.request('Observation/o2')),
          otherCompartment: await status(client.request('Patient/p2/Observation')),
        };
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify(result));
        return;
      }
      res.statusCode = 404;
      res.end();
    } catch (err) {
      res.statusCode = 500;
      res.setHeader('Content-Type', 'text/plain');
      res.end(`smart app: ${err.stack}`);
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

before(async () => {
  app = await startSmartApp();
  appOrigin = `http://127.0.0.1:${app.address().port}`;
  const port = await freePort();
  base = `http://127.0.0.1:${port}/fhir`;
  const launchScopes = ['openid', 'fhirUser', 'launch/patient', 'patient/*.rs', 'user/*.rs'];
  as = await startAuthServer({
    audience: base,
    users: [
      { id: 'dr-who', claims: { fhirUser: 'Practitioner/doc-1' }, patient: 'p1' },
      { id: 'pat-two', claims: { fhirUser: 'Patient/p2' }, patient: 'p2' },
    ],
    login: 'dr-who',
    clients: [
      { id: 'admin', alg: 'RS256', scopes: ['system/*.cruds'] },
      { id: 'public-app', alg: 'RS256', public: true, scopes: launchScopes,
        redirectUris: [RAW_CALLBACK, `${appOrigin}/app`] },
      { id: 'confidential-app', alg: 'ES256', scopes: launchScopes,
        redirectUris: [RAW_CALLBACK, `${appOrigin}/app`] },
      { id: 'backend-rs', alg: 'RS256', scopes: ['system/*.rs'], jwks: { keys: [rsKey.jwk] },
        assertionAlg: 'RS384' },
      { id: 'backend-es', alg: 'ES256', scopes: ['system/Observation.rs'], jwks: { keys: [esKey.jwk] },
        assertionAlg: 'ES384' },
    ],
  });
  kiln = await startKiln({
    args: ['--port', String(port), '--base-url', base, '--auth', 'smart', '--auth-issuer', as.issuer],
  });
  adminToken = await as.token('admin', 'system/*.cruds');
  const put = async (resource) => {
    const r = await kiln.request('PUT', `/${resource.resourceType}/${resource.id}`,
      { headers: H(adminToken), body: resource });
    assert.ok(r.status === 201 || r.status === 200, `${resource.id}: ${r.status} ${r.text}`);
  };
  await put({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] });
  await put({ resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }] });
  await put({ resourceType: 'Practitioner', id: 'doc-1', name: [{ family: 'Doc' }] });
  await put({ resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'weight' },
    subject: { reference: 'Patient/p1' } });
  await put({ resourceType: 'Observation', id: 'o1b', status: 'final', code: { text: 'pulse' },
    subject: { reference: 'Patient/p1' } });
  await put({ resourceType: 'Observation', id: 'o2', status: 'final', code: { text: 'height' },
    subject: { reference: 'Patient/p2' } });
});

after(async () => {
  await kiln?.stop();
  kiln?.cleanup();
  await as?.close();
  app?.closeAllConnections?.();
  await new Promise((resolve) => (app ? app.close(resolve) : resolve()));
});

// ---- (a) authorization code + PKCE by hand ----

// authorize -> interaction (login, consent) -> redirect_uri?code=...; resolves the callback's
// query parameters.
async function authorize({ clientId, scope = LAUNCH_SCOPE, challenge, method = 'S256',
  browser = new Browser() }) {
  const q = new URLSearchParams({
    response_type: 'code', client_id: clientId, redirect_uri: RAW_CALLBACK, scope,
    state: randomUUID(), resource: base,
  });
  if (challenge) { q.set('code_challenge', challenge); q.set('code_challenge_method', method); }
  const { url, res } = await browser.browse(`${as.issuer}/auth?${q}`,
    { stop: (u) => u.startsWith(RAW_CALLBACK) });
  assert.ok(!res, `the flow ended at ${url} (${res?.status}) instead of the callback:\n${browser.visited.join('\n')}`);
  const params = new URL(url).searchParams;
  if (!params.get('error')) assert.equal(params.get('state'), q.get('state'));
  return params;
}

async function exchange({ code, verifier, clientId, secret }) {
  const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: RAW_CALLBACK });
  if (verifier !== undefined) body.set('code_verifier', verifier);
  const headers = {};
  if (secret) headers.Authorization = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
  else body.set('client_id', clientId);
  const res = await fetch(`${as.issuer}/token`, { method: 'POST', body, headers });
  return { status: res.status, json: await res.json() };
}

test('code + PKCE (public client): login and consent, then the token reads the launched patient from Kiln', async () => {
  const { verifier, challenge } = pkcePair();
  const loginsBefore = as.logins;
  const cb = await authorize({ clientId: 'public-app', challenge });
  assert.equal(as.logins, loginsBefore + 1, 'the test user logged in through the interaction');
  const code = cb.get('code');
  assert.ok(code, `no code: ${cb}`);
  const t = await exchange({ code, verifier, clientId: 'public-app' });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  assert.equal(t.json.token_type, 'Bearer');
  assert.equal(t.json.patient, 'p1', 'the launch context is in the token response');
  assert.ok(t.json.id_token, 'openid was asked for');
  assert.deepEqual(t.json.scope.split(' ').sort(), LAUNCH_SCOPE.split(' ').sort());
  const claims = jwtPayload(t.json.access_token);
  assert.equal(claims.iss, as.issuer);
  assert.equal(claims.aud, base);
  assert.equal(claims.patient, 'p1');
  assert.equal(claims.fhirUser, 'Practitioner/doc-1');
  assert.equal(claims.client_id, 'public-app');
  assert.equal(jwtPayload(t.json.id_token).fhirUser, 'Practitioner/doc-1', 'findAccount claims in the ID token');

  const token = t.json.access_token;
  const p1 = await kiln.request('GET', '/Patient/p1', { headers: H(token) });
  assert.equal(p1.status, 200, p1.text);
  assert.equal(p1.json.name[0].family, 'One');
  const obs = await kiln.request('GET', '/Observation', { headers: H(token) });
  assert.equal(obs.status, 200, obs.text);
  assert.deepEqual(obs.json.entry.map((e) => e.resource.id).sort(), ['o1', 'o1b']);
  assert.equal((await kiln.request('GET', '/Patient/p2', { headers: H(token) })).status, 404);
  assert.equal((await kiln.request('GET', '/Observation/o2', { headers: H(token) })).status, 404);
  const write = await kiln.request('PUT', '/Observation/o1', { headers: H(token),
    body: { resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'x' },
      subject: { reference: 'Patient/p1' } } });
  assert.equal(write.status, 403, 'patient/*.rs does not write');

  // The same code again: refused (codes are single use).
  const again = await exchange({ code, verifier, clientId: 'public-app' });
  assert.equal(again.status, 400);
  assert.equal(again.json.error, 'invalid_grant');
});

test('code + PKCE: a wrong or missing code_verifier is refused by the authorization server', async () => {
  const { challenge } = pkcePair();
  const cb = await authorize({ clientId: 'public-app', challenge });
  const wrong = await exchange({ code: cb.get('code'), verifier: pkcePair().verifier, clientId: 'public-app' });
  assert.equal(wrong.status, 400, JSON.stringify(wrong.json));
  assert.equal(wrong.json.error, 'invalid_grant');
  assert.equal(wrong.json.access_token, undefined);

  const cb2 = await authorize({ clientId: 'public-app', challenge });
  const missing = await exchange({ code: cb2.get('code'), clientId: 'public-app' });
  assert.equal(missing.status, 400, JSON.stringify(missing.json));
  assert.equal(missing.json.access_token, undefined);

  // No code_challenge at all (PKCE is required), or the plain method: no code is issued.
  const none = await authorize({ clientId: 'public-app' });
  assert.equal(none.get('code'), null);
  assert.equal(none.get('error'), 'invalid_request');
  const plain = await authorize({ clientId: 'public-app', challenge: 'a'.repeat(43), method: 'plain' });
  assert.equal(plain.get('code'), null);
  assert.equal(plain.get('error'), 'invalid_request');
});

test('code + PKCE (confidential client): the secret is required at the token endpoint', async () => {
  const { verifier, challenge } = pkcePair();
  const cb = await authorize({ clientId: 'confidential-app', challenge });
  const noSecret = await exchange({ code: cb.get('code'), verifier, clientId: 'confidential-app' });
  assert.equal(noSecret.status, 401, JSON.stringify(noSecret.json));
  assert.equal(noSecret.json.error, 'invalid_client');

  const cb2 = await authorize({ clientId: 'confidential-app', challenge });
  const badSecret = await exchange({ code: cb2.get('code'), verifier, clientId: 'confidential-app',
    secret: 'not-the-secret' });
  assert.equal(badSecret.status, 401);

  const cb3 = await authorize({ clientId: 'confidential-app', challenge });
  const t = await exchange({ code: cb3.get('code'), verifier, clientId: 'confidential-app',
    secret: 'confidential-app-secret' });
  assert.equal(t.status, 200, JSON.stringify(t.json));
  assert.equal(t.json.patient, 'p1');
  const r = await kiln.request('GET', '/Patient/p1/Observation', { headers: H(t.json.access_token) });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(r.json.entry.map((e) => e.resource.id).sort(), ['o1', 'o1b']);
  const other = await kiln.request('GET', '/Patient/p2/Observation', { headers: H(t.json.access_token) });
  assert.equal(other.status, 403, other.text);
});

test('code + PKCE: a patient user without launch/patient gets user/ scopes limited to its own compartment', async () => {
  as.loginAs('pat-two');
  try {
    const { verifier, challenge } = pkcePair();
    const cb = await authorize({ clientId: 'public-app', challenge, scope: 'openid fhirUser user/*.rs' });
    const t = await exchange({ code: cb.get('code'), verifier, clientId: 'public-app' });
    assert.equal(t.status, 200, JSON.stringify(t.json));
    assert.equal(t.json.patient, undefined, 'no launch/patient, no launch context');
    const claims = jwtPayload(t.json.access_token);
    assert.equal(claims.fhirUser, 'Patient/p2');
    assert.equal(claims.patient, undefined);
    const obs = await kiln.request('GET', '/Observation', { headers: H(t.json.access_token) });
    assert.equal(obs.status, 200, obs.text);
    assert.deepEqual(obs.json.entry.map((e) => e.resource.id), ['o2']);
    assert.equal((await kiln.request('GET', '/Observation/o1', { headers: H(t.json.access_token) })).status, 404);
  } finally {
    as.loginAs('dr-who');
  }
});

// ---- (b) fhirclient standalone launch ----

async function launchWithFhirclient(query) {
  const browser = new Browser();
  const q = new URLSearchParams({ iss: base, ...query });
  const { url, res } = await browser.browse(`${appOrigin}/launch?${q}`);
  const text = await res.text();
  assert.equal(res.status, 200, `${url}: ${text}\n${browser.visited.join('\n')}`);
  return { result: JSON.parse(text), visited: browser.visited };
}

test('fhirclient: a standalone launch (public client) discovers the AS from Kiln and reads the launched patient', async () => {
  const discoveryBefore = as.counters.token;
  const { result, visited } = await launchWithFhirclient({ client_id: 'public-app' });
  // The app went to the authorization endpoint Kiln advertises, through the interaction, and back.
  assert.ok(visited.some((v) => v.includes(`${as.issuer}/auth?`)), visited.join('\n'));
  assert.ok(visited.some((v) => v.includes('code_challenge_method=S256')), 'fhirclient used PKCE S256');
  assert.ok(visited.some((v) => v.includes(`${as.issuer}/interaction/`)));
  assert.ok(as.counters.token > discoveryBefore, 'the app exchanged its code at the token endpoint');
  const smartConfig = await kiln.request('GET', '/.well-known/smart-configuration');
  assert.equal(result.tokenUri, smartConfig.json.token_endpoint);
  assert.equal(result.tokenUri, `${as.issuer}/token`);
  assert.equal(result.serverUrl, base);

  assert.equal(result.patientId, 'p1');
  assert.equal(result.patient.resourceType, 'Patient');
  assert.equal(result.patient.id, 'p1');
  assert.equal(result.patient.name[0].family, 'One');
  assert.equal(result.fhirUser, 'Practitioner/doc-1');
  assert.deepEqual(result.observations, ['o1', 'o1b']);
  assert.deepEqual(result.allObservations, ['o1', 'o1b'], 'a search without a patient is narrowed to p1');
  assert.deepEqual(result.otherObservations, [], "another patient's Observations are filtered out");
  assert.equal(result.otherPatientRead, 404);
  assert.equal(result.otherObservationRead, 404);
  assert.equal(result.otherCompartment, 403);
  assert.equal(jwtPayload(result.accessToken).patient, 'p1');
});

test('fhirclient: a standalone launch with a confidential client (client secret)', async () => {
  const { result } = await launchWithFhirclient({
    client_id: 'confidential-app', client_secret: 'confidential-app-secret' });
  assert.equal(result.patientId, 'p1');
  assert.equal(result.patient.id, 'p1');
  assert.deepEqual(result.observations, ['o1', 'o1b']);
  assert.equal(result.otherPatientRead, 404);
});

test('fhirclient: a patient logging in launches with its own record only', async () => {
  as.loginAs('pat-two');
  try {
    const { result } = await launchWithFhirclient({ client_id: 'public-app' });
    assert.equal(result.patientId, 'p2');
    assert.equal(result.patient.name[0].family, 'Two');
    assert.deepEqual(result.allObservations, ['o2']);
    assert.equal(result.otherPatientRead, 200, 'Patient/p2 is this launch\'s own patient');
    assert.equal(result.otherObservationRead, 200);
  } finally {
    as.loginAs('dr-who');
  }
});

// ---- SMART backend services: private_key_jwt ----

function assertion({ clientId, key, alg, kid, aud = `${as.issuer}/token`, jti = randomUUID(), exp }) {
  const now = nowSeconds();
  return craft({ alg, typ: 'JWT', kid },
    { iss: clientId, sub: clientId, aud, jti, iat: now, exp: exp ?? now + 240 }, key);
}

async function backendToken(clientId, scope, clientAssertion) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials', scope,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: clientAssertion,
  });
  const res = await fetch(`${as.issuer}/token`, { method: 'POST', body });
  return { status: res.status, json: await res.json() };
}

test('backend services: private_key_jwt (RS384 and ES384) gets a system/ token that searches Kiln', async () => {
  const rs = await backendToken('backend-rs', 'system/*.rs',
    assertion({ clientId: 'backend-rs', key: rsKey.privateKey, alg: 'RS384', kid: 'backend-rs-1' }));
  assert.equal(rs.status, 200, JSON.stringify(rs.json));
  assert.equal(rs.json.scope, 'system/*.rs');
  const claims = jwtPayload(rs.json.access_token);
  assert.equal(claims.aud, base);
  assert.equal(claims.client_id, 'backend-rs');
  const all = await kiln.request('GET', '/Observation?_count=50', { headers: H(rs.json.access_token) });
  assert.equal(all.status, 200, all.text);
  assert.deepEqual(all.json.entry.map((e) => e.resource.id).sort(), ['o1', 'o1b', 'o2']);
  const pats = await kiln.request('GET', '/Patient?name=Two', { headers: H(rs.json.access_token) });
  assert.deepEqual(pats.json.entry.map((e) => e.resource.id), ['p2']);
  const write = await kiln.request('DELETE', '/Observation/o1', { headers: H(rs.json.access_token) });
  assert.equal(write.status, 403, 'system/*.rs does not delete');

  const es = await backendToken('backend-es', 'system/Observation.rs',
    assertion({ clientId: 'backend-es', key: esKey.privateKey, alg: 'ES384', kid: 'backend-es-1' }));
  assert.equal(es.status, 200, JSON.stringify(es.json));
  const obs = await kiln.request('GET', '/Observation?subject=Patient/p2', { headers: H(es.json.access_token) });
  assert.equal(obs.status, 200, obs.text);
  assert.deepEqual(obs.json.entry.map((e) => e.resource.id), ['o2']);
  const pat = await kiln.request('GET', '/Patient/p1', { headers: H(es.json.access_token) });
  assert.equal(pat.status, 403, 'only Observation was granted');
});

test('backend services: bad client assertions are refused by the authorization server', async () => {
  const cases = {
    'signed with another key (same kid)': assertion({ clientId: 'backend-rs', key: strangerKey.privateKey,
      alg: 'RS384', kid: 'backend-rs-1' }),
    'another client\'s key': assertion({ clientId: 'backend-rs', key: esKey.privateKey,
      alg: 'ES384', kid: 'backend-es-1' }),
    'an algorithm other than the registered one': assertion({ clientId: 'backend-rs', key: rsKey.privateKey,
      alg: 'RS256', kid: 'backend-rs-1' }),
    'expired': assertion({ clientId: 'backend-rs', key: rsKey.privateKey, alg: 'RS384', kid: 'backend-rs-1',
      exp: nowSeconds() - 600 }),
    'wrong audience': assertion({ clientId: 'backend-rs', key: rsKey.privateKey, alg: 'RS384',
      kid: 'backend-rs-1', aud: 'https://elsewhere.example/token' }),
    'tampered signature': (() => {
      const a = assertion({ clientId: 'backend-rs', key: rsKey.privateKey, alg: 'RS384', kid: 'backend-rs-1' });
      const sig = Buffer.from(a.split('.')[2], 'base64url');
      sig[10] ^= 1;
      return `${a.split('.').slice(0, 2).join('.')}.${sig.toString('base64url')}`;
    })(),
  };
  for (const [what, a] of Object.entries(cases)) {
    const r = await backendToken('backend-rs', 'system/*.rs', a);
    assert.equal(r.status, 401, `${what}: ${JSON.stringify(r.json)}`);
    assert.equal(r.json.error, 'invalid_client', what);
    assert.equal(r.json.access_token, undefined, what);
  }
  const garbage = await backendToken('backend-rs', 'system/*.rs', 'garbage');
  assert.equal(garbage.status, 400, JSON.stringify(garbage.json));
  assert.equal(garbage.json.access_token, undefined);
  // A replayed assertion (same jti) is refused the second time.
  const once = assertion({ clientId: 'backend-rs', key: rsKey.privateKey, alg: 'RS384', kid: 'backend-rs-1' });
  assert.equal((await backendToken('backend-rs', 'system/*.rs', once)).status, 200);
  assert.equal((await backendToken('backend-rs', 'system/*.rs', once)).status, 401, 'replayed jti');
  // A client secret is no substitute for the assertion.
  const body = new URLSearchParams({ grant_type: 'client_credentials', scope: 'system/*.rs',
    client_id: 'backend-rs', client_secret: 'backend-rs-secret' });
  const res = await fetch(`${as.issuer}/token`, { method: 'POST', body });
  assert.equal(res.status, 401);
});
