// The audit log (--audit-log, docs/audit.md): one hash-chained JSON line per FHIR request with
// who, what, when, where and the outcome; never resource bodies, parameter values or tokens.
// Tokens come from a real authorization server (tests/auth/authz-server.mjs).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAuthPair, bearer } from './lib/auth.mjs';
import { startKiln, runKiln, freshDataDir } from './lib/kiln.mjs';

const dir = mkdtempSync(join(tmpdir(), 'kiln-audit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function lines(path) {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}
function events(path) {
  return lines(path).map((l) => JSON.parse(l));
}
function byRequestId(evts, id) {
  const found = evts.filter((e) => e.request_id === id);
  assert.equal(found.length, 1, `one audit line for request ${id}`);
  return found[0];
}
function rid(name) {
  return { 'X-Request-Id': `audit-${name}` };
}

test('each request says who did what, when, from where and how it ended; no values, bodies or tokens', async () => {
  const path = join(dir, 'who.log');
  const pair = await startAuthPair({
    clients: [
      { id: 'doctor', alg: 'RS256', scopes: ['user/*.cruds'], claims: { fhirUser: 'Practitioner/doc-1' } },
      { id: 'reader', alg: 'ES256', scopes: ['system/*.rs'] },
    ],
    kilnArgs: ['--audit-log', path],
  });
  const { kiln } = pair;
  const secret = 'Zqxjkwvbn';  // a value that must never reach the audit log
  const token = await pair.as.token('doctor', 'user/*.cruds');
  const readOnly = await pair.as.token('reader', 'system/*.rs');
  const started = Date.now();
  try {
    const headers = { ...bearer(token), 'User-Agent': 'audit-test/1.0', 'X-Forwarded-For': '203.0.113.9' };
    let r = await kiln.request('POST', '/Patient', {
      headers: { ...headers, ...rid('create') },
      body: { resourceType: 'Patient', name: [{ family: secret }], birthDate: '1970-01-01' },
    });
    assert.equal(r.status, 201, r.text);
    const id = r.json.id;
    r = await kiln.request('GET', `/Patient?family=${secret}&birthdate=1970-01-01&_count=5`, { headers: { ...headers, ...rid('search') } });
    assert.equal(r.status, 200);
    r = await kiln.request('POST', '/Patient/_search', {
      headers: { ...headers, ...rid('post-search'), 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `family=${secret}&gender=female`,
    });
    assert.equal(r.status, 200);
    r = await kiln.request('PUT', `/Patient/${id}`, {
      headers: { ...headers, ...rid('update') },
      body: { resourceType: 'Patient', id, name: [{ family: `${secret}2` }] },
    });
    assert.equal(r.status, 200, r.text);
    r = await kiln.request('GET', `/Patient/${id}/_history/1`, { headers: { ...headers, ...rid('vread') } });
    assert.equal(r.status, 200);
    r = await kiln.request('GET', `/Patient/${id}`, { headers: { ...bearer('not.a.token'), ...rid('bad-token') } });
    assert.equal(r.status, 401);
    r = await kiln.request('GET', `/Patient/${id}`, { headers: rid('no-token') });
    assert.equal(r.status, 401);
    r = await kiln.request('DELETE', `/Patient/${id}`, { headers: { ...bearer(readOnly), ...rid('forbidden') } });
    assert.equal(r.status, 403);
    r = await kiln.request('GET', '/NoSuchType/1', { headers: { ...headers, ...rid('unknown') } });
    assert.equal(r.status, 404);
    assert.equal(await kiln.stop(), 0);  // writes everything queued

    const text = readFileSync(path, 'utf8');
    assert.ok(!text.includes(secret), 'no parameter values or resource content');
    assert.ok(!text.includes(token) && !text.includes(token.split('.')[2]), 'no token');
    assert.ok(!text.includes('1970-01-01'));
    const evts = events(path);

    const create = byRequestId(evts, 'audit-create');
    assert.equal(create.what.method, 'POST');
    assert.equal(create.what.interaction, 'create');
    assert.equal(create.what.type, 'Patient');
    assert.equal(create.what.id, id);
    assert.equal(create.what.version, '1');
    assert.equal(create.outcome.status, 201);
    assert.equal(create.who.authenticated, true);
    assert.equal(create.who.client_id, 'doctor');
    assert.equal(create.who.fhir_user, 'Practitioner/doc-1');
    assert.ok(create.who.sub, 'sub recorded');
    assert.equal(create.where.ip, '127.0.0.1');
    assert.equal(create.where.user_agent, 'audit-test/1.0');
    assert.equal(create.where.forwarded_for, '203.0.113.9');
    assert.equal(create.tenant, 'default');
    const t = Date.parse(create.time);
    assert.ok(t >= started - 1000 && t <= Date.now(), `time ${create.time}`);
    assert.ok(typeof create.duration_ms === 'number' && create.duration_ms >= 0);

    const search = byRequestId(evts, 'audit-search');
    assert.equal(search.what.interaction, 'search-type');
    assert.deepEqual(search.what.params, ['family', 'birthdate', '_count']);
    assert.equal(byRequestId(evts, 'audit-post-search').what.params.join(','), 'family,gender');

    const update = byRequestId(evts, 'audit-update');
    assert.equal(update.what.interaction, 'update');
    assert.equal(update.what.id, id);
    assert.equal(update.what.version, '2');
    const vread = byRequestId(evts, 'audit-vread');
    assert.equal(vread.what.interaction, 'vread');
    assert.equal(vread.what.version, '1');

    for (const name of ['bad-token', 'no-token']) {
      const e = byRequestId(evts, `audit-${name}`);
      assert.equal(e.outcome.status, 401);
      assert.equal(e.who.authenticated, false);
      assert.equal(e.who.sub, undefined);
      assert.equal(e.what.type, 'Patient');
    }
    const forbidden = byRequestId(evts, 'audit-forbidden');
    assert.equal(forbidden.outcome.status, 403);
    assert.equal(forbidden.what.interaction, 'delete');
    assert.equal(forbidden.who.client_id, 'reader');
    assert.equal(byRequestId(evts, 'audit-unknown').outcome.status, 404);

    const v = await runKiln(['audit', 'verify', path]);
    assert.equal(v.code, 0, v.stdout + v.stderr);
    assert.match(v.stdout, new RegExp(`^OK: ${evts.length} lines, seq 1\\.\\.${evts.length}`));
  } finally {
    await pair.close();
  }
});

test('kiln audit verify finds a changed, removed or inserted line; a restart continues the chain', async () => {
  const path = join(dir, 'chain.log');
  const dataDir = freshDataDir();
  for (let run = 0; run < 2; run += 1) {
    const kiln = await startKiln({ dataDir, args: ['--audit-log', path] });
    for (let i = 0; i < 5; i += 1) {
      const r = await kiln.request('GET', `/Patient?_count=${i + 1}`);
      assert.equal(r.status, 200);
    }
    assert.equal(await kiln.stop(), 0);
  }
  rmSync(dataDir, { recursive: true, force: true });
  const good = lines(path);
  assert.equal(good.length, 10);
  assert.deepEqual(good.map((l) => JSON.parse(l).seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  let v = await runKiln(['audit', 'verify', path]);
  assert.equal(v.code, 0, v.stdout);

  const check = async (changed, where) => {
    writeFileSync(path, `${changed.join('\n')}\n`);
    const r = await runKiln(['audit', 'verify', path]);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, new RegExp(`^FAILED: .*chain\\.log line ${where}:`));
  };
  const edited = [...good];
  edited[3] = edited[3].replace('"status":200', '"status":500');
  await check(edited, 5);
  await check(good.filter((_, i) => i !== 6), 7);
  await check([...good.slice(0, 2), good[8], ...good.slice(2)], 3);
  writeFileSync(path, `${good.join('\n')}\n`);
  v = await runKiln(['audit', 'verify', path]);
  assert.equal(v.code, 0);
  v = await runKiln(['audit', 'verify', join(dir, 'missing.log')]);
  assert.equal(v.code, 2);
  assert.match(v.stderr, /not a readable file/);
});

test('rotation by size keeps one chain over the files and deletes the oldest', async () => {
  const sub = join(dir, 'rotate');
  rmSync(sub, { recursive: true, force: true });
  const { mkdirSync } = await import('node:fs');
  mkdirSync(sub);
  const path = join(sub, 'audit.log');
  const kiln = await startKiln({ args: ['--audit-log', path, '--audit-log-max-size', '4K', '--audit-log-keep', '3'] });
  for (let i = 0; i < 80; i += 1) {
    const r = await kiln.request('GET', '/Patient?name=x');
    assert.equal(r.status, 200);
  }
  assert.equal(await kiln.stop(), 0);
  kiln.cleanup();
  const rotated = readdirSync(sub).filter((f) => f.startsWith('audit.log.')).sort();
  assert.equal(rotated.length, 3, rotated.join(' '));
  for (const f of rotated) assert.match(f, /^audit\.log\.\d{8}T\d{6}\.\d{6}Z$/);
  const files = [...rotated.map((f) => join(sub, f)), path];
  const v = await runKiln(['audit', 'verify', ...files]);
  assert.equal(v.code, 0, v.stdout);
  assert.match(v.stdout, /earlier lines were not given/);
  const last = events(path).at(-1);
  assert.equal(last.seq, 80);
  // Out of order, the chain breaks.
  const w = await runKiln(['audit', 'verify', files[1], files[0], files[2], files[3]]);
  assert.equal(w.code, 1);
});

test('--audit-log - writes the lines to standard output, and only them', async () => {
  const kiln = await startKiln({ args: ['--audit-log', '-'] });
  await kiln.request('GET', '/Patient');
  await kiln.request('GET', '/metadata');
  assert.equal(await kiln.stop(), 0);
  kiln.cleanup();
  const out = kiln.stdout.split('\n').filter((l) => l !== '');
  assert.equal(out.length, 2, kiln.stdout);
  const evts = out.map((l) => JSON.parse(l));
  assert.deepEqual(evts.map((e) => e.what.interaction), ['search-type', 'capabilities']);
  assert.deepEqual(evts.map((e) => e.seq), [1, 2]);
  assert.match(kiln.stderr, /FHIR base:/);
});

test('an audit log that cannot be written, or is not an audit log, stops start-up', async () => {
  let r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), '--audit-log', join(dir, 'no', 'such', 'dir', 'a.log')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cannot open the audit log/);
  const other = join(dir, 'other.log');
  writeFileSync(other, 'an unrelated log line\n');
  r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), '--audit-log', other]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /is not an audit log line/);
  assert.equal(readFileSync(other, 'utf8'), 'an unrelated log line\n', 'left untouched');
  assert.ok(existsSync(other));
});
