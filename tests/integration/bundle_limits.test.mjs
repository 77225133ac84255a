// Batch/transaction behaviour that needs a server started with other settings:
// --max-bundle-entries (more entries are a 413 with an OperationOutcome), --validation warn-only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKiln } from './lib/kiln.mjs';

function bundle(type, n) {
  return {
    resourceType: 'Bundle',
    type,
    entry: Array.from({ length: n }, () => ({
      resource: { resourceType: 'Patient' },
      request: { method: 'POST', url: 'Patient' },
    })),
  };
}

test('--max-bundle-entries', async (t) => {
  const kiln = await startKiln({ args: ['--max-bundle-entries', '3'] });
  try {
    await t.test('a transaction at the limit is processed', async () => {
      const res = await kiln.request('POST', '', { body: bundle('transaction', 3) });
      assert.equal(res.status, 200, res.text);
      assert.equal(res.json.entry.length, 3);
    });
    for (const type of ['transaction', 'batch']) {
      await t.test(`a ${type} over the limit is a 413 that stores nothing`, async () => {
        const res = await kiln.request('POST', '', { body: bundle(type, 4) });
        assert.equal(res.status, 413, res.text);
        assert.equal(res.json.resourceType, 'OperationOutcome');
        assert.match(res.json.issue[0].diagnostics, /4 entries.*at most 3/);
      });
    }
    await t.test('only the first transaction was stored', async () => {
      const res = await kiln.request('GET', '/Patient?_total=accurate');
      assert.equal(res.json.total, 3);
    });
  } finally {
    const code = await kiln.stop();
    kiln.cleanup();
    assert.equal(code, 0);
  }
});

test('KILN_MAX_BUNDLE_ENTRIES sets the limit too', async () => {
  const kiln = await startKiln({ env: { KILN_MAX_BUNDLE_ENTRIES: '1' } });
  try {
    const res = await kiln.request('POST', '', { body: bundle('batch', 2) });
    assert.equal(res.status, 413, res.text);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});

test('--validation warn-only: transaction entries that fail validation are stored with warnings',
     async () => {
  const kiln = await startKiln({ args: ['--validation', 'warn-only'] });
  try {
    const res = await kiln.request('POST', '', {
      headers: { Prefer: 'return=OperationOutcome' },
      body: {
        resourceType: 'Bundle', type: 'transaction',
        entry: [{ resource: { resourceType: 'Patient', gender: 'not-a-gender' },
                  request: { method: 'POST', url: 'Patient' } }],
      },
    });
    assert.equal(res.status, 200, res.text);
    const entry = res.json.entry[0];
    assert.equal(entry.response.status, '201 Created');
    const issues = entry.response.outcome.issue;
    assert.equal(issues[0].severity, 'information');
    assert.ok(issues.some((i) => i.severity === 'error' || i.severity === 'warning'),
              JSON.stringify(issues));
    assert.match(kiln.stderr, /warn-only mode/);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});
