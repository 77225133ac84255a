// Round trip of the official examples: PUT every non-definitional example resource of
// hl7.fhir.r4.examples@4.0.1 and read it back identical except meta.versionId/lastUpdated.
// Numbers are compared by their exact text (a decimal 1.50 must come back as 1.50).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKiln, PACKAGE_DIR } from './lib/kiln.mjs';

// Conformance and terminology resources are the definitions Kiln is built from, not examples.
const DEFINITIONAL = new Set(['StructureDefinition', 'SearchParameter', 'ValueSet', 'CodeSystem',
  'ConceptMap', 'OperationDefinition', 'CapabilityStatement', 'CompartmentDefinition',
  'MessageDefinition', 'ImplementationGuide', 'StructureMap', 'NamingSystem',
  'TerminologyCapabilities', 'GraphDefinition', 'ExampleScenario']);

// A JSON parser that keeps each number's source text, so the comparison is lossless.
function parseExact(text) {
  let i = 0;
  const ws = () => { while (/\s/.test(text[i])) i++; };
  function value() {
    ws();
    const c = text[i];
    if (c === '{') {
      i++; const o = {}; ws();
      if (text[i] === '}') { i++; return o; }
      for (;;) {
        ws(); const k = value(); ws(); i++; /* : */
        o[k] = value(); ws();
        if (text[i++] === '}') return o;
      }
    }
    if (c === '[') {
      i++; const a = []; ws();
      if (text[i] === ']') { i++; return a; }
      for (;;) { a.push(value()); ws(); if (text[i++] === ']') return a; }
    }
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const s = JSON.parse(text.slice(i, j + 1)); i = j + 1; return s;
    }
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i, i + 400));
    i += m[0].length;
    if (m[0] === 'true') return true;
    if (m[0] === 'false') return false;
    if (m[0] === 'null') return null;
    return { $number: m[0] };
  }
  return value();
}

function withoutServerMeta(r) {
  const copy = structuredClone(r);
  if (copy.meta) {
    delete copy.meta.versionId;
    delete copy.meta.lastUpdated;
    if (Object.keys(copy.meta).length === 0) delete copy.meta;
  }
  return copy;
}

test('every non-definitional official example round-trips losslessly', async () => {
  const files = readdirSync(PACKAGE_DIR).filter((f) => f.endsWith('.json') && f !== 'package.json');
  const examples = [];
  for (const f of files) {
    const text = readFileSync(join(PACKAGE_DIR, f), 'utf8');
    const r = JSON.parse(text);
    if (!r.resourceType || DEFINITIONAL.has(r.resourceType) || !r.id) continue;
    examples.push({ f, text, type: r.resourceType, id: r.id });
  }
  assert.ok(examples.length > 700, `found ${examples.length} examples`);
  // Two examples (Bundle-resources.json, Bundle-dataelements.json) are larger than the default
  // 16 MiB body limit; the limit is configuration, so this server gets a bigger one. This test is
  // about lossless storage, so validation only warns: the few examples that break R4's own rules
  // (see tests/unit/validation/known_invalid_examples.txt) are stored too.
  const kiln = await startKiln({ args: ['--max-body', '64M', '--validation', 'warn-only'] });
  try {
    const failures = [];
    for (const ex of examples) {
      const put = await kiln.request('PUT', `/${ex.type}/${ex.id}`, { body: ex.text });
      if (put.status !== 201 && put.status !== 200) {
        failures.push(`${ex.f}: PUT ${put.status} ${put.text.slice(0, 200)}`);
        continue;
      }
      const got = await kiln.request('GET', `/${ex.type}/${ex.id}`);
      try {
        assert.equal(got.status, 200);
        assert.deepEqual(withoutServerMeta(parseExact(got.text)),
                         withoutServerMeta(parseExact(ex.text)));
      } catch (e) {
        failures.push(`${ex.f}: ${e.message.slice(0, 300)}`);
      }
    }
    assert.deepEqual(failures, [], `${failures.length} of ${examples.length} examples failed`);
    console.log(`round-tripped ${examples.length} examples`);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});
