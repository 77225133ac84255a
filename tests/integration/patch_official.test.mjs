// The official patch cases (fhir-test-cases r4/patch) run through the real server: each case's
// input is stored with PUT, the patch is sent with PATCH, and the answer (and a read after it) must
// be the expected output, apart from the server's id and meta; error cases must be a 422 that
// stores nothing. The FHIRPath Patch cases are FHIR XML, converted by tests/tools.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKiln, PACKAGE_DIR } from './lib/kiln.mjs';
import { convertCases } from '../tools/fhirpatch_cases.mjs';
import { jsonText } from '../tools/fhir_xml.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const caseDir = join(here, '..', '..', '..', 'shared', 'testdata', 'fhir-test-cases', 'r4', 'patch');

// The resource without what the server owns or adds.
function strip(resource) {
  const { id, meta, ...rest } = resource;
  if (meta) {
    const { versionId, lastUpdated, ...metaRest } = meta;
    if (Object.keys(metaRest).length > 0) rest.meta = metaRest;
  }
  return rest;
}

// Deep equality with object members in any order (JSON has no member order).
function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v !== null && typeof v === 'object') {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  }
  return v;
}

async function runCase(kiln, t, { name, id, input, contentType, patch, output, error }) {
  await t.test(name, async () => {
    const put = await kiln.request('PUT', `/${input.resourceType}/${id}`,
                                   { body: jsonText({ ...input, id }) });
    assert.ok(put.status === 201 || put.status === 200, `PUT: ${put.status} ${put.text}`);
    const res = await kiln.request('PATCH', `/${input.resourceType}/${id}`, {
      headers: { 'Content-Type': contentType }, body: jsonText(patch) });
    if (error !== undefined) {
      assert.equal(res.status, 422, res.text);
      if (error) assert.match(res.json.issue[0].diagnostics, new RegExp(error.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      const read = await kiln.request('GET', `/${input.resourceType}/${id}`);
      assert.equal(read.json.meta.versionId, '1');
      return;
    }
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(canonical(strip(res.json)), canonical(strip(JSON.parse(jsonText(output)))));
    assert.equal(res.json.meta.versionId, '2');
    const read = await kiln.request('GET', `/${input.resourceType}/${id}`);
    assert.deepEqual(read.json, res.json);
  });
}

test('JSON Patch operations end to end', async (t) => {
  // The official JSON Patch cases patch plain JSON documents that are not FHIR resources, so they
  // run in the unit test (tests/unit/patch); this case puts every operation through the server.
  const kiln = await startKiln();
  try {
    await runCase(kiln, t, {
      name: 'add, remove, replace, move, copy, test on a Patient',
      id: 'jp1',
      input: { resourceType: 'Patient', name: [{ family: 'A', given: ['x', 'y'] }], active: true },
      contentType: 'application/json-patch+json',
      patch: [{ op: 'test', path: '/active', value: true },
              { op: 'replace', path: '/active', value: false },
              { op: 'move', from: '/name/0/given/0', path: '/name/0/given/-' },
              { op: 'copy', from: '/name/0', path: '/name/-' },
              { op: 'remove', path: '/name/1/given' },
              { op: 'add', path: '/gender', value: 'male' }],
      output: { resourceType: 'Patient', name: [{ family: 'A', given: ['y', 'x'] }, { family: 'A' }],
                active: false, gender: 'male' },
    });
  } finally {
    assert.equal(await kiln.stop(), 0);
    kiln.cleanup();
  }
});

test('official FHIRPath Patch cases through the server', async (t) => {
  const cases = convertCases(readFileSync(join(caseDir, 'fhir-patch-tests.xml'), 'utf8'),
                             PACKAGE_DIR);
  assert.equal(cases.length, 33);
  const kiln = await startKiln();
  try {
    let n = 0;
    for (const c of cases) {
      n += 1;
      await runCase(kiln, t, {
        name: c.name, id: `fp${n}`, input: c.input,
        contentType: 'application/fhir+json', patch: c.diff, output: c.output, error: c.error,
      });
    }
  } finally {
    assert.equal(await kiln.stop(), 0);
    kiln.cleanup();
  }
});
