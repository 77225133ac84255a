// SMART v2 granular scopes on writes (`user/Observation.cu?category=...|laboratory`: what is
// written must match the query, and so must the current version of what is updated, patched or
// deleted, checked inside the write) and type/system history under a patient context (only the
// versions of resources in the compartment now, paged), with a real authorization server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAuthPair, bearer, BASE } from './lib/auth.mjs';

const CAT = 'http://terminology.hl7.org/CodeSystem/observation-category';
const LAB = `${CAT}|laboratory`;
const CLIENTS = [
  { id: 'admin', alg: 'RS256', scopes: ['system/*.cruds'] },
  { id: 'lab-writer', alg: 'RS256', scopes: [`system/Observation.cruds?category=${LAB}`] },
  { id: 'lab-user', alg: 'ES256', scopes: [`user/Observation.cu?category=${LAB}`, 'user/Observation.rs'],
    claims: { fhirUser: 'Practitioner/d1' } },
  { id: 'patient-lab', alg: 'RS256',
    scopes: [`patient/Observation.cu?category=${LAB}`, 'patient/Observation.rs'], claims: { patient: 'p1' } },
  { id: 'update-any-create-lab', alg: 'RS256',
    scopes: ['system/Observation.rus', `system/Observation.c?category=${LAB}`] },
  { id: 'patient-reader', alg: 'ES256', scopes: ['patient/*.rs'], claims: { patient: 'p1' } },
];

let pair;
let kiln;
const tokens = {};
const H = (client) => bearer(tokens[client]);

const obs = (id, category, patient = 'p1', extra = {}) => ({
  resourceType: 'Observation', ...(id ? { id } : {}), status: 'final',
  category: [{ coding: [{ system: CAT, code: category }] }],
  code: { text: `${category} ${id ?? 'new'}` }, subject: { reference: `Patient/${patient}` }, ...extra,
});

before(async () => {
  pair = await startAuthPair({ clients: CLIENTS });
  kiln = pair.kiln;
  for (const c of CLIENTS) tokens[c.id] = await pair.as.token(c.id, c.scopes.join(' '));
  for (const r of [{ resourceType: 'Patient', id: 'p1' }, { resourceType: 'Patient', id: 'p2' }]) {
    assert.equal((await kiln.request('PUT', `/Patient/${r.id}`, { headers: H('admin'), body: r })).status, 201);
  }
  for (const r of [obs('lab1', 'laboratory'), obs('lab2', 'laboratory', 'p2'), obs('vs1', 'vital-signs'),
    obs('lab-del', 'laboratory')]) {
    const put = await kiln.request('PUT', `/Observation/${r.id}`, { headers: H('admin'), body: r });
    assert.equal(put.status, 201, put.text);
  }
});

after(async () => { await pair?.close(); });

function assertForbidden(r, what, message = /insufficient_scope/) {
  assert.equal(r.status, 403, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.resourceType, 'OperationOutcome', what);
  assert.match(r.json.issue[0].diagnostics, message, what);
}

async function current(id) {
  const r = await kiln.request('GET', `/Observation/${id}`, { headers: H('admin') });
  return r.status === 200 ? { version: r.json.meta.versionId, category: r.json.category[0].coding[0].code, status: r.json.status } : r.status;
}

const patchHeaders = (client) => ({ ...H(client), 'Content-Type': 'application/json-patch+json' });

test('a granular scope creates and updates only resources that match its query', async () => {
  for (const client of ['lab-writer', 'lab-user']) {
    const created = await kiln.request('POST', '/Observation', { headers: H(client), body: obs(null, 'laboratory') });
    assert.equal(created.status, 201, `${client}: ${created.text}`);
    const before = (await kiln.request('GET', '/Observation?_summary=count', { headers: H('admin') })).json.total;
    assertForbidden(await kiln.request('POST', '/Observation', { headers: H(client), body: obs(null, 'vital-signs') }),
      `${client} create vital-signs`, /as written does not match the token's granular scope for Observation/);
    const after = (await kiln.request('GET', '/Observation?_summary=count', { headers: H('admin') })).json.total;
    assert.equal(after, before, 'the refused create was rolled back');

    // Update: the current version and the new one must match.
    const v = (await current('lab1')).version;
    const ok = await kiln.request('PUT', '/Observation/lab1', { headers: H(client), body: obs('lab1', 'laboratory', 'p1', { status: 'amended' }) });
    assert.equal(ok.status, 200, ok.text);
    assert.equal((await current('lab1')).version, String(Number(v) + 1));
    const out = await kiln.request('PUT', '/Observation/lab1', { headers: H(client), body: obs('lab1', 'vital-signs') });
    assertForbidden(out, `${client} moving lab1 out of the scope`, /lab1 as written does not match/);
    assert.deepEqual(await current('lab1'), { version: String(Number(v) + 1), category: 'laboratory', status: 'amended' });
    assertForbidden(await kiln.request('PUT', '/Observation/vs1', { headers: H(client), body: obs('vs1', 'laboratory') }),
      `${client} taking vs1 over`, /vs1 as it is does not match/);
    assert.equal((await current('vs1')).category, 'vital-signs');

    // Patch: the same, the result checked inside the write.
    const p = await kiln.request('PATCH', '/Observation/lab1', { headers: patchHeaders(client),
      body: [{ op: 'replace', path: '/status', value: 'final' }] });
    assert.equal(p.status, 200, p.text);
    assertForbidden(await kiln.request('PATCH', '/Observation/lab1', { headers: patchHeaders(client),
      body: [{ op: 'replace', path: '/category/0/coding/0/code', value: 'vital-signs' }] }), `${client} patch out`);
    assert.equal((await current('lab1')).category, 'laboratory');
    assertForbidden(await kiln.request('PATCH', '/Observation/vs1', { headers: patchHeaders(client),
      body: [{ op: 'replace', path: '/status', value: 'amended' }] }), `${client} patch vs1`);

    // Update-as-create: the new resource must match.
    const id = `${client}-new`;
    assert.equal((await kiln.request('PUT', `/Observation/${id}`, { headers: H(client), body: obs(id, 'laboratory') })).status, 201);
    assertForbidden(await kiln.request('PUT', `/Observation/${id}-vs`, { headers: H(client), body: obs(`${id}-vs`, 'vital-signs') }), 'update-as-create');
    assert.equal(await current(`${id}-vs`), 404);

    // Conditional writes search by criteria of their own: refused.
    const cond = /not available to a token whose access to it is limited by a granular scope/;
    assertForbidden(await kiln.request('PUT', '/Observation?code:text=x', { headers: H(client), body: obs(null, 'laboratory') }), 'conditional update', cond);
    assertForbidden(await kiln.request('POST', '/Observation', { headers: { ...H(client), 'If-None-Exist': 'code:text=x' }, body: obs(null, 'laboratory') }), 'If-None-Exist', cond);
    assertForbidden(await kiln.request('PATCH', '/Observation?_id=lab1', { headers: patchHeaders(client),
      body: [{ op: 'replace', path: '/status', value: 'final' }] }), 'conditional patch', cond);
  }
});

test('a granular delete reaches only matching resources; what it deleted cannot be created again', async () => {
  assertForbidden(await kiln.request('DELETE', '/Observation/vs1', { headers: H('lab-writer') }), 'delete vs1');
  assert.equal((await current('vs1')).category, 'vital-signs');
  assert.equal((await kiln.request('DELETE', '/Observation/lab-del', { headers: H('lab-writer') })).status, 204);
  assert.equal(await current('lab-del'), 410);
  assertForbidden(await kiln.request('PUT', '/Observation/lab-del', { headers: H('lab-writer'), body: obs('lab-del', 'laboratory') }),
    're-create', /was deleted/);
  assertForbidden(await kiln.request('DELETE', '/Observation?code:text=x', { headers: H('lab-writer') }), 'conditional delete');
  // lab-user has no d at all.
  assertForbidden(await kiln.request('DELETE', '/Observation/lab1', { headers: H('lab-user') }), 'lab-user delete');
});

test('a patient granular scope: its compartment and its query', async () => {
  const c = 'patient-lab';
  assert.equal((await kiln.request('POST', '/Observation', { headers: H(c), body: obs(null, 'laboratory') })).status, 201);
  assertForbidden(await kiln.request('POST', '/Observation', { headers: H(c), body: obs(null, 'laboratory', 'p2') }), 'other patient');
  assertForbidden(await kiln.request('POST', '/Observation', { headers: H(c), body: obs(null, 'vital-signs') }), 'not lab');
  assertForbidden(await kiln.request('PUT', '/Observation/lab2', { headers: H(c), body: obs('lab2', 'laboratory', 'p1') }),
    'taking over another patient\'s lab result');
  assert.equal((await kiln.request('PUT', '/Observation/lab1', { headers: H(c), body: obs('lab1', 'laboratory') })).status, 200);
});

test('u unrestricted, c granular: an update that creates must match the c scope', async () => {
  const c = 'update-any-create-lab';
  assert.equal((await kiln.request('PUT', '/Observation/vs1', { headers: H(c), body: obs('vs1', 'vital-signs', 'p1', { status: 'amended' }) })).status, 200);
  assertForbidden(await kiln.request('PUT', '/Observation/ua-vs', { headers: H(c), body: obs('ua-vs', 'vital-signs') }), 'create vital-signs by PUT');
  assert.equal((await kiln.request('PUT', '/Observation/ua-lab', { headers: H(c), body: obs('ua-lab', 'laboratory') })).status, 201);
});

test('Bundle entries get the same checks', async () => {
  const tx = {
    resourceType: 'Bundle', type: 'transaction', entry: [
      { resource: obs(null, 'laboratory', 'p1', { code: { text: 'tx-lab' } }), request: { method: 'POST', url: 'Observation' } },
      { resource: obs(null, 'vital-signs', 'p1', { code: { text: 'tx-vs' } }), request: { method: 'POST', url: 'Observation' } },
    ],
  };
  const t = await kiln.request('POST', '', { headers: H('lab-writer'), body: tx });
  assertForbidden(t, 'transaction');
  const none = await kiln.request('GET', '/Observation?code:text=tx-lab', { headers: H('admin') });
  assert.equal(none.json.entry?.length ?? 0, 0, 'nothing of the transaction was written');
  const batch = { ...tx, type: 'batch' };
  batch.entry = [...tx.entry,
    { resource: obs('lab1', 'vital-signs'), request: { method: 'PUT', url: 'Observation/lab1' } },
    { resource: obs('vs1', 'laboratory'), request: { method: 'PUT', url: 'Observation/vs1' } },
    { request: { method: 'DELETE', url: 'Observation/vs1' } }];
  const b = await kiln.request('POST', '', { headers: H('lab-writer'), body: batch });
  assert.equal(b.status, 200, b.text);
  assert.deepEqual(b.json.entry.map((e) => e.response.status.slice(0, 3)), ['201', '403', '403', '403', '403']);
  assert.equal((await current('lab1')).category, 'laboratory');
  assert.equal((await current('vs1')).category, 'vital-signs');
});

test('type and system history under a patient context: its compartment only, paged', async () => {
  // More versions, interleaved between the patients.
  for (let i = 0; i < 4; i += 1) {
    for (const [id, patient] of [['lab1', 'p1'], ['lab2', 'p2'], ['vs1', 'p1'], ['lab2', 'p2']]) {
      const r = await kiln.request('PUT', `/Observation/${id}`, { headers: H('admin'),
        body: obs(id, id.startsWith('lab') ? 'laboratory' : 'vital-signs', patient, { status: i % 2 ? 'final' : 'amended' }) });
      assert.equal(r.status, 200, r.text);
    }
  }
  // An Observation that moved from p1 to p2 takes its history with it (membership by current
  // version), and one that moved in brings its own.
  await kiln.request('PUT', '/Observation/moved-out', { headers: H('admin'), body: obs('moved-out', 'laboratory', 'p1') });
  await kiln.request('PUT', '/Observation/moved-out', { headers: H('admin'), body: obs('moved-out', 'laboratory', 'p2') });
  await kiln.request('PUT', '/Observation/moved-in', { headers: H('admin'), body: obs('moved-in', 'laboratory', 'p2') });
  await kiln.request('PUT', '/Observation/moved-in', { headers: H('admin'), body: obs('moved-in', 'laboratory', 'p1') });

  const key = (e) => `${e.fullUrl.slice(BASE.length + 1)}@${e.response.etag}`;
  const members = new Set((await kiln.request('GET', '/Observation?subject=Patient/p1&_count=1000', { headers: H('admin') }))
    .json.entry.map((e) => `Observation/${e.resource.id}`));
  assert.ok(members.has('Observation/moved-in') && !members.has('Observation/moved-out'));
  const all = await kiln.request('GET', '/Observation/_history?_count=1000', { headers: H('admin') });
  const expected = all.json.entry.map(key).filter((k) => members.has(k.split('@')[0]));

  for (const client of ['patient-reader', 'patient-lab']) {
    const seen = [];
    let path = '/Observation/_history?_count=3';
    let pages = 0;
    while (path) {
      const r = await kiln.request('GET', path, { headers: H(client) });
      assert.equal(r.status, 200, `${client} ${path}: ${r.text}`);
      assert.equal(r.json.total, undefined);
      seen.push(...(r.json.entry ?? []).map(key));
      const next = r.json.link.find((l) => l.relation === 'next');
      path = next ? next.url.slice(BASE.length) : null;
      pages += 1;
      assert.ok(pages < 50, 'paging ends');
    }
    assert.deepEqual(seen, expected, client);
  }
  // System history: the compartment's resources and the patient's own record, never p2's.
  const sys = await kiln.request('GET', '/_history?_count=1000', { headers: H('patient-reader') });
  assert.equal(sys.status, 200, sys.text);
  const ids = new Set(sys.json.entry.map((e) => e.fullUrl.slice(BASE.length + 1)));
  assert.ok(ids.has('Patient/p1') && ids.has('Observation/moved-in') && ids.has('Observation/vs1'));
  for (const bad of ['Patient/p2', 'Observation/lab2', 'Observation/moved-out']) assert.ok(!ids.has(bad), bad);
  // patient-lab has no "*" grant: system history stays a 403.
  assertForbidden(await kiln.request('GET', '/_history', { headers: H('patient-lab') }), 'system history');
  // In a batch as well.
  const b = await kiln.request('POST', '', { headers: H('patient-reader'), body: { resourceType: 'Bundle', type: 'batch',
    entry: [{ request: { method: 'GET', url: 'Observation/_history?_count=1000' } }] } });
  assert.equal(b.status, 200, b.text);
  assert.deepEqual(b.json.entry[0].resource.entry.map(key), expected);
  // _count=0: only whether there is anything.
  const zero = await kiln.request('GET', '/Observation/_history?_count=0', { headers: H('patient-reader') });
  assert.equal(zero.status, 200, zero.text);
  assert.equal(zero.json.entry, undefined);
});
