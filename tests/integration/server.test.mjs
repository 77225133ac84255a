// The HTTP edge and operations: limits, timeouts, keep-alive, /healthz, /metrics, the access
// log, graceful shutdown and start-up configuration, against the real kiln binary.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startKiln, runKiln, rawExchange, rawStatus, freshDataDir } from './lib/kiln.mjs';

let kiln;
before(async () => {
  kiln = await startKiln({ args: ['--max-body', '64K', '--max-header', '4K',
                                  '--read-timeout-ms', '1000', '--idle-timeout-ms', '1500'] });
});
after(async () => {
  const code = await kiln.stop();
  kiln.cleanup();
  assert.equal(code, 0);
});

test('a body over the limit is refused with 413 and an OperationOutcome', async () => {
  const big = JSON.stringify({ resourceType: 'Patient', text: 'x'.repeat(70 * 1024) });
  const res = await kiln.request('POST', '/Patient', { body: big });
  assert.equal(res.status, 413);
  assert.equal(res.json.resourceType, 'OperationOutcome');
});

test('a declared Content-Length over the limit is refused before the body is sent', async () => {
  const r = await rawExchange(kiln.port, [
    'POST /fhir/Patient HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n' +
    'Content-Length: 100000000\r\n\r\n{']);
  assert.equal(rawStatus(r.data), 413);
  assert.match(r.data, /OperationOutcome/);
});

test('a header block over the limit is refused with 431', async () => {
  const r = await rawExchange(kiln.port, [
    `GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`]);
  assert.equal(rawStatus(r.data), 431);
  assert.match(r.data, /OperationOutcome/);
});

test('garbage instead of HTTP gets 400 and the connection closed', async () => {
  const r = await rawExchange(kiln.port, ['HELLO THERE\r\n\r\n']);
  assert.equal(rawStatus(r.data), 400);
  assert.ok(r.closed);
});

test('a slow-loris client is cut off at the read timeout', async () => {
  // One header byte every 200 ms never completes the request; the whole request must arrive
  // within --read-timeout-ms (1000 ms), so the server closes the connection.
  const chunks = 'GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nX-Slow: abcdefghijklmnopqrstuvwxyz'.split('');
  const r = await rawExchange(kiln.port, chunks, { delayMs: 200, waitMs: 6000 });
  assert.ok(r.closed, 'connection should be closed');
  assert.ok(r.ms < 4000, `closed after ${r.ms} ms`);
});

test('idle keep-alive connections are closed after the idle timeout', async () => {
  const r = await rawExchange(kiln.port, ['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], { waitMs: 5000 });
  assert.equal(rawStatus(r.data), 200);
  assert.ok(r.closed);
  assert.ok(r.ms >= 1000 && r.ms < 4000, `closed after ${r.ms} ms`);
});

test('keep-alive serves several requests on one connection in order', async () => {
  const req = (p) => `GET ${p} HTTP/1.1\r\nHost: x\r\n\r\n`;
  const r = await rawExchange(kiln.port,
    [req('/healthz') + req('/fhir/metadata') + req('/fhir/Patient/none')], { waitMs: 1500 });
  const statuses = [...r.data.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
  assert.deepEqual(statuses, [200, 200, 404]);
});

test('/healthz checks the database', async () => {
  const res = await fetch(`${kiln.origin}/healthz`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('/metrics reports requests by interaction and code, latency, connections, db size', async () => {
  await kiln.request('GET', '/Patient/unknown');
  const res = await fetch(`${kiln.origin}/metrics`);
  assert.equal(res.status, 200);
  const text = await res.text();
  assert.match(text, /kiln_http_requests_total\{interaction="read",code="404"\} \d+/);
  assert.match(text, /kiln_http_request_duration_seconds_bucket\{interaction="read",le="\+Inf"\} \d+/);
  assert.match(text, /kiln_http_open_connections \d+/);
  assert.match(text, /kiln_database_size_bytes [1-9]\d*/);
});

test('one structured log line per request, without query values or bodies', async () => {
  await kiln.request('POST', '/Patient?secret=s3cr3t', {
    headers: { 'X-Request-Id': 'log-check-1' },
    body: { resourceType: 'Patient', name: [{ family: 'VerySecretName' }] },
  });
  await new Promise((r) => setTimeout(r, 200));
  const line = kiln.stderr.split('\n').find((l) => l.includes('"log-check-1"'));
  assert.ok(line, 'a log line with the request id');
  const entry = JSON.parse(line);
  assert.equal(entry.method, 'POST');
  assert.equal(entry.path, '/fhir/Patient?secret=');
  assert.equal(entry.status, 201);
  assert.equal(typeof entry.duration_ms, 'number');
  assert.ok(!kiln.stderr.includes('s3cr3t'));
  assert.ok(!kiln.stderr.includes('VerySecretName'));
});

test('SIGTERM lets an in-flight write finish and exits cleanly', async () => {
  const k = await startKiln();
  const writes = [];
  for (let i = 0; i < 20; i++) {
    writes.push(k.request('POST', '/Patient', { body: { resourceType: 'Patient', id: `x${i}` } }));
  }
  const acked = await Promise.all(writes);
  const stopped = k.stop();
  assert.equal(await stopped, 0);
  // Every acknowledged write is there after a restart.
  const again = await startKiln({ dataDir: k.dataDir });
  for (const r of acked) {
    assert.equal(r.status, 201);
    const got = await again.request('GET', `/Patient/${r.json.id}`);
    assert.equal(got.status, 200);
  }
  assert.equal(await again.stop(), 0);
  again.cleanup();
});

test('a non-loopback address is refused without the acknowledgement flag', async () => {
  const r = await runKiln(['serve', '--host', '0.0.0.0', '--port', '0', '--data', freshDataDir()]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--host 0\.0\.0\.0.*no authentication/);
});

test('bad configuration names the setting', async () => {
  let r = await runKiln(['serve', '--port', '99999']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--port: '99999'/);
  r = await runKiln(['serve', '--threads', 'lots']);
  assert.match(r.stderr, /--threads/);
  r = await runKiln(['serve', '--no-such-flag']);
  assert.match(r.stderr, /unknown flag --no-such-flag/);
  r = await runKiln(['serve', '--port', '0'], { env: { KILN_MAX_BODY: 'huge' } });
  assert.match(r.stderr, /KILN_MAX_BODY/);
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cfg-'));
  writeFileSync(join(dir, 'kiln.conf'), '# test\nport = 0\nbogus = 1\n');
  r = await runKiln(['serve', '--config', join(dir, 'kiln.conf')]);
  assert.match(r.stderr, /kiln\.conf:3.*unknown setting 'bogus'/);
});

test('a config file and KILN_* variables are applied, flags win', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'kiln-cfg-'));
  writeFileSync(join(dir, 'kiln.conf'), 'base-url = http://file.example/fhir\ndefault-count = 7\n');
  const k = await startKiln({
    args: ['--config', join(dir, 'kiln.conf'), '--base-url', 'http://flag.example/fhir'],
    env: { KILN_DEFAULT_COUNT: '2' },
  });
  try {
    assert.equal(k.base, 'http://flag.example/fhir');
    for (let i = 0; i < 3; i++) await fetch(`http://127.0.0.1:${k.port}/fhir/Patient/c${i}`, {
      method: 'PUT', headers: { 'Content-Type': 'application/fhir+json' },
      body: JSON.stringify({ resourceType: 'Patient', id: `c${i}` }) });
    const res = await fetch(`http://127.0.0.1:${k.port}/fhir/_history`);
    const bundle = await res.json();
    assert.equal(bundle.entry.length, 2);  // KILN_DEFAULT_COUNT wins over the file
    assert.match(bundle.link[1].url, /^http:\/\/flag\.example\/fhir\/_history\?_cursor=\d+$/);
  } finally {
    await k.stop();
    k.cleanup();
  }
});

test('kiln serve --help describes every setting', async () => {
  const r = await runKiln(['serve', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--host', '--port', '--data', '--base-url', '--threads', '--max-body']) {
    assert.ok(r.stdout.includes(flag), flag);
  }
});

test('a second server on the same data directory is refused', async () => {
  const r = await runKiln(['serve', '--port', '0', '--data', kiln.dataDir]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /lock|in use|another/i);
});
