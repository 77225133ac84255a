#!/usr/bin/env node
// Checks a loaded population against the NDJSON it was loaded from:
//   - a seeded sample of --sample resources (default 200) is read back (GET {base}/{type}/{id}: 200,
//     same id), and every reference in each of them resolves: `Type/id` with a GET answering 200,
//     `#id` to one of the resource's contained resources;
//   - with --queries DIR, the first --per-kind (default 20) request paths of every query file are
//     sent once: each must answer 200 with a searchset Bundle; the matches on the first page are
//     reported per kind, to show the selectivity of the benchmark's searches.
//
//   node bench/population/verify.mjs --base http://127.0.0.1:8080/fhir [--sample 200] \
//        [--queries DIR] [--per-kind 20] [--seed 1] FILE
// Exits 1 when anything did not resolve or answer as expected.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

function parseArgs(argv) {
  const opts = { base: null, sample: 200, queries: null, perKind: 20, seed: 1, input: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === '--base') opts.base = val().replace(/\/+$/, '');
    else if (a === '--sample') opts.sample = Number(val());
    else if (a === '--queries') opts.queries = val();
    else if (a === '--per-kind') opts.perKind = Number(val());
    else if (a === '--seed') opts.seed = Number(val());
    else if (a.startsWith('--')) throw new Error(`unknown argument ${a}`);
    else opts.input = a;
  }
  if (!opts.base || !opts.input) throw new Error('usage: verify.mjs --base URL [--sample N] [--queries DIR] FILE');
  return opts;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, { agent, headers: { Accept: 'application/fhir+json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

// mulberry32: a small seeded generator for the reservoir sample.
function rngFrom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function sampleLines(file, n, seed) {
  const rng = rngFrom(seed);
  const kept = [];
  let seen = 0, rest = '';
  for await (const chunk of fs.createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop();
    for (const line of parts) {
      if (!line) continue;
      seen++;
      if (kept.length < n) kept.push(line);
      else {
        const j = Math.floor(rng() * seen);
        if (j < n) kept[j] = line;
      }
    }
  }
  if (rest.trim()) { seen++; if (kept.length < n) kept.push(rest); }
  return { kept: kept.map((l) => JSON.parse(l)), seen };
}

function references(resource) {
  const refs = [];
  const walk = (v, key) => {
    if (typeof v === 'string') { if (key === 'reference') refs.push(v); return; }
    if (Array.isArray(v)) { for (const x of v) walk(x, key); return; }
    if (v && typeof v === 'object') for (const k in v) walk(v[k], k);
  };
  walk(resource, '');
  return refs;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (s) => process.stderr.write(s + '\n');
  let problems = 0;
  const problem = (s) => { problems++; if (problems <= 10) log(`verify: PROBLEM ${s}`); };

  const { kept, seen } = await sampleLines(opts.input, opts.sample, opts.seed);
  let reads = 0, localRefs = 0, containedRefs = 0, otherRefs = 0;
  const checked = new Map();  // reference -> status (each target fetched once)
  for (const r of kept) {
    const self = await get(`${opts.base}/${r.resourceType}/${r.id}`);
    reads++;
    if (self.status !== 200) { problem(`GET ${r.resourceType}/${r.id}: HTTP ${self.status}`); continue; }
    if (JSON.parse(self.body).id !== r.id) problem(`GET ${r.resourceType}/${r.id}: another id came back`);
    const containedIds = new Set((r.contained || []).map((c) => c.id));
    for (const ref of references(r)) {
      if (ref.startsWith('#')) {
        containedRefs++;
        if (!containedIds.has(ref.slice(1))) problem(`${r.resourceType}/${r.id}: ${ref} is not contained`);
      } else if (/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(ref)) {
        localRefs++;
        if (!checked.has(ref)) checked.set(ref, (await get(`${opts.base}/${ref}`)).status);
        if (checked.get(ref) !== 200) problem(`${r.resourceType}/${r.id}: reference ${ref}: HTTP ${checked.get(ref)}`);
      } else {
        otherRefs++;
        problem(`${r.resourceType}/${r.id}: unexpected reference ${ref}`);
      }
    }
  }
  log(`verify: ${reads} of ${seen} resources read back; ${localRefs} references (${checked.size} distinct ` +
      `targets) resolved with GET, ${containedRefs} to contained resources, ${otherRefs} other`);

  if (opts.queries) {
    for (const file of fs.readdirSync(opts.queries).filter((f) => f.endsWith('.txt')).sort()) {
      const paths = fs.readFileSync(path.join(opts.queries, file), 'utf8').split('\n').filter(Boolean)
        .slice(0, opts.perKind);
      const matches = [];
      let withNext = 0;
      const origin = new URL(opts.base).origin;
      for (const p of paths) {
        const res = await get(origin + p);
        if (res.status !== 200) { problem(`GET ${p}: HTTP ${res.status} ${res.body.slice(0, 200)}`); continue; }
        const b = JSON.parse(res.body);
        if (b.resourceType !== 'Bundle' || b.type !== 'searchset') { problem(`GET ${p}: not a searchset`); continue; }
        matches.push((b.entry || []).filter((e) => e.search?.mode !== 'outcome').length);
        if ((b.link || []).some((l) => l.relation === 'next')) withNext++;
        if ((b.entry || []).some((e) => e.search?.mode === 'outcome')) problem(`GET ${p}: the search reported an issue`);
      }
      matches.sort((a, b) => a - b);
      const med = matches.length ? matches[Math.floor(matches.length / 2)] : 0;
      log(`verify: ${file.replace(/\.txt$/, '')}: ${paths.length} searches, first page matches ` +
          `min ${matches[0] ?? 0} median ${med} max ${matches[matches.length - 1] ?? 0}, ${withNext} with a next page`);
    }
  }
  agent.destroy();
  if (problems) log(`verify: ${problems} problem(s)`);
  else log('verify: all checks passed');
  process.exit(problems ? 1 : 0);
}

main().catch((err) => {
  process.stderr.write(`verify: ${err.stack || err.message}\n`);
  process.exit(1);
});
