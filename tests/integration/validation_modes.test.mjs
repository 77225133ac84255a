// The validation switches: warn-only mode stores what enforce mode refuses, reporting the
// problems as warnings; --validate-narrative false relaxes only the narrative check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKiln } from './lib/kiln.mjs';

test('warn-only stores an invalid resource and reports the problems as warnings', async () => {
  const kiln = await startKiln({ args: ['--validation', 'warn-only'] });
  try {
    const res = await kiln.request('POST', '/Patient', {
      headers: { Prefer: 'return=OperationOutcome' },
      body: { resourceType: 'Patient', birthDate: '2023-02-30' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.json.resourceType, 'OperationOutcome');
    const warning = res.json.issue.find((i) => i.severity === 'warning');
    assert.ok(warning, JSON.stringify(res.json));
    assert.deepEqual(warning.expression, ['Patient.birthDate']);
    const id = res.headers.get('location').match(/Patient\/([^/]+)\//)[1];
    assert.equal((await kiln.request('GET', `/Patient/${id}`)).status, 200);
    assert.match(kiln.stderr, /warn-only/);
    // Unsafe narrative is never stored, whatever the mode.
    const xss = await kiln.request('POST', '/Patient', {
      body: { resourceType: 'Patient', birthDate: '2023-02-30', text: { status: 'generated',
        div: '<div xmlns="http://www.w3.org/1999/xhtml">x<script>alert(1)</script></div>' } },
    });
    assert.equal(xss.status, 400);
    assert.ok(xss.json.issue.some((i) => i.expression?.[0] === 'Patient.text.div'));
    // Malformed JSON is never stored, whatever the mode.
    const bad = await kiln.request('POST', '/Patient', { body: '{"resourceType":"Patient",' });
    assert.equal(bad.status, 400);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});

test('enforce is the default and the narrative check can be relaxed on its own', async () => {
  const kiln = await startKiln({ args: ['--validate-narrative', 'false'] });
  try {
    const div = '<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">hi</p></div>';
    const ok = await kiln.request('POST', '/Patient', {
      body: { resourceType: 'Patient', text: { status: 'generated', div } },
    });
    assert.equal(ok.status, 201);
    const refused = await kiln.request('POST', '/Patient', {
      body: { resourceType: 'Patient', gender: 'robot' },
    });
    assert.equal(refused.status, 400);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});
