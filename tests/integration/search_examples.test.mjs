// Search over the official R4 examples in a real server, with the expected results computed here
// by a small independent oracle (plain JavaScript over the example files, following the R4 search
// page's rules), not by asking Kiln: tokens, strings (starts-with, case- and accent-insensitive),
// dates with prefixes and partial precision, references, chains, _has, _include and paging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startKiln, PACKAGE_DIR } from './lib/kiln.mjs';

const TYPES = ['Patient', 'Observation', 'Encounter', 'Practitioner', 'Organization', 'Condition'];

function load() {
  const byType = Object.fromEntries(TYPES.map((t) => [t, []]));
  for (const f of readdirSync(PACKAGE_DIR)) {
    const type = f.split('-')[0];
    if (!TYPES.includes(type) || !f.endsWith('.json')) continue;
    const text = readFileSync(join(PACKAGE_DIR, f), 'utf8');
    const r = JSON.parse(text);
    if (r.resourceType === type && r.id) byType[type].push({ r, text });
  }
  return byType;
}

// R4 string matching: the value starts with the search text, ignoring case and accents.
const fold = (s) => s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
const startsWith = (value, text) => typeof value === 'string' && fold(value).startsWith(fold(text));
const nameParts = (n) => [n.family, ...(n.given || []), ...(n.prefix || []), ...(n.suffix || []), n.text];
// A partial date covers [start, end); R4 ge: the resource's range ends after the search start.
function dateRange(s) {
  if (!s) return null;
  const [y, m = '01', d = '01'] = s.slice(0, 10).split('-');
  const start = Date.UTC(+y, +m - 1, +d);
  const end = s.length === 4 ? Date.UTC(+y + 1, 0, 1) : s.length === 7 ? Date.UTC(+y, +m, 1)
    : start + 86400000;
  return [start, end];
}
const ids = (list) => list.map((r) => r.id).sort();

async function allIds(kiln, path) {
  const out = [];
  let url = path;
  let pages = 0;
  while (url) {
    const res = await kiln.request('GET', url);
    assert.equal(res.status, 200, `${url}: ${res.text.slice(0, 300)}`);
    for (const e of res.json.entry || []) if (e.search?.mode === 'match') out.push(e.resource.id);
    url = (res.json.link || []).find((l) => l.relation === 'next')?.url;
    assert.ok(++pages < 200, 'paging does not end');
  }
  return out;
}

test('searches over the official examples match an independent oracle', async () => {
  const data = load();
  const kiln = await startKiln({ args: ['--validation', 'warn-only'] });
  try {
    for (const type of TYPES) {
      for (const { r, text } of data[type]) {
        const res = await kiln.request('PUT', `/${type}/${r.id}`, { body: text });
        assert.ok(res.status === 201 || res.status === 200, `${type}/${r.id}: ${res.status} ${res.text.slice(0, 200)}`);
      }
    }
    const P = data.Patient.map((x) => x.r);
    const O = data.Observation.map((x) => x.r);
    const sorted = async (path) => (await allIds(kiln, path)).sort();
    // An oracle that finds nothing would let an empty answer pass: require matches where the
    // examples have them.
    const nonEmpty = (list, what) => { assert.ok(list.length > 0, `the oracle found no ${what}`); return list; };

    // (every expectation below is non-trivial: the oracle finds matches for each)
    // token
    for (const g of ['male', 'female', 'other']) {
      assert.deepEqual(await sorted(`/Patient?gender=${g}&_count=100`), nonEmpty(ids(P.filter((p) => p.gender === g)), g), g);
    }
    assert.deepEqual(await sorted('/Patient?gender:not=male&_count=100'), ids(P.filter((p) => p.gender !== 'male')));
    // string: every name part, starts-with, folded
    for (const text of ['pet', 'CHALMERS', 'van', 'Hen']) {
      assert.deepEqual(await sorted(`/Patient?name=${encodeURIComponent(text)}&_count=100`),
        nonEmpty(ids(P.filter((p) => (p.name || []).some((n) => nameParts(n).some((v) => startsWith(v, text))))), text), text);
    }
    assert.deepEqual(await sorted('/Patient?family=chalmers&_count=100'),
      ids(P.filter((p) => (p.name || []).some((n) => startsWith(n.family, 'chalmers')))));
    // date with prefixes at year and day precision
    for (const [prefix, value] of [['ge', '1970'], ['lt', '1960-03-13'], ['eq', '1974-12-25'], ['le', '1932']]) {
      const [qs, qe] = dateRange(value);
      const keep = (p) => {
        const range = dateRange(p.birthDate);
        if (!range) return false;
        const [s, e] = range;
        return prefix === 'ge' ? e > qs || (s >= qs && e <= qe)
          : prefix === 'lt' ? s < qs
          : prefix === 'le' ? s < qs || (s >= qs && e <= qe)
          : s >= qs && e <= qe;
      };
      assert.deepEqual(await sorted(`/Patient?birthdate=${prefix}${value}&_count=100`), nonEmpty(ids(P.filter(keep)), prefix + value), prefix + value);
    }
    // reference, with and without the type
    for (const ref of ['Patient/example', 'Patient/f001', 'Patient/infant']) {
      assert.deepEqual(await sorted(`/Observation?subject=${ref}&_count=100`),
        nonEmpty(ids(O.filter((o) => o.subject?.reference === ref)), ref), ref);
    }
    assert.deepEqual(await sorted('/Observation?patient=example&_count=100'),
      ids(O.filter((o) => o.subject?.reference === 'Patient/example')));
    // chain: Observations whose subject Patient has a name part starting with "pet"
    const petIds = new Set(P.filter((p) => (p.name || []).some((n) => nameParts(n).some((v) => startsWith(v, 'pet')))).map((p) => `Patient/${p.id}`));
    assert.deepEqual(await sorted('/Observation?subject:Patient.name=pet&_count=100'),
      nonEmpty(ids(O.filter((o) => petIds.has(o.subject?.reference))), 'chain'));
    // _has: Patients that some Observation refers to as its subject with a LOINC code 29463-7
    const codes = (o) => (o.code?.coding || []).map((c) => `${c.system}|${c.code}`);
    const weighed = new Set(O.filter((o) => codes(o).includes('http://loinc.org|29463-7')).map((o) => o.subject?.reference));
    assert.deepEqual(await sorted('/Patient?_has:Observation:subject:code=http://loinc.org|29463-7&_count=100'),
      nonEmpty(ids(P.filter((p) => weighed.has(`Patient/${p.id}`))), '_has'));
    // token with system
    assert.deepEqual(await sorted('/Observation?code=http://loinc.org|29463-7&_count=100'),
      ids(O.filter((o) => codes(o).includes('http://loinc.org|29463-7'))));
    // _include: an Observation and its subject, marked include
    const inc = await kiln.request('GET', '/Observation?_id=f001&_include=Observation:subject');
    assert.equal(inc.status, 200);
    const f001 = O.find((o) => o.id === 'f001');
    assert.deepEqual(inc.json.entry.map((e) => `${e.search.mode}:${e.resource.resourceType}/${e.resource.id}`),
      ['match:Observation/f001', `include:${f001.subject.reference}`]);
    // paging: every Observation exactly once at 7 per page, in both directions
    const forward = await allIds(kiln, '/Observation?_count=7');
    assert.equal(forward.length, O.length);
    assert.deepEqual([...forward].sort(), ids(O));
    assert.equal(new Set(forward).size, forward.length);
  } finally {
    await kiln.stop();
  }
});
