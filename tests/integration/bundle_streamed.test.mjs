// Large transactions of creates and updates (the Synthea shape) are written while their later
// entries are still being validated and indexed (rest/bundle.cc, RunStreamedTransaction). They
// must behave exactly like any transaction: all or nothing, processing order (POST before PUT),
// references between entries in either direction, and a failed validation reported (first entry
// in Bundle order) ahead of a failed write.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKiln } from './lib/kiln.mjs';

let kiln;
before(async () => { kiln = await startKiln(); });
after(async () => { await kiln.stop(); kiln.cleanup(); });

const uuid = (tag, i) => `urn:uuid:00000000-0000-4000-8000-${tag}${String(i).padStart(12 - tag.length, '0')}`;

// n Observations pointing at a Patient that is the LAST entry, plus PUTs of Practitioners.
function bigTransaction(tag, n, { invalid = [], puts = 0, ifMatch } = {}) {
  const entry = [];
  for (let i = 0; i < puts; i += 1) {
    entry.push({
      resource: { resourceType: 'Practitioner', id: `${tag}-pr${i}`, name: [{ family: `P${i}` }] },
      request: { method: 'PUT', url: `Practitioner/${tag}-pr${i}`, ...(ifMatch ? { ifMatch } : {}) },
    });
  }
  for (let i = 0; i < n; i += 1) {
    entry.push({
      fullUrl: uuid(tag, i + 1),
      resource: {
        resourceType: 'Observation', status: invalid.includes(entry.length) ? 'not-a-status' : 'final',
        code: { text: `${tag} obs ${i}` }, subject: { reference: uuid(tag, 0) },
        identifier: [{ system: 'urn:streamed', value: tag }],
      },
      request: { method: 'POST', url: 'Observation' },
    });
  }
  entry.push({
    fullUrl: uuid(tag, 0),
    resource: { resourceType: 'Patient', identifier: [{ system: 'urn:streamed', value: tag }] },
    request: { method: 'POST', url: 'Patient' },
  });
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

async function count(type, tag) {
  const r = await kiln.request('GET', `/${type}?identifier=urn:streamed|${tag}&_summary=count`);
  assert.equal(r.status, 200);
  return r.json.total;
}

test('a large transaction goes in whole, references to later entries resolved', async () => {
  const r = await kiln.request('POST', '', { body: bigTransaction('ok', 150, { puts: 40 }) });
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.type, 'transaction-response');
  assert.equal(r.json.entry.length, 191);
  assert.ok(r.json.entry.slice(0, 40).every((e) => e.response.status.startsWith('201')), 'PUT as create');
  assert.ok(r.json.entry.slice(40).every((e) => e.response.status.startsWith('201')));
  const patient = r.json.entry.at(-1).response.location.match(/Patient\/([^/]+)/)[1];
  assert.equal(await count('Observation', 'ok'), 150);
  const obs = await kiln.request('GET', `/Observation?subject=Patient/${patient}&_summary=count`);
  assert.equal(obs.json.total, 150, 'every Observation points at the Patient written after it');
  assert.equal((await kiln.request('GET', '/Practitioner/ok-pr39')).status, 200);
});

test('an invalid late entry rolls everything back and the first invalid entry is named', async () => {
  const r = await kiln.request('POST', '', { body: bigTransaction('bad', 150, { invalid: [130, 70] }) });
  assert.equal(r.status, 400, r.text);
  assert.equal(r.json.resourceType, 'OperationOutcome');
  assert.match(r.json.issue[0].diagnostics, /^Bundle entry 70 \(POST Observation\)/);
  assert.equal(await count('Observation', 'bad'), 0);
  assert.equal(await count('Patient', 'bad'), 0);
});

test('a failing write after earlier writes rolls them back; a failed validation is named first', async () => {
  // PUT with a version that does not exist: 412 inside the write, after the 150 creates ran.
  let r = await kiln.request('POST', '', { body: bigTransaction('late', 150, { puts: 5, ifMatch: 'W/"7"' }) });
  assert.equal(r.status, 412, r.text);
  assert.match(r.json.issue[0].diagnostics, /^Bundle entry 0 \(PUT Practitioner\/late-pr0\)/);
  assert.equal(await count('Observation', 'late'), 0);
  assert.equal((await kiln.request('GET', '/Practitioner/late-pr0')).status, 404);
  // The same with an invalid entry as well: validation problems are reported before write ones.
  r = await kiln.request('POST', '', { body: bigTransaction('late2', 150, { puts: 5, ifMatch: 'W/"7"', invalid: [120] }) });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.issue[0].diagnostics, /^Bundle entry 120 /);
  assert.equal(await count('Observation', 'late2'), 0);
});

test('two entries writing the same resource fail the transaction', async () => {
  const body = bigTransaction('twice', 60);
  body.entry.push({
    resource: { resourceType: 'Practitioner', id: 'twice', name: [{ family: 'A' }] },
    request: { method: 'PUT', url: 'Practitioner/twice' },
  }, {
    resource: { resourceType: 'Practitioner', id: 'twice', name: [{ family: 'B' }] },
    request: { method: 'PUT', url: 'Practitioner/twice' },
  });
  const r = await kiln.request('POST', '', { body });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.issue[0].diagnostics, /Bundle entry 62/);
  assert.equal(await count('Observation', 'twice'), 0);
  assert.equal((await kiln.request('GET', '/Practitioner/twice')).status, 404);
});

test('concurrent large transactions and single writes all land', async () => {
  const results = await Promise.all([
    ...[1, 2, 3, 4].map((i) => kiln.request('POST', '', { body: bigTransaction(`c${i}`, 100) })),
    ...Array.from({ length: 20 }, (_, i) => kiln.request('POST', '/Patient', {
      body: { resourceType: 'Patient', identifier: [{ system: 'urn:streamed', value: 'single' }], name: [{ family: `S${i}` }] },
    })),
  ]);
  for (const r of results) assert.ok(r.status === 200 || r.status === 201, r.text);
  for (const i of [1, 2, 3, 4]) assert.equal(await count('Observation', `c${i}`), 100);
  assert.equal(await count('Patient', 'single'), 20);
});
