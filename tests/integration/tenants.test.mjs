// Multi-tenancy (docs/tenants.md) with the real kiln binary: --tenancy url (two tenants holding
// the same ids, isolated across every interaction: read, vread, update, patch, delete, create,
// conditional create/update/delete, history, type/system/compartment search, _include,
// _revinclude, chains, _has, _summary=count, batch and transaction Bundles, $validate, paging),
// links, Location headers and fullUrls that carry [base]/tenant/{id}, cursors that do not open in
// another tenant; then --tenancy claim and url+claim with a real authorization server
// (oidc-provider, tests/auth/authz-server.mjs) whose tokens carry a `custom:tenantId` claim:
// tenants from tokens, disagreement (403), cursors bound to the caller; configuration errors and
// kiln import --tenant.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKiln, runKiln, freshDataDir } from './lib/kiln.mjs';
import { startAuthServer } from '../auth/authz-server.mjs';
import { bearer, BASE } from './lib/auth.mjs';

const ids = (bundle) => (bundle.entry ?? []).filter((e) => e.search?.mode !== 'outcome')
  .map((e) => `${e.resource.resourceType}/${e.resource.id}`).sort();

function assertOutcome(r, status, pattern, what) {
  assert.equal(r.status, status, `${what}: ${r.status} ${r.text}`);
  assert.equal(r.json?.resourceType, 'OperationOutcome', what);
  if (pattern) assert.match(r.json.issue[0].diagnostics, pattern, what);
  assert.equal(r.json.entry, undefined, `${what}: no data`);
}

// A link of a Bundle as a path relative to the server's FHIR base (for kiln.request).
const relative = (url, base) => {
  assert.ok(url.startsWith(base), `${url} is under ${base}`);
  return url.slice(base.length);
};

describe('--tenancy url', () => {
  let kiln;
  let base;  // http://127.0.0.1:port/fhir
  const A = (path) => `/tenant/a${path}`;
  const B = (path) => `/tenant/b${path}`;
  const put = async (path, body) => {
    const r = await kiln.request('PUT', path, { body });
    assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${r.text}`);
    return r;
  };

  before(async () => {
    kiln = await startKiln({ args: ['--tenancy', 'url'] });
    base = kiln.base;
    // The same ids in both tenants, with different contents.
    for (const [t, family] of [['a', 'Alpha'], ['b', 'Beta']]) {
      const T = (p) => `/tenant/${t}${p}`;
      await put(T('/Patient/x'), { resourceType: 'Patient', id: 'x', name: [{ family }],
        identifier: [{ system: 'urn:sys', value: 'shared' }] });
      await put(T('/Practitioner/doc'), { resourceType: 'Practitioner', id: 'doc', name: [{ family: `${family}Doc` }] });
      await put(T('/Observation/o1'), { resourceType: 'Observation', id: 'o1', status: 'final',
        code: { coding: [{ system: 'http://loinc.org', code: t === 'a' ? '1111-1' : '2222-2' }] },
        subject: { reference: 'Patient/x' }, performer: [{ reference: 'Practitioner/doc' }] });
    }
    // Only in a: more versions, and resources for paging.
    await put(A('/Patient/x'), { resourceType: 'Patient', id: 'x', name: [{ family: 'Alpha' }],
      identifier: [{ system: 'urn:sys', value: 'shared' }], active: true });
    for (let i = 0; i < 3; i++) await put(A(`/Patient/pg${i}`), { resourceType: 'Patient', id: `pg${i}`, name: [{ family: 'Pager' }] });
  });
  after(async () => { await kiln?.stop(); kiln?.cleanup(); });

  test('the same id in two tenants: independent resources, versions and history', async () => {
    const a = await kiln.request('GET', A('/Patient/x'));
    const b = await kiln.request('GET', B('/Patient/x'));
    assert.equal(a.status, 200);
    assert.equal(b.status, 200);
    assert.equal(a.json.name[0].family, 'Alpha');
    assert.equal(b.json.name[0].family, 'Beta');
    assert.equal(a.json.meta.versionId, '2');
    assert.equal(b.json.meta.versionId, '1');
    assert.equal((await kiln.request('GET', A('/Patient/x/_history/2'))).status, 200);
    assert.equal((await kiln.request('GET', B('/Patient/x/_history/2'))).status, 404);
    const ha = await kiln.request('GET', A('/Patient/x/_history'));
    const hb = await kiln.request('GET', B('/Patient/x/_history'));
    assert.equal(ha.json.total, 2);
    assert.equal(hb.json.total, 1);
    assert.equal(ha.json.entry[0].fullUrl, `${base}/tenant/a/Patient/x`);
    assert.equal(ha.json.link[0].url, `${base}/tenant/a/Patient/x/_history`);
    // Only in a.
    assert.equal((await kiln.request('GET', B('/Patient/pg0'))).status, 404);
    assert.equal((await kiln.request('GET', B('/Patient/pg0/_history'))).status, 404);
  });

  test('the tenant\'s base in Location headers, links and fullUrls', async () => {
    const created = await kiln.request('POST', A('/Patient'), { body: { resourceType: 'Patient', name: [{ family: 'New' }] } });
    assert.equal(created.status, 201);
    assert.match(created.headers.get('location'), new RegExp(`^${base}/tenant/a/Patient/[^/]+/_history/1$`));
    const id = created.json.id;
    assert.equal((await kiln.request('GET', B(`/Patient/${id}`))).status, 404);
    const updated = await kiln.request('PUT', B('/Patient/x'), { body: { resourceType: 'Patient', id: 'x',
      name: [{ family: 'Beta' }], identifier: [{ system: 'urn:sys', value: 'shared' }] } });
    assert.equal(updated.headers.get('location'), `${base}/tenant/b/Patient/x/_history/2`);
    const s = await kiln.request('GET', A('/Patient?family=Alpha'));
    assert.equal(s.json.link[0].url, `${base}/tenant/a/Patient?family=Alpha`);
    assert.deepEqual(s.json.entry.map((e) => e.fullUrl), [`${base}/tenant/a/Patient/x`]);
    const sys = await kiln.request('GET', A('?_type=Practitioner'));
    assert.equal(sys.json.link[0].url, `${base}/tenant/a?_type=Practitioner`);
    assert.deepEqual(sys.json.entry.map((e) => e.fullUrl), [`${base}/tenant/a/Practitioner/doc`]);
    await kiln.request('DELETE', A(`/Patient/${id}`));
  });

  test('searches see their own tenant only: type, system, compartment, totals, count', async () => {
    const cases = [
      // [path, ids in a, ids in b]
      ['/Patient?family=Alpha', ['Patient/x'], []],
      ['/Patient?family=Beta', [], ['Patient/x']],
      ['/Patient?identifier=urn:sys|shared', ['Patient/x'], ['Patient/x']],
      ['/Observation?code=http://loinc.org|2222-2', [], ['Observation/o1']],
      ['?_type=Patient&family=Beta', [], ['Patient/x']],
      ['?_id=pg1', ['Patient/pg1'], []],
      ['/Patient/x/Observation?code=http://loinc.org|1111-1', ['Observation/o1'], []],
      ['/Patient?family=Pager', ['Patient/pg0', 'Patient/pg1', 'Patient/pg2'], []],
    ];
    for (const [path, inA, inB] of cases) {
      const a = await kiln.request('GET', A(path));
      const b = await kiln.request('GET', B(path));
      assert.equal(a.status, 200, `a ${path}: ${a.text}`);
      assert.equal(b.status, 200, `b ${path}: ${b.text}`);
      assert.deepEqual(ids(a.json), inA, `a ${path}`);
      assert.deepEqual(ids(b.json), inB, `b ${path}`);
    }
    for (const [path, a, b] of [['/Patient?_summary=count', 4, 1], ['/Patient?_total=accurate&_count=1', 4, 1],
      ['?_summary=count', 6, 3], ['/Patient?family=Pager&_summary=count', 3, 0]]) {
      assert.equal((await kiln.request('GET', A(path))).json.total, a, `a ${path}`);
      assert.equal((await kiln.request('GET', B(path))).json.total, b, `b ${path}`);
    }
    // Everything in a's compartment of Patient/x is a's.
    const all = await kiln.request('GET', A('/Patient/x/*'));
    assert.deepEqual(ids(all.json).filter((id) => id.startsWith('Observation/')), ['Observation/o1']);
    assert.ok(all.json.entry.every((e) => e.fullUrl.startsWith(`${base}/tenant/a/`)));
    assert.equal(all.json.entry.find((e) => e.resource.id === 'o1').resource.code.coding[0].code, '1111-1');
    // POST _search too.
    const post = await kiln.request('POST', B('/Patient/_search'), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'family=Alpha' });
    assert.equal(post.status, 200);
    assert.deepEqual(ids(post.json), []);
  });

  test('_include, _revinclude, chains and _has stay in the tenant', async () => {
    const inc = await kiln.request('GET', B('/Observation?_include=Observation:subject&_include=Observation:performer'));
    assert.deepEqual(ids(inc.json), ['Observation/o1', 'Patient/x', 'Practitioner/doc']);
    const patient = inc.json.entry.find((e) => e.resource.resourceType === 'Patient');
    assert.equal(patient.resource.name[0].family, 'Beta');
    assert.equal(patient.fullUrl, `${base}/tenant/b/Patient/x`);
    const rev = await kiln.request('GET', A('/Patient?_id=x&_revinclude=Observation:subject'));
    assert.deepEqual(ids(rev.json), ['Observation/o1', 'Patient/x']);
    assert.equal(rev.json.entry.find((e) => e.resource.resourceType === 'Observation').resource.code.coding[0].code, '1111-1');
    // Chains and _has through the other tenant's data find nothing.
    for (const [path, inA, inB] of [
      ['/Observation?subject:Patient.family=Beta', [], ['Observation/o1']],
      ['/Observation?performer:Practitioner.family=AlphaDoc', ['Observation/o1'], []],
      ['/Patient?_has:Observation:subject:code=http://loinc.org|2222-2', [], ['Patient/x']],
      ['/Practitioner?_has:Observation:performer:code=http://loinc.org|1111-1', ['Practitioner/doc'], []],
    ]) {
      assert.deepEqual(ids((await kiln.request('GET', A(path))).json), inA, `a ${path}`);
      assert.deepEqual(ids((await kiln.request('GET', B(path))).json), inB, `b ${path}`);
    }
  });

  test('type and system history stay in the tenant', async () => {
    const a = await kiln.request('GET', A('/_history?_count=100'));
    const b = await kiln.request('GET', B('/_history?_count=100'));
    assert.ok(a.json.entry.every((e) => e.fullUrl.startsWith(`${base}/tenant/a/`)));
    assert.ok(b.json.entry.every((e) => e.fullUrl.startsWith(`${base}/tenant/b/`)));
    assert.ok(!b.json.entry.some((e) => e.resource?.id === 'pg0'));
    const tb = await kiln.request('GET', B('/Patient/_history'));
    assert.ok(tb.json.entry.every((e) => e.resource?.name?.[0]?.family !== 'Alpha'));
  });

  test('update, patch and delete in one tenant leave the other alone', async () => {
    await put(A('/Practitioner/tmp'), { resourceType: 'Practitioner', id: 'tmp', name: [{ family: 'A' }] });
    await put(B('/Practitioner/tmp'), { resourceType: 'Practitioner', id: 'tmp', name: [{ family: 'B' }] });
    const patch = await kiln.request('PATCH', A('/Practitioner/tmp'), {
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'replace', path: '/name/0/family', value: 'A2' }] });
    assert.equal(patch.status, 200, patch.text);
    assert.equal(patch.headers.get('location'), `${base}/tenant/a/Practitioner/tmp/_history/2`);
    assert.equal((await kiln.request('GET', B('/Practitioner/tmp'))).json.name[0].family, 'B');
    const del = await kiln.request('DELETE', A('/Practitioner/tmp'));
    assert.equal(del.status, 204);
    assert.equal((await kiln.request('GET', A('/Practitioner/tmp'))).status, 410);
    const b = await kiln.request('GET', B('/Practitioner/tmp'));
    assert.equal(b.status, 200);
    assert.equal(b.json.meta.versionId, '1');
    // A patch of a resource only the other tenant has: 404.
    const missing = await kiln.request('PATCH', B('/Patient/pg0'), {
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'add', path: '/active', value: true }] });
    assert.equal(missing.status, 404);
  });

  test('conditional create, update, patch and delete select in their tenant only', async () => {
    const body = { resourceType: 'Patient', identifier: [{ system: 'urn:cond', value: '1' }] };
    const inA = await kiln.request('POST', A('/Patient'), { headers: { 'If-None-Exist': 'identifier=urn:cond|1' }, body });
    assert.equal(inA.status, 201);
    const inB = await kiln.request('POST', B('/Patient'), { headers: { 'If-None-Exist': 'identifier=urn:cond|1' }, body });
    assert.equal(inB.status, 201, 'b does not see a\'s match');
    assert.notEqual(inA.json.id, inB.json.id);
    const again = await kiln.request('POST', A('/Patient'), { headers: { 'If-None-Exist': 'identifier=urn:cond|1' }, body });
    assert.equal(again.status, 200);
    assert.equal(again.json.id, inA.json.id);
    // Conditional update in b finds b's.
    const upd = await kiln.request('PUT', B('/Patient?identifier=urn:cond|1'), { body: { ...body, active: false } });
    assert.equal(upd.status, 200);
    assert.equal(upd.json.id, inB.json.id);
    assert.equal(upd.headers.get('location'), `${base}/tenant/b/Patient/${inB.json.id}/_history/2`);
    // No match in b: a conditional update creates there.
    const create = await kiln.request('PUT', B('/Patient?identifier=urn:sys|new-in-b'), {
      body: { resourceType: 'Patient', identifier: [{ system: 'urn:sys', value: 'new-in-b' }] } });
    assert.equal(create.status, 201);
    assert.equal((await kiln.request('GET', A('/Patient?identifier=urn:sys|new-in-b'))).json.entry, undefined);
    const patched = await kiln.request('PATCH', A('/Patient?identifier=urn:cond|1'), {
      headers: { 'Content-Type': 'application/json-patch+json' },
      body: [{ op: 'add', path: '/gender', value: 'other' }] });
    assert.equal(patched.status, 200);
    assert.equal(patched.json.id, inA.json.id);
    const del = await kiln.request('DELETE', A('/Patient?identifier=urn:cond|1'));
    assert.equal(del.status, 204);
    assert.equal((await kiln.request('GET', A(`/Patient/${inA.json.id}`))).status, 410);
    const stillB = await kiln.request('GET', B(`/Patient/${inB.json.id}`));
    assert.equal(stillB.status, 200);
    assert.equal(stillB.json.gender, undefined);
  });

  test('transaction and batch Bundles run in the tenant of their URL', async () => {
    const tx = {
      resourceType: 'Bundle', type: 'transaction', entry: [
        { fullUrl: 'urn:uuid:11111111-1111-4111-8111-111111111111',
          resource: { resourceType: 'Patient', name: [{ family: 'Tx' }] },
          request: { method: 'POST', url: 'Patient' } },
        { resource: { resourceType: 'Observation', id: 'tx-o', status: 'final', code: { text: 't' },
          subject: { reference: 'urn:uuid:11111111-1111-4111-8111-111111111111' } },
          request: { method: 'PUT', url: `${base}/tenant/b/Observation/tx-o` } },
        { request: { method: 'GET', url: 'Patient/x' } },
        { request: { method: 'GET', url: 'Patient?family=Beta' } },
        { resource: { resourceType: 'Patient', identifier: [{ system: 'urn:tx', value: '1' }] },
          request: { method: 'POST', url: 'Patient', ifNoneExist: 'identifier=urn:sys|shared' } },
      ],
    };
    const r = await kiln.request('POST', B(''), { body: tx });
    assert.equal(r.status, 200, r.text);
    const [created, obs, read, search, conditional] = r.json.entry;
    assert.match(created.fullUrl, new RegExp(`^${base}/tenant/b/Patient/`));
    assert.match(created.response.location, new RegExp(`^${base}/tenant/b/Patient/[^/]+/_history/1$`));
    assert.equal(obs.response.location, `${base}/tenant/b/Observation/tx-o/_history/1`);
    assert.equal(read.resource.name[0].family, 'Beta');
    assert.equal(read.fullUrl, `${base}/tenant/b/Patient/x`);
    assert.deepEqual(search.resource.entry.map((e) => e.fullUrl), [`${base}/tenant/b/Patient/x`]);
    assert.equal(search.resource.link[0].url, `${base}/tenant/b/Patient?family=Beta`);
    assert.equal(conditional.response.status, '200 OK');  // b's Patient/x matched
    assert.equal(conditional.fullUrl, `${base}/tenant/b/Patient/x`);
    const o = await kiln.request('GET', B('/Observation/tx-o'));
    assert.equal(o.json.subject.reference, `Patient/${created.fullUrl.split('/').pop()}`);
    assert.equal((await kiln.request('GET', A('/Observation/tx-o'))).status, 404);

    // An entry url under another tenant's base is not a path of this one.
    const cross = await kiln.request('POST', B(''), { body: { resourceType: 'Bundle', type: 'transaction', entry: [
      { resource: { resourceType: 'Patient', id: 'cross' }, request: { method: 'PUT', url: `${base}/tenant/a/Patient/cross` } }] } });
    assert.equal(cross.status, 404, cross.text);
    const relativeCross = await kiln.request('POST', B(''), { body: { resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'GET', url: 'tenant/a/Patient/x' } },
      { request: { method: 'GET', url: 'Patient/pg0' } },
      { request: { method: 'GET', url: `${base}/Patient/x` } }] } });
    assert.equal(relativeCross.status, 200);
    assert.deepEqual(relativeCross.json.entry.map((e) => e.response.status), ['404 Not Found', '404 Not Found', '404 Not Found']);
    assert.ok(relativeCross.json.entry.every((e) => e.resource === undefined));
    assert.equal((await kiln.request('GET', A('/Patient/cross'))).status, 404);
    assert.equal((await kiln.request('GET', B('/Patient/cross'))).status, 404);

    const batch = await kiln.request('POST', A(''), { body: { resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'GET', url: 'Patient/x' } },
      { request: { method: 'DELETE', url: 'Observation/tx-o' } },
      { request: { method: 'GET', url: 'Patient/x/_history' } },
      { request: { method: 'GET', url: 'Patient?family=Pager&_count=1' } }] } });
    assert.equal(batch.status, 200);
    assert.equal(batch.json.entry[0].resource.name[0].family, 'Alpha');
    assert.equal(batch.json.entry[2].resource.total, 2);
    assert.equal(batch.json.entry[2].resource.entry[0].fullUrl, `${base}/tenant/a/Patient/x`);
    // The delete in a was of nothing (tx-o is b's).
    assert.equal((await kiln.request('GET', B('/Observation/tx-o'))).status, 200);
    // A next link from a Bundle entry pages in its tenant, and not in another.
    const next = batch.json.entry[3].resource.link.find((l) => l.relation === 'next').url;
    assert.ok(next.startsWith(`${base}/tenant/a/Patient?`), next);
    assert.equal((await kiln.request('GET', relative(next, base))).status, 200);
    const cursor = new URL(next).searchParams.get('_cursor');
    const replay = await kiln.request('POST', B(''), { body: { resourceType: 'Bundle', type: 'batch', entry: [
      { request: { method: 'GET', url: `Patient?family=Pager&_count=1&_cursor=${cursor}` } }] } });
    assert.equal(replay.json.entry[0].response.status, '400 Bad Request');
    assert.match(replay.json.entry[0].response.outcome.issue[0].diagnostics, /_cursor/);
  });

  test('$validate under a tenant', async () => {
    const ok = await kiln.request('POST', A('/Patient/$validate'), { body: { resourceType: 'Patient' } });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.resourceType, 'OperationOutcome');
    const bad = await kiln.request('POST', B('/$validate'), { body: { resourceType: 'Patient', gender: 'nope' } });
    assert.equal(bad.status, 200);
    assert.ok(bad.json.issue.some((i) => i.severity === 'error'));
  });

  test('paging: links in the tenant; a cursor replayed in another tenant is a 400', async () => {
    const first = await kiln.request('GET', A('/Patient?family=Pager&_count=1'));
    assert.equal(first.json.entry.length, 1);
    const links = Object.fromEntries(first.json.link.map((l) => [l.relation, l.url]));
    for (const url of Object.values(links)) assert.ok(url.startsWith(`${base}/tenant/a/Patient?`), url);
    const second = await kiln.request('GET', relative(links.next, base));
    assert.equal(second.status, 200);
    assert.equal(second.json.entry.length, 1);
    assert.notDeepEqual(ids(second.json), ids(first.json));
    const last = await kiln.request('GET', relative(links.last, base));
    assert.equal(last.status, 200);
    for (const url of [links.next, links.last]) {
      const inB = relative(url, base).replace('/tenant/a/', '/tenant/b/');
      assertOutcome(await kiln.request('GET', inB), 400, /_cursor: this paging link was not issued/, inB);
    }
    // A cursor without its seal, or a tampered one, is refused too.
    const cursor = new URL(links.next).searchParams.get('_cursor');
    const bare = cursor.slice(33);
    assertOutcome(await kiln.request('GET', A(`/Patient?family=Pager&_count=1&_cursor=${encodeURIComponent(bare)}`)), 400, /_cursor/, 'bare');
    const forged = `${'0'.repeat(32)}.${bare}`;
    assertOutcome(await kiln.request('GET', A(`/Patient?family=Pager&_count=1&_cursor=${encodeURIComponent(forged)}`)), 400, /_cursor/, 'forged');
    // POST _search with the cursor in the form body.
    const form = await kiln.request('POST', B('/Patient/_search'), {
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `family=Pager&_count=1&_cursor=${encodeURIComponent(cursor)}` });
    assertOutcome(form, 400, /_cursor/, 'form');
    // History paging.
    const h = await kiln.request('GET', A('/_history?_count=2'));
    const hnext = h.json.link.find((l) => l.relation === 'next').url;
    assert.ok(hnext.startsWith(`${base}/tenant/a/_history?`), hnext);
    assert.equal((await kiln.request('GET', relative(hnext, base))).status, 200);
    assertOutcome(await kiln.request('GET', relative(hnext, base).replace('/tenant/a/', '/tenant/b/')), 400, /_cursor/, 'history');
  });

  test('a missing or malformed tenant: 400 with an OperationOutcome', async () => {
    for (const path of ['/Patient/x', '/Patient', '', '/_history', '/Patient/$validate']) {
      const method = path.endsWith('$validate') ? 'POST' : 'GET';
      const r = await kiln.request(method, path, method === 'POST' ? { body: { resourceType: 'Patient' } } : {});
      assertOutcome(r, 400, /requests go to \[base\]\/tenant\/\{id\}/, `no tenant: ${path}`);
    }
    for (const path of ['/tenant/a_b/Patient/x', '/tenant/a%2Fb/Patient', `/tenant/${'x'.repeat(65)}/Patient`,
      '/tenant/%20/Patient']) {
      assertOutcome(await kiln.request('GET', path), 400, /Invalid tenant id/, path);
    }
    for (const path of ['/tenant', '/tenant/', '/tenant//Patient']) {
      assertOutcome(await kiln.request('GET', path), 400, /tenant/, path);
    }
    // Outside the FHIR base nothing changes.
    assert.equal((await fetch(`${kiln.origin}/healthz`)).status, 200);
    assert.equal((await fetch(`${kiln.origin}/other/tenant/a/Patient`)).status, 404);
    // Routing errors under a tenant are the usual ones.
    assert.equal((await kiln.request('GET', A('/NoSuchType'))).status, 404);
    assert.equal((await kiln.request('POST', A('/Patient/x'))).status, 405);
    assert.equal((await kiln.request('GET', A('/Patient/a_b'))).status, 400);
  });

  test('metadata: the server\'s at [base], each tenant\'s base at [base]/tenant/{id}', async () => {
    const root = await kiln.request('GET', '/metadata');
    assert.equal(root.status, 200);
    assert.equal(root.json.implementation.url, base);
    const a = await kiln.request('GET', A('/metadata'));
    assert.equal(a.status, 200);
    assert.equal(a.json.resourceType, 'CapabilityStatement');
    assert.equal(a.json.implementation.url, `${base}/tenant/a`);
    assert.deepEqual({ ...a.json, implementation: null, date: null }, { ...root.json, implementation: null, date: null });
    assertOutcome(await kiln.request('GET', '/tenant/a_b/metadata'), 400, /Invalid tenant id/, 'bad tenant metadata');
  });
});

test('--tenants: a tenant not in the list is unknown (404)', async () => {
  const kiln = await startKiln({ args: ['--tenancy', 'url', '--tenants', 'a, b'] });
  try {
    const put = await kiln.request('PUT', '/tenant/b/Patient/p', { body: { resourceType: 'Patient', id: 'p' } });
    assert.equal(put.status, 201);
    for (const [method, path] of [['GET', '/tenant/c/Patient/p'], ['PUT', '/tenant/c/Patient/p'], ['GET', '/tenant/default/Patient']]) {
      const r = await kiln.request(method, path, method === 'PUT' ? { body: { resourceType: 'Patient', id: 'p' } } : {});
      assertOutcome(r, 404, /Tenant '(c|default)' is not known/, path);
    }
    // Nothing was written into c.
    const c = await kiln.request('GET', '/tenant/b/Patient?_summary=count');
    assert.equal(c.json.total, 1);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});

test('--tenancy off: no prefix, and /tenant/... is no FHIR path', async () => {
  const kiln = await startKiln();
  try {
    assert.equal((await kiln.request('PUT', '/Patient/p', { body: { resourceType: 'Patient', id: 'p' } })).status, 201);
    assertOutcome(await kiln.request('GET', '/tenant/a/Patient/p'), 404, /Unknown resource type 'tenant'/, 'off');
    // Paging links carry the store's cursor as they always did.
    for (let i = 0; i < 2; i++) await kiln.request('PUT', `/Patient/q${i}`, { body: { resourceType: 'Patient', id: `q${i}` } });
    const s = await kiln.request('GET', '/Patient?_count=1');
    const next = s.json.link.find((l) => l.relation === 'next').url;
    assert.doesNotMatch(new URL(next).searchParams.get('_cursor'), /^[0-9a-f]{32}\./);
    assert.equal((await kiln.request('GET', relative(next, kiln.base))).status, 200);
  } finally {
    await kiln.stop();
    kiln.cleanup();
  }
});

test('configuration errors name the setting', async () => {
  for (const [args, pattern] of [
    [['--tenancy', 'tenants'], /--tenancy: 'tenants' is not off, url, claim or url\+claim/],
    [['--tenancy', 'claim'], /--tenancy claim takes the tenant from the token: it needs --auth smart and --auth-tenant-claim/],
    [['--tenancy', 'url+claim', '--auth', 'smart', '--auth-issuer', 'http://127.0.0.1:9'], /--auth-tenant-claim/],
    [['--tenancy', 'url', '--tenants', 'a,b_c'], /--tenants: 'b_c' is not a tenant id/],
    [['--tenancy', 'url', '--tenants', ' , '], /--tenants: no tenant given/],
    [['--tenancy', 'url', '--tenants', 'a,..'], /--tenants: '\.\.' is not a tenant id/],
    [['--tenants', 'a'], /--tenants needs --tenancy url, claim or url\+claim/],
  ]) {
    const r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), ...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, pattern, args.join(' '));
  }
  const env = await runKiln(['serve', '--port', '0'], { env: { KILN_TENANCY: 'sometimes' } });
  assert.match(env.stderr, /KILN_TENANCY: 'sometimes'/);
});

test('kiln import --tenant stores into that tenant', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-tenant-import-'));
  const dataDir = join(work, 'data');
  try {
    const file = join(work, 'patients.ndjson');
    writeFileSync(file, `${JSON.stringify({ resourceType: 'Patient', id: 'imp', name: [{ family: 'Imported' }] })}\n` +
      `${JSON.stringify({ resourceType: 'Patient', name: [{ family: 'NoId' }] })}\n`);
    const bundle = join(work, 'tx.json');
    writeFileSync(bundle, JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: [
      { resource: { resourceType: 'Patient', id: 'tx', name: [{ family: 'Imported' }] }, request: { method: 'PUT', url: 'Patient/tx' } }] }));
    const run = await runKiln(['import', '--quiet', '--tenant', 'acme', file, bundle, '--data', dataDir], { timeoutMs: 60000 });
    assert.equal(run.code, 0, run.stderr + run.stdout);
    const bad = await runKiln(['import', '--tenant', 'a_b', file, '--data', dataDir]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--tenant 'a_b' is not a tenant id/);
    // The same id into the default tenant: another resource.
    const other = join(work, 'other.ndjson');
    writeFileSync(other, `${JSON.stringify({ resourceType: 'Patient', id: 'imp', name: [{ family: 'Default' }] })}\n`);
    assert.equal((await runKiln(['import', '--quiet', other, '--data', dataDir], { timeoutMs: 60000 })).code, 0);
    // kiln reindex covers every tenant.
    const reindex = await runKiln(['reindex', '--data', dataDir], { timeoutMs: 60000 });
    assert.equal(reindex.code, 0, reindex.stderr);
    assert.match(reindex.stdout, /Rebuilt the search index of 4 resources/);
    const kiln = await startKiln({ dataDir, args: ['--tenancy', 'url'] });
    try {
      assert.equal((await kiln.request('GET', '/tenant/acme/Patient/imp')).status, 200);
      assert.equal((await kiln.request('GET', '/tenant/acme/Patient/tx')).status, 200);
      assert.equal((await kiln.request('GET', '/tenant/acme/Patient?family=Imported&_summary=count')).json.total, 2);
      assert.equal((await kiln.request('GET', '/tenant/acme/Patient?family=NoId')).json.entry.length, 1);
      assert.equal((await kiln.request('GET', '/tenant/default/Patient/imp')).json.name[0].family, 'Default');
      assert.equal((await kiln.request('GET', '/tenant/acme/Patient/imp')).json.name[0].family, 'Imported');
      assert.deepEqual(ids((await kiln.request('GET', '/tenant/default/Patient?family=Default')).json), ['Patient/imp']);
      assert.equal((await kiln.request('GET', '/tenant/default/Patient?family=Imported&_summary=count')).json.total, 0);
    } finally {
      await kiln.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

describe('tenants from tokens (oidc-provider)', () => {
  const CLAIM = 'custom:tenantId';
  const CLIENTS = [
    { id: 'alice-a', alg: 'RS256', scopes: ['system/*.cruds'], claims: { [CLAIM]: 'a' } },
    { id: 'bob-a', alg: 'ES256', scopes: ['system/*.cruds'], claims: { [CLAIM]: 'a' } },
    { id: 'carol-b', alg: 'RS256', scopes: ['system/*.cruds'], claims: { [CLAIM]: 'b' } },
    { id: 'dave-c', alg: 'RS256', scopes: ['system/*.cruds'], claims: { [CLAIM]: 'c' } },
    { id: 'no-tenant', alg: 'RS256', scopes: ['system/*.cruds'] },
    { id: 'bad-tenant', alg: 'RS256', scopes: ['system/*.cruds'], claims: { [CLAIM]: 'a/b' } },
  ];
  let as;
  let claimKiln;
  let bothKiln;
  const tokens = {};
  const H = (client) => bearer(tokens[client]);

  before(async () => {
    as = await startAuthServer({ audience: BASE, clients: CLIENTS });
    for (const c of CLIENTS) tokens[c.id] = await as.token(c.id, c.scopes.join(' '));
    const auth = ['--auth', 'smart', '--auth-issuer', as.issuer, '--base-url', BASE,
      '--auth-tenant-claim', CLAIM];
    claimKiln = await startKiln({ args: [...auth, '--tenancy', 'claim', '--tenants', 'a,b'] });
    bothKiln = await startKiln({ args: [...auth, '--tenancy', 'url+claim'] });
  });
  after(async () => {
    for (const k of [claimKiln, bothKiln]) { await k?.stop(); k?.cleanup(); }
    await as?.close();
  });

  test('claim: the token\'s tenant decides; same ids, separate data', async () => {
    const k = claimKiln;
    for (const [client, family] of [['alice-a', 'Alpha'], ['carol-b', 'Beta']]) {
      const r = await k.request('PUT', '/Patient/x', { headers: H(client), body: { resourceType: 'Patient', id: 'x', name: [{ family }] } });
      assert.equal(r.status, 201, r.text);
      assert.equal(r.headers.get('location'), `${BASE}/Patient/x/_history/1`);  // no URL prefix in claim mode
    }
    assert.equal((await k.request('GET', '/Patient/x', { headers: H('alice-a') })).json.name[0].family, 'Alpha');
    assert.equal((await k.request('GET', '/Patient/x', { headers: H('bob-a') })).json.name[0].family, 'Alpha');
    assert.equal((await k.request('GET', '/Patient/x', { headers: H('carol-b') })).json.name[0].family, 'Beta');
    const s = await k.request('GET', '/Patient?family=Alpha', { headers: H('carol-b') });
    assert.equal(s.status, 200);
    assert.deepEqual(ids(s.json), []);
    // A token without a tenant, with a malformed one or one not served: 403, no data.
    for (const client of ['no-tenant', 'bad-tenant', 'dave-c']) {
      for (const [method, path] of [['GET', '/Patient/x'], ['GET', '/Patient'], ['GET', '/_history'], ['DELETE', '/Patient/x']]) {
        assertOutcome(await k.request(method, path, { headers: H(client) }), 403, /tenant/, `${client} ${method} ${path}`);
      }
    }
    assert.equal((await k.request('GET', '/Patient/x', { headers: H('carol-b') })).status, 200, 'not deleted');
    // No URL prefix in claim mode.
    assert.equal((await k.request('GET', '/tenant/a/Patient/x', { headers: H('alice-a') })).status, 404);
    // Without a token: 401 as always, before any tenant question.
    assert.equal((await k.request('GET', '/Patient/x')).status, 401);
  });

  test('claim: a cursor replayed by another caller, even of the same tenant, is a 400', async () => {
    const k = claimKiln;
    for (let i = 0; i < 3; i++) {
      await k.request('PUT', `/Patient/pg${i}`, { headers: H('alice-a'), body: { resourceType: 'Patient', id: `pg${i}`, name: [{ family: 'Pager' }] } });
    }
    const first = await k.request('GET', '/Patient?family=Pager&_count=1', { headers: H('alice-a') });
    const next = relative(first.json.link.find((l) => l.relation === 'next').url, BASE);
    const mine = await k.request('GET', next, { headers: H('alice-a') });
    assert.equal(mine.status, 200);
    assert.equal(mine.json.entry.length, 1);
    // A new token of the same client is the same caller.
    const again = await k.request('GET', next, { headers: bearer(await as.token('alice-a', 'system/*.cruds')) });
    assert.equal(again.status, 200);
    assertOutcome(await k.request('GET', next, { headers: H('bob-a') }), 400, /_cursor: this paging link was not issued/, 'bob');
    assertOutcome(await k.request('GET', next, { headers: H('carol-b') }), 400, /_cursor/, 'carol');
    const h = await k.request('GET', '/Patient/_history?_count=1', { headers: H('alice-a') });
    const hnext = relative(h.json.link.find((l) => l.relation === 'next').url, BASE);
    assert.equal((await k.request('GET', hnext, { headers: H('alice-a') })).status, 200);
    assertOutcome(await k.request('GET', hnext, { headers: H('bob-a') }), 400, /_cursor/, 'bob history');
  });

  test('url+claim: the URL\'s tenant must be the token\'s (403 otherwise, never data)', async () => {
    const k = bothKiln;
    const put = await k.request('PUT', '/tenant/a/Patient/x', { headers: H('alice-a'), body: { resourceType: 'Patient', id: 'x', name: [{ family: 'Alpha' }] } });
    assert.equal(put.status, 201, put.text);
    assert.equal(put.headers.get('location'), `${BASE}/tenant/a/Patient/x/_history/1`);
    assert.equal((await k.request('GET', '/tenant/a/Patient/x', { headers: H('bob-a') })).status, 200);
    for (const [method, path, body] of [
      ['GET', '/tenant/a/Patient/x'], ['GET', '/tenant/a/Patient?family=Alpha'], ['GET', '/tenant/a/_history'],
      ['GET', '/tenant/a/Patient/x/_history/1'], ['DELETE', '/tenant/a/Patient/x'],
      ['PUT', '/tenant/a/Patient/x', { resourceType: 'Patient', id: 'x' }],
      ['POST', '/tenant/a', { resourceType: 'Bundle', type: 'batch', entry: [{ request: { method: 'GET', url: 'Patient/x' } }] }],
    ]) {
      const r = await k.request(method, path, { headers: H('carol-b'), body });
      assertOutcome(r, 403, /The token's tenant \(claim 'custom:tenantId'\) is not the tenant in the URL \('a'\)/, `${method} ${path}`);
      assert.doesNotMatch(r.text, /Alpha/);
    }
    assert.equal((await k.request('GET', '/tenant/a/Patient/x', { headers: H('alice-a') })).json.meta.versionId, '1');
    assertOutcome(await k.request('GET', '/tenant/a/Patient/x', { headers: H('no-tenant') }), 403, /names no tenant/, 'no claim');
    assertOutcome(await k.request('GET', '/Patient/x', { headers: H('alice-a') }), 400, /\[base\]\/tenant\/\{id\}/, 'no URL tenant');
    assertOutcome(await k.request('GET', '/tenant/a_b/Patient/x', { headers: H('alice-a') }), 400, /Invalid tenant id/, 'bad URL tenant');
    // carol's own tenant is b: empty there.
    const b = await k.request('GET', '/tenant/b/Patient/x', { headers: H('carol-b') });
    assert.equal(b.status, 404);
    // Without a token: 401 first.
    const anon = await k.request('GET', '/tenant/a/Patient/x');
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate'), /^Bearer realm=/);
  });

  test('url+claim: metadata and SMART discovery under a tenant are public', async () => {
    const k = bothKiln;
    const m = await k.request('GET', '/tenant/a/metadata');
    assert.equal(m.status, 200);
    assert.equal(m.json.implementation.url, `${BASE}/tenant/a`);
    assert.equal(m.json.rest[0].security.service[0].coding[0].code, 'SMART-on-FHIR');
    const root = await k.request('GET', '/metadata');
    assert.equal(root.json.implementation.url, BASE);
    const s = await k.request('GET', '/tenant/a/.well-known/smart-configuration', { headers: { Accept: 'text/html' } });
    assert.equal(s.status, 200);
    assert.match(s.headers.get('content-type'), /^application\/json/);
    assert.equal(s.json.issuer, as.issuer);
    assert.equal((await k.request('GET', '/.well-known/smart-configuration')).status, 200);
    assertOutcome(await k.request('GET', '/tenant/a_b/.well-known/smart-configuration'), 400, /Invalid tenant id/, 'bad tenant');
  });
});

test('paging links survive a restart (the cursor key is kept), and follow the key file', async () => {
  const work = mkdtempSync(join(tmpdir(), 'kiln-cursor-key-'));
  const dataDir = join(work, 'data');
  const args = ['--tenancy', 'url'];
  try {
    let kiln = await startKiln({ dataDir, args });
    let next;
    let firstIds;
    try {
      for (let i = 0; i < 3; i++) {
        const r = await kiln.request('POST', '/tenant/a/Patient', {
          body: { resourceType: 'Patient', name: [{ family: 'Restart' }] } });
        assert.equal(r.status, 201);
      }
      const first = await kiln.request('GET', '/tenant/a/Patient?family=Restart&_count=1');
      firstIds = ids(first.json);
      next = first.json.link.find((l) => l.relation === 'next').url;
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
    // The default key file: in the data directory, the owner's only, 64 hex digits.
    const keyFile = join(dataDir, 'cursor.key');
    assert.match(readFileSync(keyFile, 'utf8'), /^[0-9a-f]{64}\n$/);
    assert.equal(statSync(keyFile).mode & 0o777, 0o600);

    kiln = await startKiln({ dataDir, args });
    try {
      const base = next.slice(0, next.indexOf('/tenant/'));
      const page = await kiln.request('GET', next.slice(base.length));
      assert.equal(page.status, 200, page.text);
      assert.equal(page.json.entry.length, 1);
      assert.notDeepEqual(ids(page.json), firstIds);
    } finally {
      assert.equal(await kiln.stop(), 0);
    }

    // The same key in a file of one's own (as several servers would share it): links still open.
    const shared = join(work, 'shared.key');
    writeFileSync(shared, readFileSync(keyFile));
    kiln = await startKiln({ dataDir, args: [...args, '--cursor-key-file', shared] });
    try {
      const base = next.slice(0, next.indexOf('/tenant/'));
      assert.equal((await kiln.request('GET', next.slice(base.length))).status, 200);
    } finally {
      assert.equal(await kiln.stop(), 0);
    }
    // Another key: the old links are refused (400), not misread.
    const other = join(work, 'other.key');
    writeFileSync(other, `${'ab'.repeat(32)}\n`);
    kiln = await startKiln({ dataDir, args: [...args, '--cursor-key-file', other] });
    try {
      const base = next.slice(0, next.indexOf('/tenant/'));
      assertOutcome(await kiln.request('GET', next.slice(base.length)), 400, /_cursor/, 'other key');
    } finally {
      assert.equal(await kiln.stop(), 0);
    }

    // A named key file must exist and hold 64 hex digits.
    const bad = join(work, 'bad.key');
    writeFileSync(bad, 'not a key\n');
    for (const [file, pattern] of [[join(work, 'missing.key'), /cursor key file .*missing\.key cannot be read/],
      [bad, /cursor key file .*bad\.key must hold 64 hex digits/]]) {
      const r = await runKiln(['serve', '--port', '0', '--data', dataDir, '--cursor-key-file', file]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, pattern);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
