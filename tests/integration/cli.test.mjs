// The kiln command line outside `serve`: version, help, and `kiln fhirpath`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { runKiln, PACKAGE_DIR } from './lib/kiln.mjs';

test('kiln version and help', async () => {
  const v = await runKiln(['version']);
  assert.equal(v.code, 0);
  assert.match(v.stdout, /^kiln \d+\.\d+\.\d+ \(FHIR R4 4\.0\.1\)/);
  const h = await runKiln(['help']);
  assert.equal(h.code, 0);
  assert.match(h.stdout, /serve/);
  assert.match(h.stdout, /fhirpath/);
  const bad = await runKiln(['frobnicate']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /unknown command 'frobnicate'/);
});

test('kiln fhirpath evaluates an expression against a resource file', async () => {
  const file = join(PACKAGE_DIR, 'Patient-example.json');
  const r = await runKiln(['fhirpath', "Patient.name.where(use = 'official').given", file]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [
    { type: 'string', value: 'Peter' },
    { type: 'string', value: 'James' },
  ]);
  const b = await runKiln(['fhirpath', 'Patient.birthDate + 1 year', file]);
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(JSON.parse(b.stdout), [{ type: 'date', value: '1975-12-25' }]);
});

test('kiln fhirpath reports syntax errors and unreadable files', async () => {
  const file = join(PACKAGE_DIR, 'Patient-example.json');
  const r = await runKiln(['fhirpath', 'Patient.name.(', file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /syntax error.*position/i);
  const missing = await runKiln(['fhirpath', 'Patient.name', '/nonexistent.json']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read/);
  const usage = await runKiln(['fhirpath', 'Patient.name']);
  assert.equal(usage.code, 2);
});
