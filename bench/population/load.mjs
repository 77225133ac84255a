#!/usr/bin/env node
// Loads NDJSON resources (from bench/population/generate.mjs) into a running Kiln through the
// public HTTP API: `PUT {base}/{type}/{id}` (update as create, with the generator's id) over
// keep-alive connections, at most --concurrency requests in flight.
//
//   node bench/population/load.mjs --base http://127.0.0.1:8080/fhir [--concurrency 48] \
//        [--manifest manifest.json] [--data KILN_DATA_DIR] [--result result.json] FILE|-
//
// - Progress every 5 s on stderr (resources/s over the last interval and overall).
// - Retries a request only when the connection failed (refused, reset, closed before an answer),
//   up to 5 times with back-off; any HTTP answer other than 200/201 is a failure, counted and the
//   first few shown, never retried.
// - At the end: resources sent, answers by status, seconds and resources/s (the create rate with
//   indexing on, for realistic resources).
// - --manifest: compares the number of resources per type in the manifest the generator wrote with
//   what the server counts (`GET {base}/{type}?_summary=count`); a difference is an error.
// - --data: the database size on disk (kiln.db and its WAL) and, from SQLite's dbstat virtual table
//   (via the sqlite3 command-line tool, read-only), the bytes of the search index tables (idx_*),
//   of the resource tables, and both per resource.
// - --result FILE: the figures above as JSON (bench/search.sh reads them).
// `node load.mjs --sizes DIR` prints only the data directory's sizes (the "disk" figures) as JSON.
// Exits 1 when a resource could not be loaded or the counts differ, 0 otherwise.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

function parseArgs(argv) {
  const opts = { base: null, concurrency: 48, manifest: null, data: null, result: null, input: null,
                 quiet: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--base') opts.base = val().replace(/\/+$/, '');
    else if (a === '--concurrency') opts.concurrency = Number(val());
    else if (a === '--manifest') opts.manifest = val();
    else if (a === '--data') opts.data = val();
    else if (a === '--result') opts.result = val();
    else if (a === '--quiet') opts.quiet = true;
    else if (a === '-h' || a === '--help') {
      console.log(fs.readFileSync(new URL(import.meta.url), 'utf8').split('\n')
        .filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
      process.exit(0);
    } else if (a.startsWith('--')) throw new Error(`unknown argument ${a}`);
    else if (opts.input === null) opts.input = a;
    else throw new Error(`more than one input given (${opts.input}, ${a})`);
  }
  if (!opts.base) throw new Error('--base http://HOST:PORT/fhir is required');
  if (!opts.input) throw new Error('an NDJSON file (or - for stdin) is required');
  if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) throw new Error('--concurrency must be >= 1');
  return opts;
}

const RETRYABLE = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT',
                           'EAI_AGAIN', 'ENOTCONN', 'UND_ERR_SOCKET']);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function makeClient(base, concurrency) {
  const url = new URL(base);
  if (url.protocol !== 'http:') throw new Error('only http:// bases are supported');
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency });
  const prefix = url.pathname.replace(/\/+$/, '');
  // request(method, path, body) -> { status, body } ; rejects on connection errors.
  const request = (method, p, body) => new Promise((resolve, reject) => {
    const headers = { Accept: 'application/fhir+json' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/fhir+json';
      headers['Content-Length'] = Buffer.byteLength(body);
    }
    const req = http.request({ host: url.hostname, port: url.port || 80, method, path: prefix + p,
                               agent, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
  return { request, agent };
}

// Lines of a stream, with back-pressure: the consumer awaits each line.
async function* lines(stream) {
  let rest = '';
  for await (const chunk of stream) {
    const text = rest + chunk;
    let start = 0, nl;
    while ((nl = text.indexOf('\n', start)) !== -1) {
      if (nl > start) yield text.slice(start, nl);
      start = nl + 1;
    }
    rest = text.slice(start);
  }
  if (rest.trim()) yield rest;
}

const HEAD_RE = /^\{"resourceType":"([A-Za-z]+)","id":"([A-Za-z0-9\-.]{1,64})"/;

export async function load(opts) {
  const client = makeClient(opts.base, opts.concurrency);
  const input = opts.input === '-' ? process.stdin
    : fs.createReadStream(opts.input, { encoding: 'utf8', highWaterMark: 1 << 20 });
  if (opts.input === '-') process.stdin.setEncoding('utf8');

  const byType = {};       // type -> answered 200/201
  const byStatus = {};     // status -> count
  const failures = [];     // first few failures
  let sent = 0, ok = 0, failed = 0, retries = 0, inflight = 0, wake = null;
  const t0 = performance.now();
  let lastT = t0, lastOk = 0;
  const progress = setInterval(() => {
    const now = performance.now();
    if (!opts.quiet) {
      process.stderr.write(`load: ${ok} resources, ${Math.round((ok - lastOk) / ((now - lastT) / 1000))}/s ` +
        `now, ${Math.round(ok / ((now - t0) / 1000))}/s overall` +
        `${failed ? `, ${failed} FAILED` : ''}${retries ? `, ${retries} retries` : ''}\n`);
    }
    lastT = now;
    lastOk = ok;
  }, 5000);

  const put = async (line) => {
    let m = HEAD_RE.exec(line);
    let type, id;
    if (m) [, type, id] = m;
    else {
      const r = JSON.parse(line);
      type = r.resourceType;
      id = r.id;
      if (!type || !id) throw new Error(`a resource without resourceType or id: ${line.slice(0, 120)}`);
    }
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await client.request('PUT', `/${type}/${id}`, line);
        byStatus[res.status] = (byStatus[res.status] || 0) + 1;
        if (res.status === 200 || res.status === 201) {
          ok++;
          byType[type] = (byType[type] || 0) + 1;
        } else {
          failed++;
          if (failures.length < 5) failures.push(`${type}/${id}: HTTP ${res.status} ${res.body.slice(0, 400)}`);
        }
        return;
      } catch (err) {
        const code = err.code || '';
        if (attempt < 5 && (RETRYABLE.has(code) || /socket hang up/.test(err.message))) {
          retries++;
          await sleep(100 * 2 ** attempt);
          continue;
        }
        failed++;
        byStatus[code || 'error'] = (byStatus[code || 'error'] || 0) + 1;
        if (failures.length < 5) failures.push(`${type}/${id}: ${err.message}`);
        return;
      }
    }
  };

  for await (const line of lines(input)) {
    while (inflight >= opts.concurrency) await new Promise((resolve) => { wake = resolve; });
    inflight++;
    sent++;
    put(line).catch((err) => {
      failed++;
      if (failures.length < 5) failures.push(err.message);
    }).finally(() => {
      inflight--;
      if (wake) { const w = wake; wake = null; w(); }
    });
  }
  while (inflight > 0) await new Promise((resolve) => { wake = resolve; });
  clearInterval(progress);
  const seconds = (performance.now() - t0) / 1000;
  const result = { sent, ok, failed, retries, seconds, rate: ok / seconds, byStatus, byType, failures };
  return { result, client };
}

async function serverCounts(client, types) {
  const counts = {};
  for (const type of types) {
    const res = await client.request('GET', `/${type}?_summary=count`);
    if (res.status !== 200) throw new Error(`GET ${type}?_summary=count: HTTP ${res.status}`);
    counts[type] = JSON.parse(res.body).total;
  }
  return counts;
}

// Sizes from the data directory: files, and dbstat per table/index (read-only).
function diskUsage(dir) {
  const db = path.join(dir, 'kiln.db');
  const fileBytes = {};
  for (const f of fs.readdirSync(dir)) {
    const st = fs.statSync(path.join(dir, f));
    if (st.isFile()) fileBytes[f] = st.size;
  }
  const out = { fileBytes, totalFileBytes: Object.values(fileBytes).reduce((a, b) => a + b, 0) };
  try {
    const sql = "SELECT name, sum(pgsize) FROM dbstat GROUP BY name;" +
                "SELECT 'resources', count(*) FROM resource WHERE deleted = 0;" +
                "SELECT 'versions', count(*) FROM resource_version;";
    const text = execFileSync('sqlite3', ['-readonly', '-separator', '\t', db, sql],
                              { encoding: 'utf8', maxBuffer: 16 << 20, timeout: 30 * 60 * 1000 });
    const objects = {};
    for (const row of text.trim().split('\n')) {
      const [name, value] = row.split('\t');
      if (name === 'resources') out.resources = Number(value);
      else if (name === 'versions') out.versions = Number(value);
      else objects[name] = Number(value);
    }
    // Search index: the idx_* tables, their indexes and the FTS5 shadow tables (idx_text_*).
    const isIndex = (n) => n.startsWith('idx_');
    const isResource = (n) => n.startsWith('resource');
    const sum = (pred) => Object.entries(objects).filter(([n]) => pred(n)).reduce((a, [, b]) => a + b, 0);
    out.objects = Object.fromEntries(Object.entries(objects).sort((a, b) => b[1] - a[1]));
    out.indexBytes = sum(isIndex);
    out.resourceBytes = sum(isResource);
    out.otherBytes = sum((n) => !isIndex(n) && !isResource(n));
    out.dbBytes = out.indexBytes + out.resourceBytes + out.otherBytes;
    if (out.resources) {
      out.indexBytesPerResource = out.indexBytes / out.resources;
      out.resourceBytesPerResource = out.resourceBytes / out.resources;
      out.dbBytesPerResource = out.dbBytes / out.resources;
      out.fileBytesPerResource = out.totalFileBytes / out.resources;
    }
  } catch (err) {
    out.error = `sqlite3 dbstat failed: ${err.message.split('\n')[0]}`;
  }
  return out;
}

const mb = (b) => (b / 1048576).toFixed(1);

async function main() {
  // --sizes DIR: only the data directory's sizes (as under "disk" in --result), as JSON on stdout.
  if (process.argv[2] === '--sizes') {
    if (!process.argv[3]) throw new Error('--sizes needs a data directory');
    console.log(JSON.stringify(diskUsage(process.argv[3])));
    return;
  }
  const opts = parseArgs(process.argv.slice(2));
  const manifest = opts.manifest ? JSON.parse(fs.readFileSync(opts.manifest, 'utf8')) : null;
  const { result, client } = await load(opts);
  const log = (s) => process.stderr.write(s + '\n');
  log(`load: ${result.ok} of ${result.sent} resources loaded in ${result.seconds.toFixed(1)} s: ` +
      `${Math.round(result.rate)} resources/s (PUT, ${opts.concurrency} in flight)`);
  log(`load: answers ${Object.entries(result.byStatus).map(([s, n]) => `${s}: ${n}`).join(', ')}` +
      `${result.retries ? `; ${result.retries} retries after connection errors` : ''}`);
  for (const f of result.failures) log(`load: FAILED ${f}`);
  let bad = result.failed > 0;

  if (manifest) {
    if (manifest.total !== result.sent) {
      log(`load: the manifest lists ${manifest.total} resources but the input had ${result.sent}`);
      bad = true;
    }
    const counts = await serverCounts(client, Object.keys(manifest.byType));
    result.serverCounts = counts;
    const diffs = Object.keys(manifest.byType).filter((t) => counts[t] !== manifest.byType[t]);
    if (diffs.length) {
      bad = true;
      for (const t of diffs) log(`load: COUNT MISMATCH ${t}: generated ${manifest.byType[t]}, server has ${counts[t]}`);
    } else {
      log(`load: the server's counts match the generator's for all ${Object.keys(counts).length} types`);
    }
  }
  client.agent.destroy();

  if (opts.data) {
    const du = diskUsage(opts.data);
    result.disk = du;
    log(`load: data directory ${opts.data}: ${mb(du.totalFileBytes)} MB in files ` +
        `(${Object.entries(du.fileBytes).map(([f, b]) => `${f} ${mb(b)} MB`).join(', ')})`);
    if (du.error) log(`load: ${du.error}`);
    else {
      log(`load: ${du.resources} current resources, ${du.versions} versions; pages in use ${mb(du.dbBytes)} MB: ` +
          `search index ${mb(du.indexBytes)} MB (${Math.round(du.indexBytesPerResource)} B/resource), ` +
          `resource tables ${mb(du.resourceBytes)} MB (${Math.round(du.resourceBytesPerResource)} B/resource)`);
      log(`load: largest: ${Object.entries(du.objects).slice(0, 8).map(([n, b]) => `${n} ${mb(b)} MB`).join(', ')}`);
    }
  }
  if (opts.result) fs.writeFileSync(opts.result, JSON.stringify(result, null, 2) + '\n');
  process.exit(bad ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`load: ${err.stack || err.message}\n`);
  process.exit(1);
});
