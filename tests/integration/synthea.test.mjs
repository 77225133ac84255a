// Loads every Synthea transaction Bundle (../shared/testdata/synthea/bundles: 34 Bundles, 10,682
// resources whose references are urn:uuid fullUrls) into the real server as transactions, then
// checks that every stored resource is there and that every reference between them resolves.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKiln } from './lib/kiln.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const bundleDir = join(here, '..', '..', '..', 'shared', 'testdata', 'synthea', 'bundles');

// Every "reference" string anywhere in `v`.
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

// Runs `fn` over `items` with at most `width` calls in flight.
async function pool(items, width, fn) {
  let next = 0;
  const run = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: width }, run));
}

test('Synthea transaction Bundles load and their references resolve', async (t) => {
  const files = readdirSync(bundleDir).filter((f) => f.endsWith('.json')).sort();
  assert.equal(files.length, 34);
  const kiln = await startKiln();
  try {
    const expectedByType = new Map();
    let resources = 0;
    const started = Date.now();
    await pool(files, 2, async (file) => {
      const text = readFileSync(join(bundleDir, file), 'utf8');
      const bundle = JSON.parse(text);
      for (const e of bundle.entry) {
        const type = e.resource.resourceType;
        expectedByType.set(type, (expectedByType.get(type) ?? 0) + 1);
      }
      const res = await kiln.request('POST', '', {
        headers: { 'Content-Type': 'application/fhir+json', Prefer: 'return=minimal' },
        body: text,
      });
      assert.equal(res.status, 200, `${file}: ${res.text.slice(0, 600)}`);
      assert.equal(res.json.type, 'transaction-response');
      assert.equal(res.json.entry.length, bundle.entry.length, file);
      res.json.entry.forEach((e, i) => {
        assert.equal(e.response.status, '201 Created', `${file} entry ${i}`);
        const type = bundle.entry[i].resource.resourceType;
        assert.match(e.response.location, new RegExp(`/${type}/[^/]+/_history/1$`));
      });
      resources += bundle.entry.length;
    });
    const seconds = (Date.now() - started) / 1000;
    t.diagnostic(`loaded ${resources} resources in ${seconds.toFixed(1)} s ` +
                 `(${Math.round(resources / seconds)} resources/s)`);
    assert.equal(resources, 10682);

    // Every stored resource, type by type, through search paging.
    const stored = new Map();  // "Type/id" -> resource
    for (const [type, count] of expectedByType) {
      let url = `/${type}?_count=1000`;
      let n = 0;
      while (url) {
        const page = await kiln.request('GET', url);
        assert.equal(page.status, 200, page.text.slice(0, 300));
        for (const e of page.json.entry ?? []) {
          stored.set(`${type}/${e.resource.id}`, e.resource);
          n++;
        }
        url = page.json.link.find((l) => l.relation === 'next')?.url;
      }
      assert.equal(n, count, `${type}: stored ${n}, sent ${count}`);
    }

    // Every reference is local (no urn:uuid left) and names a stored resource.
    const targets = new Set();
    let checked = 0;
    for (const [key, resource] of stored) {
      for (const ref of references(resource)) {
        if (ref.startsWith('#')) continue;  // contained resources
        assert.ok(!ref.startsWith('urn:'), `${key} still refers to ${ref}`);
        assert.ok(stored.has(ref), `${key} refers to ${ref}, which is not stored`);
        targets.add(ref);
        checked++;
      }
    }
    t.diagnostic(`${checked} references to ${targets.size} resources resolve`);
    assert.ok(checked > 30000);

    // And the targets read back (a sample of each type).
    const sample = [...targets].filter((_, i) => i % 10 === 0);
    await pool(sample, 4, async (ref) => {
      const res = await kiln.request('GET', `/${ref}`);
      assert.equal(res.status, 200, `GET ${ref}: ${res.status}`);
    });
  } finally {
    const code = await kiln.stop();
    kiln.cleanup();
    assert.equal(code, 0, 'kiln should exit cleanly on SIGTERM');
  }
});
