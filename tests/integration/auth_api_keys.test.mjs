// API keys (x-api-key) as an extra factor on top of SMART bearer tokens, with a real
// authorization server (tests/auth/authz-server.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthPair, bearer } from './lib/auth.mjs';
import { runKiln, freshDataDir } from './lib/kiln.mjs';

const KEY = 'test-api-key-0123456789';
let dir;
let pair;
let token;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-keys-'));
  writeFileSync(join(dir, 'keys'), `# API keys\n${KEY}\nanother-key-0123456789\n`);
  pair = await startAuthPair({
    clients: [{ id: 'admin', alg: 'RS256', scopes: ['system/*.cruds'] }],
    kilnArgs: ['--api-keys-file', join(dir, 'keys')],
  });
  token = await pair.as.token('admin', 'system/*.cruds');
});

after(async () => {
  await pair?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('every FHIR request needs a valid x-api-key as well as its token', async () => {
  const { kiln } = pair;
  let r = await kiln.request('GET', '/Patient', { headers: bearer(token) });
  assert.equal(r.status, 401);
  assert.match(r.json.issue[0].diagnostics, /x-api-key/);
  r = await kiln.request('GET', '/Patient', { headers: { ...bearer(token), 'x-api-key': 'wrong-key-0123456789' } });
  assert.equal(r.status, 401);
  r = await kiln.request('GET', '/Patient', { headers: { ...bearer(token), 'x-api-key': KEY } });
  assert.equal(r.status, 200, r.text);
  r = await kiln.request('GET', '/Patient', { headers: { 'x-api-key': KEY } });
  assert.equal(r.status, 401, 'the key does not replace the token');
  assert.match(r.json.issue[0].diagnostics, /bearer token is required/);
  r = await kiln.request('GET', '/Patient', { headers: { ...bearer(token), 'x-api-key': 'another-key-0123456789' } });
  assert.equal(r.status, 200);
  // Discovery stays public.
  assert.equal((await kiln.request('GET', '/metadata')).status, 200);
  assert.equal((await kiln.request('GET', '/.well-known/smart-configuration')).status, 200);
});

test('a bad keys file stops start-up with a message naming it', async () => {
  const bad = join(dir, 'bad');
  writeFileSync(bad, 'short\n');
  const r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), '--api-keys-file', bad]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /bad:1: an API key must have at least 16 characters/);
});
