// Rebuilding search indexes: the online rebuild a server starts when the stored index fingerprint
// is not this build's (serving reads and writes meanwhile, stopping promptly on SIGTERM and
// resuming after), and the offline `kiln reindex --data DIR`.
// The index rows are wiped and the fingerprint falsified with the sqlite3 CLI between runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startKiln, runKiln, freshDataDir } from './lib/kiln.mjs';

const INDEX_TABLES = ['idx_string', 'idx_token', 'idx_date', 'idx_number', 'idx_quantity',
  'idx_reference', 'idx_uri'];
const PATIENTS = 40;
const OBSERVATIONS = 12;
const ORGANIZATIONS = 4;
const TOTAL = PATIENTS + OBSERVATIONS + ORGANIZATIONS;

function sql(dataDir, text) {
  return execFileSync('sqlite3', [join(dataDir, 'kiln.db'), text]).toString().trim();
}

// What an upgrade to new index rules (or a database from before indexing) looks like.
function wipeIndex(dataDir) {
  sql(dataDir, INDEX_TABLES.map((t) => `DELETE FROM ${t};`).join(' ') +
    " UPDATE store_meta SET value = 12345 WHERE key = 'index_fingerprint';");
  assert.equal(sql(dataDir, 'SELECT count(*) FROM idx_string'), '0');
}

function meta(dataDir, key) {
  return sql(dataDir, `SELECT value FROM store_meta WHERE key = '${key}'`);
}

async function metrics(kiln) {
  const text = await (await fetch(`${kiln.origin}/metrics`)).text();
  const read = (name) => {
    const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
    return m ? Number(m[1]) : undefined;
  };
  return {
    running: read('kiln_reindex_running'),
    done: read('kiln_reindex_resources_done'),
    total: read('kiln_reindex_resources_total'),
    failed: read('kiln_reindex_resources_failed'),
  };
}

async function waitFor(what, check, timeoutMs = 30000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function count(kiln, query) {
  const res = await kiln.request('GET', `${query}&_count=1000`);
  assert.equal(res.status, 200, `${query}: ${res.text}`);
  return (res.json.entry ?? []).filter((e) => e.search?.mode !== 'outcome').length;
}

// Every search the data set answers when its index rows are complete.
async function searchesFindEverything(kiln) {
  assert.equal(await count(kiln, '/Patient?family=reindexfamily'), PATIENTS);
  assert.equal(await count(kiln, '/Patient?identifier=urn:reindex|mrn-7'), 1);
  assert.equal(await count(kiln, '/Patient?birthdate=ge1990-01-01'), PATIENTS / 2);
  assert.equal(await count(kiln, '/Observation?code=http://loinc.org|8867-4'), OBSERVATIONS);
  assert.equal(await count(kiln, '/Observation?value-quantity=gt70'), OBSERVATIONS / 2);
  assert.equal(await count(kiln, '/Observation?subject=Patient/pat-3'), 1);
  assert.equal(await count(kiln, '/Organization?name=reindex'), ORGANIZATIONS);
}

async function createData(kiln) {
  for (let i = 0; i < PATIENTS; i++) {
    const res = await kiln.request('PUT', `/Patient/pat-${i}`, {
      body: {
        resourceType: 'Patient', id: `pat-${i}`,
        identifier: [{ system: 'urn:reindex', value: `mrn-${i}` }],
        name: [{ family: 'ReindexFamily', given: [`G${i}`] }],
        birthDate: i % 2 === 0 ? '1985-02-03' : '1995-06-07',
      },
    });
    assert.equal(res.status, 201, res.text);
  }
  for (let i = 0; i < OBSERVATIONS; i++) {
    const res = await kiln.request('POST', '/Observation', {
      body: {
        resourceType: 'Observation', status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
        subject: { reference: `Patient/pat-${i}` },
        valueQuantity: { value: i % 2 === 0 ? 60 : 80, unit: 'beats/minute',
          system: 'http://unitsofmeasure.org', code: '/min' },
      },
    });
    assert.equal(res.status, 201, res.text);
  }
  for (let i = 0; i < ORGANIZATIONS; i++) {
    const res = await kiln.request('POST', '/Organization', {
      body: { resourceType: 'Organization', name: `Reindex Clinic ${i}` },
    });
    assert.equal(res.status, 201, res.text);
  }
}

test('search index rebuild: online at start-up, offline with kiln reindex', async () => {
  const dataDir = freshDataDir();
  let kiln = await startKiln({ dataDir });
  try {
    await createData(kiln);
    await searchesFindEverything(kiln);
    const m = await metrics(kiln);
    assert.equal(m.running, 0);  // a new database records its fingerprint, nothing to rebuild
    assert.doesNotMatch(kiln.stderr, /search index rebuild started/);
  } finally {
    assert.equal(await kiln.stop(), 0);
  }
  const fingerprint = meta(dataDir, 'index_fingerprint');
  assert.match(fingerprint, /^\d+$/);

  // --- Online: small, slow batches so that the rebuild is observed while it runs.
  wipeIndex(dataDir);
  kiln = await startKiln({ dataDir, args: ['--reindex-batch', '4', '--reindex-pause-ms', '250'] });
  try {
    assert.equal((await metrics(kiln)).running, 1, 'the rebuild runs in the background');
    const during = await waitFor('the rebuild to count', async () => {
      const now = await metrics(kiln);
      return now.total > 0 ? now : null;
    });
    assert.equal(during.running, 1);
    assert.equal(during.total, TOTAL);
    // Reads and writes are served meanwhile; a write indexes its resource at once.
    const read = await kiln.request('GET', '/Patient/pat-39');
    assert.equal(read.status, 200);
    assert.equal(read.json.name[0].family, 'ReindexFamily');
    const created = await kiln.request('POST', '/Patient', {
      body: { resourceType: 'Patient', name: [{ family: 'WrittenDuringRebuild' }] },
    });
    assert.equal(created.status, 201, created.text);
    assert.equal(await count(kiln, '/Patient?family=writtenduringrebuild'), 1);
    const updated = await kiln.request('PUT', '/Patient/pat-38', {
      body: { resourceType: 'Patient', id: 'pat-38', name: [{ family: 'Renamed' }],
        identifier: [{ system: 'urn:reindex', value: 'mrn-38' }], birthDate: '1985-02-03' },
    });
    assert.equal(updated.status, 200, updated.text);
    assert.equal((await metrics(kiln)).running, 1, 'still rebuilding: batches were too fast');

    const after = await waitFor('the rebuild to finish', async () => {
      const now = await metrics(kiln);
      return now.running === 0 ? now : null;
    });
    assert.equal(after.done, TOTAL + 1);  // the Patient created meanwhile is scanned too
    assert.equal(after.failed, 0);
    assert.equal(await count(kiln, '/Patient?family=renamed'), 1);  // the update's rows stand
    assert.equal(await count(kiln, '/Patient?family=reindexfamily'), PATIENTS - 1);
    assert.equal(await count(kiln, '/Patient?family=writtenduringrebuild'), 1);
    assert.match(kiln.stderr, /"msg":"search index rebuild started","reason":"the index rules changed/);
    assert.match(kiln.stderr, /"msg":"search index rebuild finished","done":57,"failed":0/);
    // Put pat-38 back for the searches below.
    const back = await kiln.request('PUT', '/Patient/pat-38', {
      body: { resourceType: 'Patient', id: 'pat-38', name: [{ family: 'ReindexFamily' }],
        identifier: [{ system: 'urn:reindex', value: 'mrn-38' }], birthDate: '1985-02-03' },
    });
    assert.equal(back.status, 200);
    await searchesFindEverything(kiln);
  } finally {
    assert.equal(await kiln.stop(), 0);
  }
  assert.equal(meta(dataDir, 'index_fingerprint'), fingerprint);
  assert.equal(meta(dataDir, 'reindex_cursor'), '');

  // --- Offline.
  wipeIndex(dataDir);
  const r = await runKiln(['reindex', '--data', dataDir], { timeoutMs: 60000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Rebuilt the search index of 57 resources in [\d.]+ s \(\d+ resources\/s\)\.\n$/);
  assert.match(r.stderr, /reindex: 57\/57 resources \(100%\), \d+ resources\/s/);
  assert.equal(meta(dataDir, 'index_fingerprint'), fingerprint);
  kiln = await startKiln({ dataDir });
  try {
    // No rebuild needed, and every search answers right away.
    await searchesFindEverything(kiln);
    assert.equal((await metrics(kiln)).running, 0);
    assert.doesNotMatch(kiln.stderr, /search index rebuild started/);

    // The offline tool refuses a directory a server holds.
    const refused = await runKiln(['reindex', '--data', dataDir]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /kiln reindex: .*in use by another Kiln/);
    await searchesFindEverything(kiln);
  } finally {
    assert.equal(await kiln.stop(), 0);
  }
  kiln.cleanup();
});

test('SIGTERM does not wait for a rebuild, and the next start resumes it', async () => {
  const dataDir = freshDataDir();
  let kiln = await startKiln({ dataDir });
  try {
    await createData(kiln);
  } finally {
    assert.equal(await kiln.stop(), 0);
  }
  wipeIndex(dataDir);
  // One batch of 4 every 5 s: a full rebuild would take over a minute.
  kiln = await startKiln({ dataDir, args: ['--reindex-batch', '4', '--reindex-pause-ms', '5000'] });
  try {
    await waitFor('the first batch', async () => (await metrics(kiln)).done >= 4);
  } finally {
    const started = Date.now();
    assert.equal(await kiln.stop(), 0);
    assert.ok(Date.now() - started < 4000, `stopping took ${Date.now() - started} ms`);
  }
  assert.match(kiln.stderr, /search index rebuild stopped; it resumes at the next start/);
  assert.notEqual(meta(dataDir, 'reindex_cursor'), '');
  assert.equal(meta(dataDir, 'index_fingerprint'), '12345');

  kiln = await startKiln({ dataDir });
  try {
    await waitFor('the resumed rebuild to finish', async () => (await metrics(kiln)).running === 0);
    assert.match(kiln.stderr, /"reason":"resuming an interrupted rebuild","total":56,"already_done":4/);
    await searchesFindEverything(kiln);
  } finally {
    assert.equal(await kiln.stop(), 0);
  }
  assert.equal(meta(dataDir, 'reindex_cursor'), '');
  kiln.cleanup();
});

test('kiln reindex: usage and errors', async () => {
  const help = await runKiln(['help']);
  assert.match(help.stdout, /reindex --data DIR/);
  const usage = await runKiln(['reindex']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--data DIR is required/);
  const empty = freshDataDir();
  const missing = await runKiln(['reindex', '--data', empty]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /holds no Kiln database/);
  const badBatch = await runKiln(['reindex', '--data', empty, '--batch', '0']);
  assert.equal(badBatch.code, 2);
  const reindexHelp = await runKiln(['reindex', '--help']);
  assert.equal(reindexHelp.code, 0);
  assert.match(reindexHelp.stdout, /Usage: kiln reindex --data DIR/);
});
