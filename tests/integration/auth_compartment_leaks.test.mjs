// Leaks the authorization matrix's probing found in patient-context access (tokens limited to a
// patient's compartment), each fixed in src/rest/access.cc:
//  - Patient records that `link` to the patient are members of its R4 Patient compartment, but a
//    restricted token does not reach them (GET Patient/p2 is a 404): the compartment search
//    Patient/p1/Patient and Patient/p1/*, and system searches, returned them anyway.
//  - Chains and _has tested the linked resources wherever they were: p1's token learnt facts
//    about p2's Observations (Observation?has-member.subject=Patient/p2,
//    Practitioner?_has:Observation:performer:subject=Patient/p2).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAuthPair, bearer } from './lib/auth.mjs';

let pair;
let kiln;
const tokens = {};

before(async () => {
  pair = await startAuthPair({ clients: [
    { id: 'admin', alg: 'RS256', scopes: ['system/*.cruds'] },
    { id: 'patient', alg: 'RS256', scopes: ['patient/*.rs'], claims: { patient: 'p1' } },
    { id: 'patient-plus', alg: 'RS256', scopes: ['patient/*.rs', 'system/Observation.rs', 'system/Patient.rs'],
      claims: { patient: 'p1' } },
    { id: 'patient-user', alg: 'ES256', scopes: ['user/*.rs'], claims: { fhirUser: 'Patient/p1' } },
  ] });
  kiln = pair.kiln;
  tokens.admin = await pair.as.token('admin', 'system/*.cruds');
  tokens.patient = await pair.as.token('patient', 'patient/*.rs');
  tokens.plus = await pair.as.token('patient-plus', 'patient/*.rs system/Observation.rs system/Patient.rs');
  tokens.user = await pair.as.token('patient-user', 'user/*.rs');
  const put = async (r) => {
    const res = await kiln.request('PUT', `/${r.resourceType}/${r.id}`, { headers: bearer(tokens.admin), body: r });
    assert.equal(res.status, 201, res.text);
  };
  await put({ resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] });
  // p2 links to p1: by R4's CompartmentDefinition, p2 is in p1's compartment.
  await put({ resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }],
    link: [{ other: { reference: 'Patient/p1' }, type: 'seealso' }] });
  await put({ resourceType: 'Practitioner', id: 'pr1', name: [{ family: 'Doc' }] });
  await put({ resourceType: 'Practitioner', id: 'pr2', name: [{ family: 'Other' }] });
  await put({ resourceType: 'Observation', id: 'b1', status: 'final', code: { text: 'secret' },
    subject: { reference: 'Patient/p2' }, performer: [{ reference: 'Practitioner/pr2' }] });
  await put({ resourceType: 'Observation', id: 'a1', status: 'final', code: { text: 'mine' },
    subject: { reference: 'Patient/p1' }, performer: [{ reference: 'Practitioner/pr1' }],
    hasMember: [{ reference: 'Observation/b1' }] });
  // In p1's compartment through its second compartment parameter (performer), not its subject.
  await put({ resourceType: 'Observation', id: 'by-p1', status: 'final', code: { text: 'reported' },
    subject: { reference: 'Patient/p2' }, performer: [{ reference: 'Patient/p1' }] });
});

after(async () => { await pair?.close(); });

const ids = (r) => (r.json?.entry ?? []).map((e) => `${e.resource.resourceType}/${e.resource.id}`);
const get = (who, path) => kiln.request('GET', path, { headers: bearer(tokens[who]) });

test('a linked Patient record is not reached through compartment or system searches', async () => {
  for (const who of ['patient', 'user']) {
    assert.equal((await get(who, '/Patient/p2')).status, 404, who);
    const own = await get(who, '/Patient/p1/Patient');
    assert.equal(own.status, 200, `${who}: ${own.text}`);
    assert.deepEqual(ids(own), [], who);
    const star = await get(who, '/Patient/p1/*');
    assert.equal(star.status, 200, `${who}: ${star.text}`);
    assert.deepEqual(ids(star).sort(), ['Observation/a1', 'Observation/by-p1'], who);
    const system = await get(who, '/?_id=p2');
    assert.equal(system.status, 200, `${who}: ${system.text}`);
    assert.deepEqual(ids(system), [], who);
    const typed = await get(who, '/?_type=Patient');
    assert.equal(typed.status, 403, `${who}: ${typed.text}`);
    assert.match(typed.json.issue[0].diagnostics, /insufficient_scope/);
    const count = await get(who, '/Patient/p1/Patient?_summary=count');
    assert.equal(count.json.total, 0, who);
  }
  // A token that may search every Patient sees the linked record as before.
  const plus = await get('plus', '/Patient/p1/Patient');
  assert.deepEqual(ids(plus), ['Patient/p2']);
  assert.deepEqual(ids(await get('admin', '/Patient/p1/Patient')), ['Patient/p2']);
});

test('chains and _has may not pass through a type the token reaches only in its compartment', async () => {
  for (const who of ['patient', 'user']) {
    for (const path of ['/Observation?has-member.subject=Patient/p2', '/Observation?has-member:Observation.code:text=secret',
      '/Practitioner?_has:Observation:performer:subject=Patient/p2', '/Practitioner?_has:Observation:performer:code:text=secret',
      '/Observation?subject:Patient.name=One', '/Patient?_has:Observation:subject:code:text=mine']) {
      const r = await get(who, path);
      assert.equal(r.status, 403, `${who} ${path}: ${r.status} ${r.text}`);
      assert.match(r.json.issue[0].diagnostics, /insufficient_scope: a chained or _has search parameter through/);
      assert.match(r.headers.get('www-authenticate'), /insufficient_scope/);
    }
    // Through shared types (reached without restriction) chains still work.
    const shared = await get(who, '/Observation?performer:Practitioner.name=Doc');
    assert.equal(shared.status, 200, shared.text);
    assert.deepEqual(ids(shared), ['Observation/a1']);
  }
  // In a batch entry and a conditional criterion, too.
  const batch = await kiln.request('POST', '/', { headers: bearer(tokens.patient), body: {
    resourceType: 'Bundle', type: 'batch',
    entry: [{ request: { method: 'GET', url: 'Practitioner?_has:Observation:performer:subject=Patient/p2' } }] } });
  assert.equal(batch.status, 200, batch.text);
  assert.match(batch.json.entry[0].response.status, /^403/);
  // With an unrestricted grant on the types the chain passes through, it is allowed.
  const plus = await get('plus', '/Practitioner?_has:Observation:performer:subject=Patient/p2');
  assert.equal(plus.status, 200, plus.text);
  assert.deepEqual(ids(plus), ['Practitioner/pr2']);
});

test('a read checks every compartment parameter of the type, one search each, driven by the id', async () => {
  // Membership is tested per compartment parameter (subject, performer, ...) with the id, not
  // by reading the whole compartment: the Observation p1 performed is p1's to read.
  for (const who of ['patient', 'user']) {
    const r = await get(who, '/Observation/by-p1');
    assert.equal(r.status, 200, `${who}: ${r.text}`);
    assert.equal((await get(who, '/Observation/b1')).status, 404, who);
    const inc = await get(who, '/Observation?_id=a1&_include=Observation:has-member');
    assert.deepEqual(ids(inc), ['Observation/a1'], `${who}: b1 (p2's) is dropped from the includes`);
    const search = await get(who, '/Observation?_count=50');
    assert.deepEqual(ids(search).sort(), ['Observation/a1', 'Observation/by-p1'], who);
  }
});
