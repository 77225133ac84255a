// kiln import with the real binary and a real SQLite file: a generated Synthea population as
// NDJSON, a transaction Bundle file, failures named by line, a second import making version 2,
// the lock of a running server, and then `kiln serve` on the imported data: counts per type and
// references that resolve through the HTTP API.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKiln, runKiln, KILN_BIN } from './lib/kiln.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const generator = join(here, '..', '..', 'bench', 'population', 'generate.mjs');
const bundleDir = join(here, '..', '..', '..', 'shared', 'testdata', 'synthea', 'bundles');

function references(v, out = []) {
  if (Array.isArray(v)) {
    for (const x of v) references(x, out);
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'reference' && typeof x === 'string') out.push(x);
      else references(x, out);
    }
  }
  return out;
}

async function countOf(kiln, type) {
  const res = await kiln.request('GET', `/${type}?_summary=count`);
  assert.equal(res.status, 200, res.text);
  return res.json.total;
}

// The per-type lines of the summary: "  Type   1,234  (1,234 created, 0 updated)".
function summaryCounts(stdout) {
  const counts = {};
  for (const m of stdout.matchAll(/^ {2}(\w+)\s+([\d,]+)\s+\(([\d,]+) created, ([\d,]+) updated/gm)) {
    counts[m[1]] = { total: Number(m[2].replaceAll(',', '')), created: Number(m[3].replaceAll(',', '')),
      updated: Number(m[4].replaceAll(',', '')) };
  }
  return counts;
}

test('kiln import: a generated population as NDJSON, then served', async (t) => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  const dataDir = join(work, 'data');
  try {
    const ndjson = join(work, 'pop.ndjson');
    const manifestFile = join(work, 'manifest.json');
    execFileSync(process.execPath, [generator, '--seed', '7', '--clones', '1', '--out', ndjson,
      '--manifest', manifestFile, '--quiet']);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));
    assert.equal(manifest.total, 10682);

    const started = Date.now();
    const run = await runKiln(['import', ndjson, '--data', dataDir], { timeoutMs: 300000 });
    t.diagnostic(`imported ${manifest.total} resources in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /^Imported 10,682 resources in [\d.]+ s .*; 0 failed\.$/m);
    // A new store and NDJSON: the value indexes are built once at the end (--defer-indexes auto).
    assert.match(run.stdout, /building the search value indexes took [\d.]+ s/);
    // Not a terminal: a first line naming the input, progress lines every 5 s at most.
    assert.match(run.stderr, /^kiln import: 1 file \([\d.]+ MB\) into /m);
    const counts = summaryCounts(run.stdout);
    for (const [type, n] of Object.entries(manifest.byType)) {
      assert.deepEqual(counts[type], { total: n, created: n, updated: 0 }, type);
    }

    // Served: the same counts, and every reference of a sample resolves.
    const kiln = await startKiln({ dataDir });
    try {
      for (const type of ['Patient', 'Observation', 'Encounter', 'Claim', 'Organization']) {
        assert.equal(await countOf(kiln, type), manifest.byType[type], type);
      }
      // No index rebuild: the import recorded the index rules its rows follow.
      assert.doesNotMatch(kiln.stderr, /search index rebuild started/);
      const lines = readFileSync(ndjson, 'utf8').split('\n').filter(Boolean);
      let checked = 0;
      for (let i = 0; i < lines.length; i += 97) {
        const r = JSON.parse(lines[i]);
        const read = await kiln.request('GET', `/${r.resourceType}/${r.id}`);
        assert.equal(read.status, 200, `${r.resourceType}/${r.id}`);
        assert.equal(read.json.meta.versionId, '1');
        for (const ref of references(read.json)) {
          if (ref.startsWith('#')) continue;
          const target = await kiln.request('GET', `/${ref}`);
          assert.equal(target.status, 200, `${r.resourceType}/${r.id} -> ${ref}`);
          checked++;
        }
      }
      assert.ok(checked > 100, `only ${checked} references checked`);
      // Searches use the imported index rows.
      const patient = JSON.parse(lines.find((l) => l.startsWith('{"resourceType":"Patient"')));
      const enc = await kiln.request('GET', `/Encounter?patient=Patient/${patient.id}&_summary=count`);
      assert.equal(enc.status, 200);
      assert.ok(enc.json.total > 0);
    } finally {
      assert.equal(await kiln.stop(), 0);
    }

    // A second import of the same file: every resource gets version 2 (update, as PUT).
    const again = await runKiln(['import', ndjson, '--data', dataDir, '--quiet'], { timeoutMs: 300000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.equal(again.stderr, '', '--quiet prints no progress');
    // The store now holds more than the file brings: rows go into the indexes one by one.
    assert.doesNotMatch(again.stdout, /building the search value indexes/);
    const counts2 = summaryCounts(again.stdout);
    assert.deepEqual(counts2.Patient, { total: manifest.byType.Patient, created: 0,
      updated: manifest.byType.Patient });
    const kiln2 = await startKiln({ dataDir });
    try {
      const first = JSON.parse(readFileSync(ndjson, 'utf8').split('\n')[0]);
      const read = await kiln2.request('GET', `/${first.resourceType}/${first.id}`);
      assert.equal(read.json.meta.versionId, '2');
      const history = await kiln2.request('GET', `/${first.resourceType}/${first.id}/_history`);
      assert.equal(history.json.entry.length, 2);
      assert.equal(await countOf(kiln2, 'Observation'), manifest.byType.Observation);
    } finally {
      assert.equal(await kiln2.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kiln import: a transaction Bundle file; its urn:uuid references resolve when served', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  const dataDir = join(work, 'data');
  try {
    const file = join(bundleDir, 'Randolph_Keebler_ffa66c0a-87b0-4b78-bb7e-3a5c7c44d359.json');
    const bundle = JSON.parse(readFileSync(file, 'utf8'));
    const run = await runKiln(['import', file, '--data', dataDir, '--quiet'], { timeoutMs: 120000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`^Imported ${bundle.entry.length.toLocaleString('en-US')} resources`, 'm'));
    // POST entries linked by urn:uuid never search the store: auto defers the value indexes as
    // for NDJSON (the next test has a Bundle that does search).
    assert.match(run.stdout, /building the search value indexes took [\d.]+ s/);
    const kiln = await startKiln({ dataDir });
    try {
      const patient = await kiln.request('GET', '/Patient?_count=10');
      assert.equal(patient.json.entry.length, 1);
      const pid = patient.json.entry[0].resource.id;
      const obs = await kiln.request('GET', `/Observation?subject=Patient/${pid}&_count=1000`);
      const expected = bundle.entry.filter((e) => e.resource.resourceType === 'Observation').length;
      assert.equal(obs.json.entry.length, expected);
      for (const e of obs.json.entry.slice(0, 50)) {
        for (const ref of references(e.resource)) {
          assert.doesNotMatch(ref, /^urn:uuid:/);
          const target = await kiln.request('GET', `/${ref}`);
          assert.equal(target.status, 200, ref);
        }
      }
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kiln import: with deferred value indexes, a failing transaction Bundle stores nothing and the others are whole', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  const dataDir = join(work, 'data');
  try {
    const tx = (name, gender) => ({ resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: `urn:uuid:${name}`, resource: { resourceType: 'Patient', name: [{ family: name }], gender },
        request: { method: 'POST', url: 'Patient' } },
      { resource: { resourceType: 'Observation', status: 'final', code: { text: name },
        subject: { reference: `urn:uuid:${name}` } }, request: { method: 'POST', url: 'Observation' } },
    ] });
    const files = [['a', 'female'], ['b', 'robot'], ['c', 'male']].map(([name, gender]) => {
      const f = join(work, `${name}.json`);
      writeFileSync(f, JSON.stringify(tx(`0d4c7b1e-7a5e-4f0e-9a51-00000000000${name}`, gender)));
      return f;
    });
    const run = await runKiln(['import', ...files, '--data', dataDir], { timeoutMs: 120000 });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /building the search value indexes took/);
    assert.match(run.stdout, /^Imported 4 resources in .*; 1 failed\.$/m);
    assert.match(run.stdout, /b\.json entry 0: .*robot.*\(the transaction was rolled back: none of its entries were stored\)/);
    const kiln = await startKiln({ dataDir });
    try {
      assert.equal(await countOf(kiln, 'Patient'), 2);
      assert.equal(await countOf(kiln, 'Observation'), 2);
      const found = await kiln.request('GET', '/Observation?subject.gender=male');
      assert.equal(found.json.entry.length, 1);
      assert.equal(found.json.entry[0].resource.code.text, '0d4c7b1e-7a5e-4f0e-9a51-00000000000c');
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kiln import: a Bundle that searches the store (conditional requests) keeps the value indexes', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  const dataDir = join(work, 'data');
  try {
    const org = { resourceType: 'Organization', identifier: [{ system: 'urn:org', value: 'acme' }], name: 'Acme' };
    const first = join(work, 'orgs.json');
    writeFileSync(first, JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
      { fullUrl: 'urn:uuid:0d4c7b1e-7a5e-4f0e-9a51-000000000001', resource: org,
        request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:org|acme' } },
    ] }));
    const second = join(work, 'patients.json');
    writeFileSync(second, JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
      { resource: { resourceType: 'Patient', managingOrganization: { reference: 'Organization?identifier=urn:org|acme' } },
        request: { method: 'POST', url: 'Patient' } },
      { resource: org, request: { method: 'POST', url: 'Organization', ifNoneExist: 'identifier=urn:org|acme' } },
    ] }));
    const run = await runKiln(['import', first, second, '--data', dataDir, '--quiet'], { timeoutMs: 120000 });
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.doesNotMatch(run.stdout, /building the search value indexes/);
    assert.match(run.stdout, /^  Organization +1 /m);  // the second ifNoneExist found the first
    const kiln = await startKiln({ dataDir });
    try {
      const orgs = await kiln.request('GET', '/Organization?identifier=urn:org|acme');
      assert.equal(orgs.json.entry.length, 1);
      const patients = await kiln.request('GET', `/Patient?organization=Organization/${orgs.json.entry[0].resource.id}`);
      assert.equal(patients.json.entry.length, 1);
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kiln import: malformed lines are reported with their line numbers and do not stop it', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  const dataDir = join(work, 'data');
  try {
    const file = join(work, 'mixed.ndjson');
    writeFileSync(file, [
      '{"resourceType":"Patient","id":"ok-1"}',                        // 1
      '{"resourceType":"Patient","id":"ok-2"',                         // 2: bad JSON
      '',                                                              // 3: blank, skipped
      '"just a string"',                                               // 4: not a resource
      '{"resourceType":"Spaceship","id":"x"}',                         // 5: unknown type
      '{"resourceType":"Patient","id":"ok-3","gender":"robot"}',       // 6: invalid
      '{"resourceType":"Patient","id":"ok-4"}',                        // 7
    ].join('\n') + '\n');
    const run = await runKiln(['import', file, '--data', dataDir], { timeoutMs: 60000 });
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.match(run.stdout, /^Imported 2 resources .*; 4 failed\.$/m);
    const failures = run.stdout.split('Failures (4):\n')[1].trimEnd().split('\n');
    assert.equal(failures.length, 4);
    assert.match(failures[0], new RegExp(`^  ${file}:2: .*JSON`));
    assert.match(failures[1], new RegExp(`^  ${file}:4: .*must be a JSON object`));
    assert.match(failures[2], new RegExp(`^  ${file}:5: resourceType: Unknown resource type 'Spaceship'`));
    assert.match(failures[3], new RegExp(`^  ${file}:6: Patient.gender: .*robot`));

    // --stop-on-error: line 1 is stored, nothing after line 2.
    const stopDir = join(work, 'stop');
    const stop = await runKiln(['import', file, '--data', stopDir, '--stop-on-error', '--quiet']);
    assert.equal(stop.code, 1);
    assert.match(stop.stdout, /^Imported 1 resources .*; 1 failed\.$/m);
    assert.match(stop.stdout, /Stopped at the first failure/);

    // Usage errors: nothing is touched.
    const missing = await runKiln(['import', join(work, 'nope.ndjson'), '--data', dataDir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.ndjson/);
    const badFlag = await runKiln(['import', file, '--port', '1234']);
    assert.equal(badFlag.code, 2);
    assert.match(badFlag.stderr, /unknown flag --port/);
    const none = await runKiln(['import', '--data', dataDir]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no files given/);

    // A running server holds the data directory: refused with a clear message.
    const kiln = await startKiln({ dataDir });
    try {
      const locked = await runKiln(['import', file, '--data', dataDir]);
      assert.equal(locked.code, 1);
      assert.match(locked.stderr, /in use by another Kiln store .*stop the Kiln server/);
      const read = await kiln.request('GET', '/Patient/ok-4');
      assert.equal(read.status, 200);
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kiln import: killed while the value indexes are deferred, the next open builds them', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  const dataDir = join(work, 'data');
  try {
    const ndjson = join(work, 'pop.ndjson');
    const manifestFile = join(work, 'manifest.json');
    execFileSync(process.execPath, [generator, '--seed', '11', '--clones', '3', '--out', ndjson,
      '--manifest', manifestFile, '--quiet']);
    const manifest = JSON.parse(readFileSync(manifestFile, 'utf8'));

    // Killed (SIGKILL) just after the store dropped its value indexes, long before the end.
    const child = spawn(KILN_BIN, ['import', ndjson, '--data', dataDir, '--defer-indexes', 'on',
      '--group-writes', '200', '--log-level', 'info', '--quiet']);
    let stderr = '';
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal)));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no deferral logged:\n${stderr}`)), 60000);
      child.stderr.on('data', (d) => {
        stderr += d;
        if (stderr.includes('value indexes deferred')) { clearTimeout(timer); resolve(); }
      });
    });
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL', 'the import was still running when killed');

    const kiln = await startKiln({ dataDir });
    try {
      assert.match(kiln.stderr, /building the search value indexes an interrupted bulk load/);
      // What was committed is searchable through the rebuilt indexes, and consistent.
      const all = await countOf(kiln, 'Patient');
      assert.ok(all < manifest.byType.Patient, `${all} patients: the import was not interrupted`);
      const byGender = await kiln.request('GET',
        '/Patient?gender=male,female,other,unknown&_summary=count');
      assert.equal(byGender.json.total, all);
      const obs = await kiln.request('GET', '/Observation?_count=1');
      if (obs.json.entry?.length) {
        const o = obs.json.entry[0].resource;
        const bySubject = await kiln.request('GET',
          `/Observation?subject=${o.subject.reference}&code=${o.code.coding[0].system}|${o.code.coding[0].code}`);
        assert.ok(bySubject.json.entry.some((e) => e.resource.id === o.id));
      }
    } finally {
      assert.equal(await kiln.stop(), 0);
    }

    // Importing again completes it: every resource once, indexes built at the end.
    const again = await runKiln(['import', ndjson, '--data', dataDir, '--defer-indexes', 'on',
      '--quiet'], { timeoutMs: 300000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /building the search value indexes took/);
    const kiln2 = await startKiln({ dataDir });
    try {
      assert.doesNotMatch(kiln2.stderr, /interrupted bulk load/);
      for (const type of ['Patient', 'Observation', 'Encounter']) {
        assert.equal(await countOf(kiln2, type), manifest.byType[type], type);
      }
      const males = await kiln2.request('GET', '/Patient?gender=male&_summary=count');
      const females = await kiln2.request('GET', '/Patient?gender=female&_summary=count');
      assert.equal(males.json.total + females.json.total, manifest.byType.Patient);
    } finally {
      assert.equal(await kiln2.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('kiln import: --defer-indexes takes auto, on or off', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-import-'));
  try {
    const file = join(work, 'one.ndjson');
    writeFileSync(file, '{"resourceType":"Patient","id":"p1","gender":"female"}\n');
    const bad = await runKiln(['import', file, '--data', join(work, 'd1'), '--defer-indexes', 'sometimes']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--defer-indexes 'sometimes' is not one of auto, on, off/);
    const off = await runKiln(['import', file, '--data', join(work, 'd2'), '--defer-indexes=off', '--quiet']);
    assert.equal(off.code, 0, off.stderr);
    assert.doesNotMatch(off.stdout, /building the search value indexes/);
    const on = await runKiln(['import', file, '--data', join(work, 'd3'), '--defer-indexes', 'on', '--quiet']);
    assert.equal(on.code, 0, on.stderr);
    assert.match(on.stdout, /building the search value indexes took/);
    const kiln = await startKiln({ dataDir: join(work, 'd3') });
    try {
      const res = await kiln.request('GET', '/Patient?gender=female');
      assert.equal(res.json.entry.length, 1);
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
