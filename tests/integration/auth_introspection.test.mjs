// Opaque bearer tokens checked by RFC 7662 token introspection (docs/security.md, "Opaque tokens
// and introspection"), against a real authorization server (oidc-provider, tests/auth/
// authz-server.mjs) issuing opaque tokens to some clients and JWTs to others. Kiln authenticates
// to its introspection endpoint as the client `kiln-introspect` (HTTP Basic).
//
// Covered: scopes of an opaque token are enforced like a JWT's (403 beyond them); the patient
// claim from introspection restricts to the compartment; unknown, revoked and expired opaque
// tokens -> 401; answers are cached (one introspection per token) but never past exp; concurrent
// first uses share one call; JWTs are still verified locally; a broken endpoint (500, not JSON,
// no `active`, hanging, wrong client secret, server down) -> 503, never 200; discovery advertises
// the endpoint; an introspection-only Kiln (no issuer) starts and works.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startAuthServer } from '../auth/authz-server.mjs';
import { startKiln, runKiln, freshDataDir } from './lib/kiln.mjs';
import { BASE, bearer } from './lib/auth.mjs';

const CLIENTS = [
  { id: 'op-admin', format: 'opaque', scopes: ['system/*.cruds'] },
  { id: 'op-patients', format: 'opaque', scopes: ['system/Patient.rs'] },
  { id: 'op-patient-ctx', format: 'opaque', scopes: ['patient/*.rs'], claims: { patient: 'pa' } },
  { id: 'op-short', format: 'opaque', ttl: 3, scopes: ['system/*.rs'] },
  { id: 'jwt-rs', alg: 'RS256', scopes: ['system/*.rs'] },
  { id: 'kiln-introspect', authMethod: 'client_secret_basic', scopes: ['openid'] },
];

let as;
let kiln;
const started = [];

async function kilnWith(args, env = {}) {
  const k = await startKiln({ args: ['--auth', 'smart', '--base-url', BASE, ...args], env });
  started.push(k);
  return k;
}

before(async () => {
  as = await startAuthServer({ audience: BASE, clients: CLIENTS });
  // The secret from a file (the documented way to keep it out of the process list).
  const secretFile = join(freshDataDir(), 'introspection-secret');
  writeFileSync(secretFile, 'kiln-introspect-secret\n', { mode: 0o600 });
  kiln = await kilnWith(['--auth-issuer', as.issuer, '--auth-introspection-url', as.introspectionUrl,
    '--auth-introspection-client-id', 'kiln-introspect',
    '--auth-introspection-client-secret-file', secretFile, '--auth-fetch-timeout-ms', '1000']);
  const admin = bearer(await as.token('op-admin', 'system/*.cruds'));
  for (const [path, body] of [
    ['/Patient/pa', { resourceType: 'Patient', id: 'pa' }],
    ['/Patient/pb', { resourceType: 'Patient', id: 'pb' }],
    ['/Observation/oa', { resourceType: 'Observation', id: 'oa', status: 'final', code: { text: 'a' }, subject: { reference: 'Patient/pa' } }],
    ['/Observation/ob', { resourceType: 'Observation', id: 'ob', status: 'final', code: { text: 'b' }, subject: { reference: 'Patient/pb' } }],
  ]) {
    const r = await kiln.request('PUT', path, { headers: admin, body });
    assert.equal(r.status, 201, `seeding ${path}: ${r.text}`);
  }
});

after(async () => {
  for (const k of started) {
    await k.stop();
    k.cleanup();
  }
  await as?.close();
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ids = (bundle) => (bundle.entry ?? []).filter((e) => e.search?.mode !== 'outcome')
  .map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

function assertRefused(r, status, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.resourceType, 'OperationOutcome', what);
  assert.ok(r.json.issue[0].diagnostics.length > 0, what);
  const challenge = r.headers.get('www-authenticate') ?? '';
  if (status === 401) assert.match(challenge, /^Bearer realm=".*", error="invalid_token"/, what);
  if (status === 403) assert.match(challenge, /^Bearer error="insufficient_scope"/, what);
}

// A token string the authorization server never issued, shaped like its opaque tokens.
const randomOpaque = () => crypto.randomBytes(32).toString('base64url');

test('the issued tokens are opaque: not JWTs', async () => {
  const t = await as.token('op-patients', 'system/Patient.rs');
  assert.equal(t.split('.').length, 1, t);
});

test('an opaque token reads and searches as its scopes allow, and no further', async () => {
  const h = bearer(await as.token('op-patients', 'system/Patient.rs'));
  let r = await kiln.request('GET', '/Patient/pa', { headers: h });
  assert.equal(r.status, 200, r.text);
  r = await kiln.request('GET', '/Patient?_count=50', { headers: h });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(ids(r.json).filter((x) => x === 'Patient/pa' || x === 'Patient/pb'), ['Patient/pa', 'Patient/pb']);
  // Included resources of a type the token may not read are dropped (as for JWTs).
  r = await kiln.request('GET', '/Patient?_id=pa&_revinclude=Observation:subject', { headers: h });
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(ids(r.json), ['Patient/pa']);
  for (const [method, path, body] of [
    ['GET', '/Observation/oa'],
    ['GET', '/Observation'],
    ['POST', '/Patient', { resourceType: 'Patient' }],
    ['PUT', '/Patient/pa', { resourceType: 'Patient', id: 'pa' }],
    ['DELETE', '/Patient/pb'],
  ]) {
    assertRefused(await kiln.request(method, path, { headers: h, body }), 403, `${method} ${path}`);
  }
});

test('the patient claim from introspection restricts to the compartment', async () => {
  const h = bearer(await as.token('op-patient-ctx', 'patient/*.rs'));
  const get = (path) => kiln.request('GET', path, { headers: h });
  assert.equal((await get('/Patient/pa')).status, 200);
  assert.equal((await get('/Observation/oa')).status, 200);
  assert.equal((await get('/Patient/pb')).status, 404);
  assert.equal((await get('/Observation/ob')).status, 404);
  let r = await get('/Observation?_count=100');
  assert.equal(r.status, 200, r.text);
  assert.deepEqual(ids(r.json), ['Observation/oa']);
  r = await get('/Patient');
  assert.deepEqual(ids(r.json), ['Patient/pa']);
  assertRefused(await get('/Patient/pb/Observation'), 403, 'other compartment');
});

test('answers are cached: one introspection per token, concurrent first uses share it', async () => {
  const h = bearer(await as.token('op-patients', 'system/Patient.rs'));
  const before = as.counters.introspection;
  for (let i = 0; i < 5; i++) assert.equal((await kiln.request('GET', '/Patient/pa', { headers: h })).status, 200);
  assert.equal(as.counters.introspection - before, 1, 'one call for five requests');

  const fresh = bearer(await as.token('op-patients', 'system/Patient.rs'));
  const mid = as.counters.introspection;
  const rs = await Promise.all(Array.from({ length: 12 }, () => kiln.request('GET', '/Patient/pa', { headers: fresh })));
  for (const r of rs) assert.equal(r.status, 200, r.text);
  assert.equal(as.counters.introspection - mid, 1, 'concurrent first uses share one call');
});

test('JWTs are still verified locally, without introspection', async () => {
  const h = bearer(await as.token('jwt-rs', 'system/*.rs'));
  const before = as.counters.introspection;
  assert.equal((await kiln.request('GET', '/Patient/pa', { headers: h })).status, 200);
  assert.equal(as.counters.introspection, before);
});

test('unknown, revoked and expired opaque tokens are refused with 401', async () => {
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bearer(randomOpaque()) }), 401, 'unknown');
  const unknown = await kiln.request('GET', '/Patient/pa', { headers: bearer(randomOpaque()) });
  assert.match(unknown.json.issue[0].diagnostics, /not active/);

  // Long tokens and token characters that need form encoding reach the endpoint intact.
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bearer(`${'x'.repeat(8000)}+/==`) }), 401, 'long');
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bearer('a+b/c~d') }), 401, 'encoded');

  const revoked = await as.token('op-patients', 'system/Patient.rs');
  await as.revoke(revoked, 'op-patients');
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bearer(revoked) }), 401, 'revoked');

  // A refusal is cached briefly too: the same bad token again costs no call.
  const bad = bearer(randomOpaque());
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bad }), 401, 'bad');
  const n = as.counters.introspection;
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bad }), 401, 'bad again');
  assert.equal(as.counters.introspection, n);
});

test('the cache never outlives the token\'s exp', async () => {
  const short = await as.token('op-short', 'system/*.rs');  // expires in 3 s
  const before = as.counters.introspection;
  assert.equal((await kiln.request('GET', '/Patient/pa', { headers: bearer(short) })).status, 200);
  assert.equal((await kiln.request('GET', '/Patient/pa', { headers: bearer(short) })).status, 200);
  assert.equal(as.counters.introspection - before, 1);
  await sleep(4200);
  // The 60 s cache bound has not passed, but exp has: introspected again, and now inactive.
  assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bearer(short) }), 401, 'expired');
  assert.equal(as.counters.introspection - before, 2);
});

test('a broken introspection endpoint never lets a token in: 503', async () => {
  const faults = [
    ['HTTP 500', (req, res) => { res.writeHead(500); res.end('{"active":true}'); }],
    ['not JSON', (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('<html>oops'); }],
    ['truncated JSON', (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('{"active":true,'); }],
    ['no active member', (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(`{"scope":"system/*.cruds","aud":"${BASE}"}`); }],
    ['active as a string', (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(`{"active":"true","scope":"system/*.cruds","aud":"${BASE}"}`); }],
    ['a JSON array', (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end('[{"active":true}]'); }],
    ['exp as a string', (req, res) => { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(`{"active":true,"exp":"9999999999","scope":"system/*.cruds","aud":"${BASE}"}`); }],
    ['HTTP 401', (req, res) => { res.writeHead(401, { 'Content-Type': 'application/json' }); res.end('{"error":"invalid_client"}'); }],
    ['a redirect', (req, res) => { res.writeHead(302, { Location: 'http://127.0.0.1:1/' }); res.end(); }],
    ['hanging past the timeout', () => {}],
  ];
  try {
    for (const [name, fault] of faults) {
      as.faults.introspection = fault;
      const token = await as.token('op-admin', 'system/*.cruds');
      const r = await kiln.request('GET', '/Patient/pa', { headers: bearer(token) });
      assertRefused(r, 503, name);
      await sleep(1100);  // past the pause after a failure, so the next fault is really asked
    }
    // Well-formed answers that do not allow: 401.
    for (const [name, answer] of [
      ['active without aud', { active: true, scope: 'system/*.cruds' }],
      ['active for another audience', { active: true, scope: 'system/*.cruds', aud: 'https://other.example/fhir' }],
      ['active but expired', { active: true, scope: 'system/*.cruds', aud: BASE, exp: Math.floor(Date.now() / 1000) - 3600 }],
      ['active from another issuer', { active: true, scope: 'system/*.cruds', aud: BASE, iss: 'https://evil.example' }],
      ['active refresh token', { active: true, scope: 'system/*.cruds', aud: BASE, token_type: 'refresh_token' }],
    ]) {
      as.faults.introspection = (req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(answer));
      };
      assertRefused(await kiln.request('GET', '/Patient/pa', { headers: bearer(randomOpaque()) }), 401, name);
    }
  } finally {
    as.faults.introspection = null;
  }
  await sleep(1100);
  const ok = await kiln.request('GET', '/Patient/pa', { headers: bearer(await as.token('op-admin', 'system/*.cruds')) });
  assert.equal(ok.status, 200, `recovered: ${ok.text}`);
});

test('a wrong introspection client secret: 503, never 200', async () => {
  const wrong = await kilnWith(['--auth-issuer', as.issuer, '--auth-introspection-url', as.introspectionUrl,
    '--auth-introspection-client-id', 'kiln-introspect', '--auth-introspection-client-secret', 'wrong']);
  const token = await as.token('op-admin', 'system/*.cruds');
  assertRefused(await wrong.request('GET', '/Patient/pa', { headers: bearer(token) }), 503, 'wrong secret');
  // JWTs do not depend on introspection.
  const jwt = await as.token('jwt-rs', 'system/*.rs');
  assert.equal((await wrong.request('GET', '/Patient', { headers: bearer(jwt) })).status, 200);
});

test('introspection only (no issuer): Kiln starts; secret from the environment', async () => {
  const only = await kilnWith(['--auth-introspection-url', as.introspectionUrl,
    '--auth-introspection-client-id', 'kiln-introspect', '--auth-introspection-cache-seconds', '0'],
  { KILN_AUTH_INTROSPECTION_CLIENT_SECRET: 'kiln-introspect-secret' });
  const h = bearer(await as.token('op-patients', 'system/Patient.rs'));
  const before = as.counters.introspection;
  assert.equal((await only.request('GET', '/Patient', { headers: h })).status, 200);
  assertRefused(await only.request('GET', '/Observation', { headers: h }), 403, 'beyond scope');
  assert.equal(as.counters.introspection - before, 2, 'cache-seconds 0: every request asks');
  assertRefused(await only.request('GET', '/Patient', { headers: bearer(randomOpaque()) }), 401, 'unknown');
  // Without an issuer a JWT cannot be verified locally: it is introspected too, and oidc-provider
  // does not introspect its JWTs, so it is refused; never allowed.
  const jwt = await as.token('jwt-rs', 'system/*.rs');
  assert.notEqual((await only.request('GET', '/Patient', { headers: bearer(jwt) })).status, 200);
  const conf = await only.request('GET', '/.well-known/smart-configuration');
  assert.equal(conf.json.introspection_endpoint, as.introspectionUrl);
});

test('discovery advertises the introspection endpoint', async () => {
  const conf = await kiln.request('GET', '/.well-known/smart-configuration');
  assert.equal(conf.status, 200);
  assert.equal(conf.json.introspection_endpoint, as.introspectionUrl);
  const cap = await kiln.request('GET', '/metadata');
  const uris = cap.json.rest[0].security.extension
    .find((e) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris');
  const introspect = uris.extension.find((e) => e.url === 'introspect');
  assert.equal(introspect?.valueUri, as.introspectionUrl);
});

test('configuration errors are reported at start-up', async () => {
  for (const [args, pattern] of [
    [['--auth-introspection-url', 'http://example.com/introspect'], /https URL \(or http on a loopback/],
    [['--auth-introspection-url', 'ftp://127.0.0.1/x'], /absolute http/],
    [['--auth-introspect-jwts', '--auth-issuer', 'http://127.0.0.1:1'], /needs --auth-introspection-url/],
    [['--auth-introspection-url', 'https://as.example/i', '--auth-introspection-client-secret', 's'], /needs --auth-introspection-client-id/],
    [['--auth-introspection-url', 'https://as.example/i', '--auth-introspection-client-secret-file', '/nonexistent/secret'], /cannot read the file/],
    [['--auth-introspection-url', 'https://as.example/i', '--auth-introspection-cache-seconds', '-1'], /between 0 and 3600/],
    [[], /needs --auth-issuer .* or --auth-introspection-url/],
  ]) {
    const r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), '--auth', 'smart', ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, pattern, args.join(' '));
  }
});

test('a stopped introspection endpoint: 503, never 200', async () => {
  await as.close();
  for (let i = 0; i < 3; i++) {
    const r = await kiln.request('GET', '/Patient/pa', { headers: bearer(randomOpaque()) });
    assertRefused(r, 503, `server down #${i}`);
    await sleep(1100);
  }
  as = undefined;
});
