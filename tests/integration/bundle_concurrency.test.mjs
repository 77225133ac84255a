// Transactions racing each other through the real server: ifNoneExist is evaluated inside the
// store transaction, so concurrent transactions that conditionally create the same Patient create
// it once and all point their Observations at it; batches and searches run alongside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKiln } from './lib/kiln.mjs';

function transaction(i) {
  const patientUrl = `urn:uuid:00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: patientUrl,
        resource: { resourceType: 'Patient', identifier: [{ system: 'urn:race', value: 'one' }] },
        request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:race|one' },
      },
      {
        resource: {
          resourceType: 'Observation', status: 'final', code: { text: `obs ${i}` },
          subject: { reference: patientUrl },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  };
}

test('concurrent transactions with the same ifNoneExist create one Patient', async () => {
  const kiln = await startKiln();
  try {
    const n = 16;
    const results = await Promise.all([
      ...Array.from({ length: n }, (_, i) => kiln.request('POST', '', { body: transaction(i) })),
      ...Array.from({ length: 4 }, () => kiln.request('POST', '', {
        body: {
          resourceType: 'Bundle', type: 'batch',
          entry: [{ request: { method: 'GET', url: 'Patient?identifier=urn:race|one' } }],
        },
      })),
      ...Array.from({ length: 4 }, () => kiln.request('GET', '/Observation?_count=5')),
    ]);
    for (const r of results) assert.equal(r.status, 200, r.text.slice(0, 400));
    const created = results.slice(0, n).filter((r) => r.json.entry[0].response.status === '201 Created');
    assert.equal(created.length, 1);
    const patients = await kiln.request('GET', '/Patient?identifier=urn:race|one&_total=accurate');
    assert.equal(patients.json.total, 1);
    const pid = patients.json.entry[0].resource.id;
    for (const r of results.slice(0, n)) {
      assert.equal(r.json.entry[1].response.status, '201 Created');
      assert.equal(r.json.entry[1].resource.subject.reference, `Patient/${pid}`);
    }
    const observations = await kiln.request('GET', `/Observation?subject=Patient/${pid}&_total=accurate`);
    assert.equal(observations.json.total, n);
  } finally {
    const code = await kiln.stop();
    kiln.cleanup();
    assert.equal(code, 0);
  }
});
