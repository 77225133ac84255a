// Auth mode "groups" (FHIR Works on AWS' Cognito role groups) with a real authorization server
// (oidc-provider, tests/auth/authz-server.mjs) putting groups in its tokens: FHIR Works' default
// rule set (practitioner, non-practitioner, auditor), a custom rules file, every path that reads
// or writes (bundle entries, includes, chains, _has, histories), tokens without groups and forged
// ones; then the rules files Kiln must refuse, and the user-context rules file of mode "smart".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthPair, bearer, BASE, craft, b64u, nowSeconds } from './lib/auth.mjs';
import { runKiln, freshDataDir } from './lib/kiln.mjs';

const G = 'cognito:groups';
const CLIENTS = [
  { id: 'practitioner', alg: 'RS256', scopes: ['openid'], claims: { [G]: ['practitioner'] } },
  { id: 'non-practitioner', alg: 'ES256', scopes: ['openid'], claims: { [G]: ['non-practitioner'] } },
  { id: 'auditor', alg: 'RS256', scopes: ['openid'], claims: { [G]: ['auditor'] } },
  { id: 'auditor-string', alg: 'RS256', scopes: ['openid'], claims: { [G]: 'auditor' } },
  { id: 'two-groups', alg: 'RS256', scopes: ['openid'],
    claims: { [G]: ['unknown', 'auditor', 'non-practitioner'] } },
  { id: 'unknown-group', alg: 'RS256', scopes: ['openid'], claims: { [G]: ['admin', 'Practitioner'] } },
  { id: 'no-groups', alg: 'RS256', scopes: ['openid'] },
  // SMART scopes mean nothing in groups mode.
  { id: 'scopes-only', alg: 'RS256', scopes: ['system/*.cruds'] },
  // For the custom rules file (groups in another claim).
  { id: 'clerk', alg: 'RS256', scopes: ['openid'], claims: { roles: ['clerk'] } },
  { id: 'lab', alg: 'RS256', scopes: ['openid'], claims: { roles: ['lab'] } },
];

let pair;
let kiln;
const tokens = {};
const H = (client) => bearer(tokens[client]);
let dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kiln-groups-'));
  pair = await startAuthPair({ clients: CLIENTS, mode: 'groups' });
  kiln = pair.kiln;
  for (const c of CLIENTS) tokens[c.id] = await pair.as.token(c.id, c.scopes.join(' '));
  const put = async (resource) => {
    const r = await kiln.request('PUT', `/${resource.resourceType}/${resource.id}`,
      { headers: H('practitioner'), body: resource });
    assert.ok(r.status === 201 || r.status === 200, `${resource.id}: ${r.status} ${r.text}`);
  };
  await put({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] });
  await put({ resourceType: 'Observation', id: 'o1', status: 'final', code: { text: 'weight' },
    subject: { reference: 'Patient/p1' } });
  await put({ resourceType: 'Account', id: 'a1', status: 'active', subject: [{ reference: 'Patient/p1' }] });
  await put({ resourceType: 'Coverage', id: 'cov1', status: 'active',
    beneficiary: { reference: 'Patient/p1' }, payor: [{ reference: 'Patient/p1' }] });
});

after(async () => {
  await pair?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function assertForbidden(r, what) {
  assert.equal(r.status, 403, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.resourceType, 'OperationOutcome', what);
  assert.match(r.json.issue[0].diagnostics, /insufficient_scope/, what);
  assert.match(r.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_scope"/, what);
}

const types = (bundle) => (bundle.entry ?? [])
  .filter((e) => e.search?.mode !== 'outcome').map((e) => e.resource.resourceType);

// Every kind of interaction, on `type`/`id`, with an expected status per group.
function interactions(type, id, body) {
  return [
    ['read', 'GET', `/${type}/${id}`],
    ['vread', 'GET', `/${type}/${id}/_history/1`],
    ['search', 'GET', `/${type}?_id=${id}`],
    ['search (POST)', 'POST', `/${type}/_search`, '_id=' + id],
    ['history-instance', 'GET', `/${type}/${id}/_history`],
    ['history-type', 'GET', `/${type}/_history`],
    ['create', 'POST', `/${type}`, body],
    ['update', 'PUT', `/${type}/${id}`, { ...body, id }],
    ['patch', 'PATCH', `/${type}/${id}`, [{ op: 'test', path: '/id', value: id }]],
    ['delete', 'DELETE', `/${type}/does-not-exist`],
  ];
}

async function run(client, [what, method, path, body]) {
  const headers = { ...H(client) };
  if (what === 'search (POST)') headers['Content-Type'] = 'application/x-www-form-urlencoded';
  if (what === 'patch') headers['Content-Type'] = 'application/json-patch+json';
  return kiln.request(method, path, { headers, body });
}

const PATIENT = { resourceType: 'Patient', name: [{ family: 'One' }] };
const OBSERVATION = { resourceType: 'Observation', status: 'final', code: { text: 'x' },
  subject: { reference: 'Patient/p1' } };
const ACCOUNT = { resourceType: 'Account', status: 'active', subject: [{ reference: 'Patient/p1' }] };

test('practitioner (default rules): every interaction on every type', async () => {
  for (const [type, id, body] of [['Patient', 'p1', PATIENT], ['Observation', 'o1', OBSERVATION],
    ['Account', 'a1', ACCOUNT]]) {
    for (const i of interactions(type, id, body)) {
      const r = await run('practitioner', i);
      assert.ok(r.status >= 200 && r.status < 300, `${i[0]} ${type}: ${r.status} ${r.text}`);
    }
  }
  for (const path of ['/_history', '/?_type=Patient,Account', '/']) {
    const r = await kiln.request('GET', path, { headers: H('practitioner') });
    assert.equal(r.status, 200, `${path}: ${r.text}`);
  }
  const all = await kiln.request('GET', '/?_id=p1,o1,a1', { headers: H('practitioner') });
  assert.deepEqual(types(all.json).sort(), ['Account', 'Observation', 'Patient']);
});

test('non-practitioner (default rules): read and search of financial types only', async () => {
  const allowed = new Set(['read', 'vread', 'search', 'search (POST)']);
  for (const [type, id, body] of [['Account', 'a1', ACCOUNT], ['Coverage', 'cov1', null]]) {
    for (const i of interactions(type, id, body ?? { resourceType: type })) {
      const r = await run('non-practitioner', i);
      if (allowed.has(i[0])) assert.equal(r.status, 200, `${i[0]} ${type}: ${r.text}`);
      else assertForbidden(r, `${i[0]} ${type}`);
    }
  }
  for (const [type, id, body] of [['Patient', 'p1', PATIENT], ['Observation', 'o1', OBSERVATION]]) {
    for (const i of interactions(type, id, body)) assertForbidden(await run('non-practitioner', i), `${i[0]} ${type}`);
  }
  // System-level interactions are not in its rules.
  for (const path of ['/_history', '/?_type=Account', '/']) {
    assertForbidden(await kiln.request('GET', path, { headers: H('non-practitioner') }), path);
  }
  // Included Patients are dropped; the Accounts stay.
  const inc = await kiln.request('GET', '/Account?_id=a1&_include=Account:subject', { headers: H('non-practitioner') });
  assert.equal(inc.status, 200, inc.text);
  assert.deepEqual(types(inc.json), ['Account']);
  // A chain through Patient, which it may not search: 403.
  assertForbidden(await kiln.request('GET', '/Account?subject:Patient.name=One', { headers: H('non-practitioner') }), 'chain');
});

test('auditor (default rules): read and search of Patient only', async () => {
  const allowed = new Set(['read', 'vread', 'search', 'search (POST)']);
  for (const client of ['auditor', 'auditor-string']) {
    for (const i of interactions('Patient', 'p1', PATIENT)) {
      const r = await run(client, i);
      if (allowed.has(i[0])) assert.equal(r.status, 200, `${client} ${i[0]}: ${r.text}`);
      else assertForbidden(r, `${client} ${i[0]} Patient`);
    }
    for (const i of interactions('Observation', 'o1', OBSERVATION)) assertForbidden(await run(client, i), `${i[0]} Observation`);
    for (const i of interactions('Account', 'a1', ACCOUNT)) assertForbidden(await run(client, i), `${i[0]} Account`);
  }
  const rev = await kiln.request('GET', '/Patient?_id=p1&_revinclude=Observation:subject&_revinclude=Account:subject',
    { headers: H('auditor') });
  assert.equal(rev.status, 200, rev.text);
  assert.deepEqual(types(rev.json), ['Patient']);
  assertForbidden(await kiln.request('GET', '/Patient?_has:Observation:subject:status=final', { headers: H('auditor') }), '_has');
  assertForbidden(await kiln.request('GET', '/Patient/p1/Observation', { headers: H('auditor') }), 'compartment');
  // A batch is not among its interactions.
  const batch = { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient/p1' } }] };
  assertForbidden(await kiln.request('POST', '', { headers: H('auditor'), body: batch }), 'batch');
});

test('groups are united; unknown groups grant nothing', async () => {
  const rev = await kiln.request('GET', '/Patient?_id=p1&_revinclude=Observation:subject&_revinclude=Account:subject',
    { headers: H('two-groups') });
  assert.equal(rev.status, 200, rev.text);
  assert.deepEqual([...new Set(types(rev.json))].sort(), ['Account', 'Patient']);
  assert.equal((await kiln.request('GET', '/Account/a1', { headers: H('two-groups') })).status, 200);
  assertForbidden(await kiln.request('GET', '/Observation/o1', { headers: H('two-groups') }), 'observation');
  const chain = await kiln.request('GET', '/Account?_id=a1&subject:Patient.name=One', { headers: H('two-groups') });
  assert.equal(chain.status, 200, chain.text);
  assert.deepEqual(types(chain.json), ['Account']);
  for (const client of ['unknown-group', 'no-groups', 'scopes-only']) {
    for (const [method, path] of [['GET', '/Patient/p1'], ['GET', '/Patient'], ['GET', '/'],
      ['GET', '/_history'], ['DELETE', '/Patient/p1']]) {
      assertForbidden(await kiln.request(method, path, { headers: H(client) }), `${client} ${method} ${path}`);
    }
    assertForbidden(await kiln.request('POST', '/Patient', { headers: H(client), body: PATIENT }), `${client} create`);
  }
  // Public endpoints stay public.
  assert.equal((await kiln.request('GET', '/metadata')).status, 200);
});

test('a forged or unverified token with groups is a 401', async () => {
  const payload = {
    iss: pair.as.issuer, aud: BASE, sub: 'mallory', exp: nowSeconds() + 300, iat: nowSeconds(),
    [G]: ['practitioner'],
  };
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const forged = [
    // Signed with a key that is not the issuer's, under the issuer's kid.
    craft({ alg: 'RS256', kid: 'rsa-1', typ: 'at+jwt' }, payload, privateKey),
    // Unsigned (what FHIR Works' role mode accepted).
    `${b64u({ alg: 'none', typ: 'JWT' })}.${b64u(payload)}.`,
    `${b64u({ alg: 'RS256', kid: 'rsa-1' })}.${b64u(payload)}.`,
  ];
  // A real auditor token whose payload now says practitioner.
  const [h, , s] = tokens.auditor.split('.');
  forged.push(`${h}.${b64u(payload)}.${s}`);
  for (const token of forged) {
    const r = await kiln.request('GET', '/Patient/p1', { headers: bearer(token) });
    assert.equal(r.status, 401, `${token.slice(0, 40)}: ${r.status} ${r.text}`);
    assert.match(r.headers.get('www-authenticate'), /error="invalid_token"/);
  }
  // The issuer's real key signing the same claims is accepted (the test above is not vacuous).
  const real = craft({ alg: 'RS256', kid: 'rsa-1', typ: 'at+jwt' }, payload, pair.as.keys.RS256.privateKey);
  assert.equal((await kiln.request('GET', '/Observation/o1', { headers: bearer(real) })).status, 200);
  assert.equal((await kiln.request('GET', '/Patient/p1')).status, 401, 'no token');
});

test('practitioner bundles: batch and transaction, every entry checked', async () => {
  const tx = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111', resource: PATIENT,
        request: { method: 'POST', url: 'Patient' } },
      { resource: { ...OBSERVATION, subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' } },
        request: { method: 'POST', url: 'Observation' } },
    ],
  };
  const t = await kiln.request('POST', '', { headers: H('practitioner'), body: tx });
  assert.equal(t.status, 200, t.text);
  assert.deepEqual(t.json.entry.map((e) => e.response.status.slice(0, 3)), ['201', '201']);
  assertForbidden(await kiln.request('POST', '', { headers: H('non-practitioner'), body: tx }), 'transaction');
});

test('a custom rules file: interactions, letters, bundle entries, another claim', async () => {
  const rules = join(dir, 'rules.json');
  writeFileSync(rules, JSON.stringify({
    version: 1,
    groups: {
      clerk: [
        { interactions: ['read', 'search-type', 'create', 'batch', 'transaction'], types: ['Patient'] },
        { permissions: 'rs', types: ['Account'] },
      ],
      lab: { interactions: ['read', 'vread', 'search-type', 'create', 'update', 'patch', 'history-instance'],
        types: ['Observation'] },
    },
  }));
  const custom = await startAuthPair({
    clients: CLIENTS, mode: 'groups', kilnArgs: ['--auth-rules', rules, '--auth-groups-claim', 'roles'],
  });
  try {
    const k = custom.kiln;
    const t = {};
    for (const c of CLIENTS) t[c.id] = await custom.as.token(c.id, c.scopes.join(' '));
    const C = (id) => bearer(t[id]);
    // The default rules are not in force: cognito:groups is not even read.
    assertForbidden(await k.request('GET', '/Patient', { headers: C('practitioner') }), 'practitioner');
    const p = await k.request('POST', '/Patient', { headers: C('clerk'), body: PATIENT });
    assert.equal(p.status, 201, p.text);
    const pid = p.json.id;
    assertForbidden(await k.request('GET', `/Patient/${pid}/_history/1`, { headers: C('clerk') }), 'vread not granted');
    assertForbidden(await k.request('GET', `/Patient/${pid}/_history`, { headers: C('clerk') }), 'history not granted');
    assertForbidden(await k.request('PUT', `/Patient/${pid}`, { headers: C('clerk'), body: { ...PATIENT, id: pid } }), 'update');
    const o = await k.request('POST', '/Observation', { headers: C('lab'), body: { ...OBSERVATION, subject: { reference: `Patient/${pid}` } } });
    assert.equal(o.status, 201, o.text);
    const oid = o.json.id;
    assert.equal((await k.request('GET', `/Observation/${oid}/_history`, { headers: C('lab') })).status, 200);
    assert.equal((await k.request('GET', `/Observation/${oid}/_history/1`, { headers: C('lab') })).status, 200);
    assertForbidden(await k.request('GET', '/Observation/_history', { headers: C('lab') }), 'history-type');
    assertForbidden(await k.request('DELETE', `/Observation/${oid}`, { headers: C('lab') }), 'delete');
    const patched = await k.request('PATCH', `/Observation/${oid}`, { headers: { ...C('lab'), 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'replace', path: '/status', value: 'amended' }] });
    assert.equal(patched.status, 200, patched.text);
    // A chain through Patient: lab may not search Patient.
    assertForbidden(await k.request('GET', '/Observation?subject:Patient.name=One', { headers: C('lab') }), 'chain');
    const inc = await k.request('GET', `/Observation?_id=${oid}&_include=Observation:subject`, { headers: C('lab') });
    assert.deepEqual(types(inc.json), ['Observation']);
    const rev = await k.request('GET', `/Patient?_id=${pid}&_revinclude=Observation:subject`, { headers: C('clerk') });
    assert.deepEqual(types(rev.json), ['Patient']);

    // Batch: each entry checked against its own type and interaction.
    const batch = {
      resourceType: 'Bundle', type: 'batch', entry: [
        { request: { method: 'GET', url: `Patient/${pid}` } },
        { request: { method: 'GET', url: `Observation/${oid}` } },
        { request: { method: 'GET', url: 'Patient?name=One' } },
        { request: { method: 'GET', url: 'Observation?status=amended' } },
        { request: { method: 'GET', url: `Patient?_id=${pid}&_revinclude=Observation:subject` } },
        { resource: PATIENT, request: { method: 'POST', url: 'Patient' } },
        { resource: OBSERVATION, request: { method: 'POST', url: 'Observation' } },
        { request: { method: 'DELETE', url: `Patient/${pid}` } },
        { request: { method: 'GET', url: `Patient/${pid}/_history/1` } },
        { request: { method: 'GET', url: `Patient/${pid}/_history` } },
        { request: { method: 'GET', url: '_history' } },
        // search-system comes with the letters "rs" (on Account); it searches the types the
        // caller may search-type, Patient among them.
        { request: { method: 'GET', url: '?_type=Patient' } },
        { request: { method: 'GET', url: 'Account' } },
        { request: { method: 'GET', url: '?_type=Observation' } },
      ],
    };
    const b = await k.request('POST', '', { headers: C('clerk'), body: batch });
    assert.equal(b.status, 200, b.text);
    assert.deepEqual(b.json.entry.map((e) => e.response.status.slice(0, 3)),
      ['200', '403', '200', '403', '200', '201', '403', '403', '403', '403', '403', '200', '200', '403']);
    assert.deepEqual(types(b.json.entry[4].resource), ['Patient']);
    // lab has no batch interaction at all.
    assertForbidden(await k.request('POST', '', { headers: C('lab'), body: batch }), 'lab batch');
    // A transaction with one forbidden entry fails whole.
    const tx = {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { resource: { ...PATIENT, name: [{ family: 'TxOnly' }] }, request: { method: 'POST', url: 'Patient' } },
        { resource: OBSERVATION, request: { method: 'POST', url: 'Observation' } },
      ],
    };
    const bad = await k.request('POST', '', { headers: C('clerk'), body: tx });
    assertForbidden(bad, 'transaction');
    assert.match(bad.json.issue[0].diagnostics, /Bundle entry 1/);
    const none = await k.request('GET', '/Patient?name=TxOnly', { headers: C('clerk') });
    assert.equal(none.json.entry?.length ?? 0, 0, 'nothing of the transaction was written');
    tx.entry.pop();
    assert.equal((await k.request('POST', '', { headers: C('clerk'), body: tx })).status, 200);
  } finally {
    await custom.close();
  }
});

test('an invalid rules file stops Kiln at start-up, naming the problem', async () => {
  const issuer = pair.as.issuer;
  const cases = [
    ['{"version": 1, "groups": {"g": {"interactions": ["reed"], "types": "*"}}}',
      /groups\.g\.interactions\[0\]: 'reed' is not an interaction/],
    ['{"version": 1, "groups": {"g": {"interactions": ["read"], "types": ["Patinet"]}}}',
      /groups\.g\.types\[0\]: 'Patinet' is not an R4 resource type/],
    ['{"version": 1, "groups": {"g": {"interactions": ["vread"], "types": "*"}}}', /'vread' needs 'read'/],
    ['{"version": 1, "groups": ', /not valid JSON/],
    ['{"groups": {}}', /'version' is missing/],
  ];
  for (const [text, message] of cases) {
    const file = join(dir, 'bad.json');
    writeFileSync(file, text);
    const r = await runKiln(['serve', '--auth', 'groups', '--auth-issuer', issuer, '--auth-rules', file,
      '--port', '0', '--data', freshDataDir()]);
    assert.notEqual(r.code, 0, text);
    assert.match(r.stderr, new RegExp(`--auth-rules ${file}: `), text);
    assert.match(r.stderr, message, text);
  }
  const missing = await runKiln(['serve', '--auth', 'groups', '--auth-issuer', issuer,
    '--auth-rules', join(dir, 'nope.json'), '--port', '0', '--data', freshDataDir()]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /cannot read the file/);
  const noIssuer = await runKiln(['serve', '--auth', 'groups', '--port', '0', '--data', freshDataDir()]);
  assert.match(noIssuer.stderr, /--auth groups needs --auth-issuer/);
  const wrongMode = await runKiln(['serve', '--auth', 'smart', '--auth-issuer', issuer,
    '--auth-rules', join(dir, 'rules.json'), '--port', '0', '--data', freshDataDir()]);
  assert.match(wrongMode.stderr, /--auth-rules applies to --auth groups only/);
  const userRulesInGroups = await runKiln(['serve', '--auth', 'groups', '--auth-issuer', issuer,
    '--auth-user-rules', join(dir, 'rules.json'), '--port', '0', '--data', freshDataDir()]);
  assert.match(userRulesInGroups.stderr, /--auth-user-rules applies to --auth smart only/);
});

test('smart mode: the user-context rules file decides what user/ scopes grant', async () => {
  const clients = [
    { id: 'admin', alg: 'RS256', scopes: ['system/*.cruds'] },
    { id: 'doctor', alg: 'RS256', scopes: ['user/*.rs'], claims: { fhirUser: 'Practitioner/d1' } },
    { id: 'relative', alg: 'RS256', scopes: ['user/*.rs'], claims: { fhirUser: 'RelatedPerson/r1' } },
    { id: 'patient-user', alg: 'RS256', scopes: ['user/*.rs'], claims: { fhirUser: 'Patient/p1' } },
    { id: 'device', alg: 'RS256', scopes: ['user/*.rs'], claims: { fhirUser: 'Device/x1' } },
  ];
  const file = join(dir, 'user-rules.json');
  writeFileSync(file, JSON.stringify({ version: 1, fhirUser: {
    Patient: 'own-compartment', Practitioner: 'scopes', RelatedPerson: 'deny' } }));
  const smart = await startAuthPair({ clients, kilnArgs: ['--auth-user-rules', file] });
  try {
    const k = smart.kiln;
    const t = {};
    for (const c of clients) t[c.id] = await smart.as.token(c.id, c.scopes.join(' '));
    const C = (id) => bearer(t[id]);
    const put = async (res) => assert.ok([200, 201].includes(
      (await k.request('PUT', `/${res.resourceType}/${res.id}`, { headers: C('admin'), body: res })).status));
    await put({ resourceType: 'Patient', id: 'p1' });
    await put({ resourceType: 'Patient', id: 'p2' });
    await put({ ...OBSERVATION, id: 'o1' });
    await put({ ...OBSERVATION, id: 'o2', subject: { reference: 'Patient/p2' } });
    const ids = async (id, path) => {
      const r = await k.request('GET', path, { headers: C(id) });
      assert.equal(r.status, 200, `${id} ${path}: ${r.text}`);
      return (r.json.entry ?? []).map((e) => e.resource.id).sort();
    };
    assert.deepEqual(await ids('doctor', '/Observation'), ['o1', 'o2']);
    assert.deepEqual(await ids('patient-user', '/Observation'), ['o1']);
    assert.equal((await k.request('GET', '/Observation/o2', { headers: C('patient-user') })).status, 404);
    for (const id of ['relative', 'device']) {  // denied; Device has no rule and no "*"
      assertForbidden(await k.request('GET', '/Observation', { headers: C(id) }), id);
      assertForbidden(await k.request('GET', '/Observation/o1', { headers: C(id) }), id);
    }
  } finally {
    await smart.close();
  }
  const bad = join(dir, 'bad-user-rules.json');
  writeFileSync(bad, JSON.stringify({ version: 1, fhirUser: { Practitioner: 'own-compartment' } }));
  const r = await runKiln(['serve', '--auth', 'smart', '--auth-issuer', pair.as.issuer,
    '--auth-user-rules', bad, '--port', '0', '--data', freshDataDir()]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--auth-user-rules .*: fhirUser\.Practitioner: own-compartment is only available for Patient users/);
});
