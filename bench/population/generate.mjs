#!/usr/bin/env node
// Seeded, deterministic generator of the search benchmark's population: K clones of the Synthea
// transaction bundles in ../shared/testdata/synthea/bundles (34 bundles, 10,682 resources per
// clone; 94 clones give about 1,000,000 resources).
//
// Every clone gets, for every resource:
//   - a fresh id: a UUIDv7-like string built from the seed and the resource's sequence number
//     (clone * resourcesPerClone + index), so ids are valid FHIR ids, unique, and increase in the
//     order the resources are emitted (time-ordered ids keep the store's b-tree inserts at the end);
//   - every `urn:uuid:` reference (anywhere: nested, in contained resources) rewritten to
//     `Type/newid`, and every other string equal to an old entry uuid (Synthea's identifier values)
//     replaced by the new id;
//   - every date, dateTime, instant and Period bound shifted by a seeded number of days, chosen per
//     (clone, bundle), keeping the value's format and precision (time of day and offset unchanged);
//   - Patient family names replaced by a seeded pick from 2,000 synthetic surnames with a Zipf-like
//     frequency (a few common names, a long tail), so `family=` searches have realistic selectivity.
//
// Output: NDJSON (one resource per line, "resourceType" and "id" first) to --out (default stdout).
// With --queries DIR it also writes realistic search parameter values drawn from the population
// (seeded reservoir samples) as ready-to-send request paths, one file per kind of search, and with
// --manifest FILE a JSON summary (counts per type, seed, clones, ...).
//
//   node bench/population/generate.mjs --seed 42 --clones 94 --out pop.ndjson \
//        --queries queries/ --manifest manifest.json
//
// No dependencies beyond Node (>= 18).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DEFAULT_BUNDLES = path.resolve(HERE, '../../../shared/testdata/synthea/bundles');

// ------------------------------------------------------------------ seeded randomness
// 32-bit integer hash (the finaliser of MurmurHash3), used to derive independent seeds.
function mix32(h) {
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
function hashInts(...xs) {
  let h = 0x9e3779b9;
  for (const x of xs) h = mix32((h ^ (x >>> 0)) + 0x7f4a7c15 + (h << 6) + (h >>> 2));
  return h >>> 0;
}
// sfc32: small, fast, good-quality 32-bit generator; returns floats in [0, 1).
function rngFrom(seed) {
  let a = seed >>> 0, b = mix32(seed ^ 0xdeadbeef), c = mix32(seed + 0x1234567), d = 1;
  const next = () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

// ------------------------------------------------------------------ ids
const hex = (n, width) => n.toString(16).padStart(width, '0');
// UUIDv7 layout: 48-bit millisecond timestamp, version 7, 12 bits, variant 10, 62 bits. Here the
// "timestamp" is a seed-derived base plus seq / 4096 and the 12 bits are seq % 4096, so the ids
// sort (as strings too: fixed-width lower-case hex) in seq order; the last 62 bits are a hash of
// (seed, seq). Deterministic: the same seed and seq always give the same id.
function makeIdFactory(seed) {
  const base = Date.UTC(2024, 0, 1) + (hashInts(seed, 1) % 1000000) * 1000;
  return (seq) => {
    const ts = base + Math.floor(seq / 4096);
    const tsHex = hex(ts, 12);
    const r1 = hashInts(seed, seq, 2), r2 = hashInts(seed, seq, 3);
    return `${tsHex.slice(0, 8)}-${tsHex.slice(8)}-7${hex(seq % 4096, 3)}-` +
      `${hex(0x8000 | (r1 & 0x3fff), 4)}-${hex(r1 >>> 16, 4)}${hex(r2, 8)}`;
  };
}

// ------------------------------------------------------------------ surnames
// 50 x 40 = 2,000 synthetic surnames, ranked in a seeded order and picked with probability
// proportional to rank^-0.6: the commonest is about 2% of patients, the median name a few in
// ten thousand (real surname frequencies are similarly skewed).
const ONSETS = ['Ab', 'Ad', 'Al', 'Ash', 'Bar', 'Bel', 'Bran', 'Brook', 'Cal', 'Car', 'Chal', 'Cor',
  'Dal', 'Dun', 'El', 'Ev', 'Fair', 'Fen', 'Gar', 'Glen', 'Hal', 'Har', 'Hol', 'Kel', 'Ker', 'Lang',
  'Lind', 'Mar', 'Mel', 'Mor', 'Nor', 'Oak', 'Os', 'Pem', 'Pres', 'Quin', 'Rad', 'Ros', 'Sel',
  'Stan', 'Thorn', 'Tor', 'Ul', 'Van', 'Wal', 'Wes', 'Whit', 'Wyn', 'Yar', 'Zel'];
const CODAS = ['by', 'bridge', 'brook', 'burn', 'by', 'croft', 'dale', 'den', 'er', 'ett', 'field',
  'ford', 'gate', 'grave', 'ham', 'hart', 'hill', 'holm', 'hurst', 'ing', 'ington', 'ley', 'low',
  'man', 'mere', 'more', 'ner', 'ridge', 'row', 'sby', 'shaw', 'son', 'stead', 'ston', 'ter',
  'thorpe', 'ton', 'well', 'wick', 'worth'];
function makeSurnamePicker(seed) {
  const names = [...new Set(ONSETS.flatMap((o) => CODAS.map((c) => o + c)))];
  const rng = rngFrom(hashInts(seed, 4));
  for (let i = names.length - 1; i > 0; i--) {  // seeded Fisher-Yates: the rank order
    const j = Math.floor(rng() * (i + 1));
    [names[i], names[j]] = [names[j], names[i]];
  }
  const cdf = new Float64Array(names.length);
  let sum = 0;
  for (let k = 0; k < names.length; k++) cdf[k] = sum += Math.pow(k + 1, -0.6);
  return (r) => {  // r in [0, 1)
    const x = r * sum;
    let lo = 0, hi = names.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < x) lo = mid + 1; else hi = mid;
    }
    return names[lo];
  };
}

// ------------------------------------------------------------------ dates
// A whole FHIR date/dateTime/instant value: YYYY, YYYY-MM, YYYY-MM-DD, or a date with a time.
const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?)?)?$/;
// Year-only strings are only taken as dates under keys that hold dates (a 4-digit postalCode is not).
const DATE_KEY_RE = /(Date|DateTime|Instant|^date|^start|^end|^issued|^created|^recorded|^authoredOn|^started|^occurrence|^onset|^abatement|^period)/;
const pad = (n, w) => String(n).padStart(w, '0');

function shiftDate(s, days, key) {
  const m = DATE_RE.exec(s);
  if (!m) return null;
  const [, y, mo, d, rest] = m;
  if (d !== undefined) {  // day precision or finer: move the calendar date, keep the time part
    const t = new Date(Date.UTC(+y, +mo - 1, +d) + days * 86400000);
    const yy = t.getUTCFullYear();
    if (yy < 1 || yy > 9999) return s;
    return `${pad(yy, 4)}-${pad(t.getUTCMonth() + 1, 2)}-${pad(t.getUTCDate(), 2)}${rest ?? ''}`;
  }
  if (mo !== undefined) {  // month precision: whole months
    const total = +y * 12 + (+mo - 1) + Math.round(days / 30.436875);
    return `${pad(Math.floor(total / 12), 4)}-${pad((total % 12) + 1, 2)}`;
  }
  if (!DATE_KEY_RE.test(key)) return null;  // a bare 4-digit string that is not known to be a date
  return pad(+y + Math.round(days / 365.2425), 4);
}

// ------------------------------------------------------------------ reservoir sampling
class Reservoir {
  constructor(size, rng) { this.size = size; this.rng = rng; this.items = []; this.seen = 0; }
  offer(make) {  // make() builds the item only when it is kept
    this.seen++;
    if (this.items.length < this.size) this.items.push(make());
    else {
      const j = Math.floor(this.rng() * this.seen);
      if (j < this.size) this.items[j] = make();
    }
  }
}

// ------------------------------------------------------------------ the generator
export function loadBundles(dir = DEFAULT_BUNDLES) {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (!files.length) throw new Error(`no bundles (*.json) in ${dir}`);
  return files.map((f) => {
    const bundle = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    const uuids = new Set();
    for (const e of bundle.entry) {
      if (uuids.has(e.fullUrl)) throw new Error(`${f}: fullUrl ${e.fullUrl} occurs twice`);
      uuids.add(e.fullUrl);
    }
    return {
      file: f,
      entries: bundle.entry.map((e) => ({
        uuid: e.fullUrl.startsWith('urn:uuid:') ? e.fullUrl.slice(9) : e.resource.id,
        resource: e.resource,
      })),
    };
  });
}

// Yields { type, id, json } for clones firstClone .. firstClone + clones - 1; calls
// onResource(type, resource) with each new resource (before serialisation) if given.
export function* generate({ bundles, seed = 42, clones = 1, firstClone = 0, onResource = null }) {
  const perClone = bundles.reduce((n, b) => n + b.entries.length, 0);
  const makeId = makeIdFactory(seed);
  const pickSurname = makeSurnamePicker(seed);
  for (let c = firstClone; c < firstClone + clones; c++) {
    let seq = c * perClone;
    for (let bi = 0; bi < bundles.length; bi++) {
      const b = bundles[bi];
      // The new id of every entry of the bundle. A fullUrl is local to its transaction bundle: the
      // same urn:uuid in two bundles (Synthea repeats some Organizations and Practitioners, with
      // different content) is two resources, as a server processing the transactions would create.
      const newId = new Map();      // old uuid -> new id
      const newRef = new Map();     // old uuid -> "Type/newid"
      for (const e of b.entries) {
        const id = makeId(seq++);
        newId.set(e.uuid, id);
        newRef.set(e.uuid, `${e.resource.resourceType}/${id}`);
      }
      const rng = rngFrom(hashInts(seed, c, bi, 5));
      const days = -Math.floor(rng() * 3650);  // up to ten years earlier
      const families = new Map();               // original family -> this clone's family
      const familyFor = (f) => {
        if (!families.has(f)) families.set(f, pickSurname(rng()));
        return families.get(f);
      };
      const rewrite = (v, key) => {
        if (typeof v === 'string') {
          if (v.startsWith('urn:uuid:')) {
            const r = newRef.get(v.slice(9));
            if (r !== undefined) return key === 'reference' ? r : newId.get(v.slice(9));
            return v;
          }
          const c0 = v.charCodeAt(0);
          if (c0 >= 48 && c0 <= 57) {  // starts with a digit: maybe a date or an old uuid
            if (v.length === 36) {
              const id = newId.get(v);
              if (id !== undefined) return id;
            }
            const shifted = shiftDate(v, days, key);
            if (shifted !== null) return shifted;
          } else if (c0 >= 97 && c0 <= 102 && v.length === 36) {  // a-f: maybe an old uuid
            const id = newId.get(v);
            if (id !== undefined) return id;
          }
          return v;
        }
        if (Array.isArray(v)) return v.map((x) => rewrite(x, key));
        if (v !== null && typeof v === 'object') {
          const out = {};
          for (const k in v) {
            if (k === 'div' && key === 'text') out[k] = v[k];  // narrative XHTML: as is
            else out[k] = rewrite(v[k], k);
          }
          return out;
        }
        return v;
      };
      for (const e of b.entries) {
        const src = e.resource;
        const type = src.resourceType;
        const id = newId.get(e.uuid);  // (entries are unique within a bundle)
        const res = { resourceType: type, id };
        for (const k in src) {
          if (k === 'resourceType' || k === 'id') continue;
          res[k] = rewrite(src[k], k);
        }
        if (type === 'Patient' && Array.isArray(res.name)) {
          for (const n of res.name) if (typeof n.family === 'string') n.family = familyFor(n.family);
        }
        if (onResource) onResource(type, res);
        yield { type, id, json: JSON.stringify(res) };
      }
    }
  }
}

// ------------------------------------------------------------------ search parameter values
// Seeded reservoir samples of realistic values, turned into request paths under /fhir.
const q = encodeURIComponent;
const codingOf = (cc) => (cc && Array.isArray(cc.coding) && cc.coding[0]) || null;
const tokenOf = (coding) => (coding.system ? `${coding.system}|${coding.code}` : coding.code);
const refId = (ref) => (ref && typeof ref.reference === 'string' ? ref.reference : null);
const dayOf = (s) => (typeof s === 'string' ? s.slice(0, 10) : null);
function addDays(day, n) {
  const t = new Date(Date.parse(day + 'T00:00:00Z') + n * 86400000);
  return t.toISOString().slice(0, 10);
}

export function makeSampler(seed, size = 1000) {
  const rng = rngFrom(hashInts(seed, 6));
  const kinds = {
    'observation-patient-code-date': new Reservoir(size, rng),
    'patient-family-birthdate': new Reservoir(size, rng),
    'encounter-patient': new Reservoir(size, rng),
    'condition-code': new Reservoir(size, rng),
    'observation-code': new Reservoir(size, rng),
  };
  const onResource = (type, r) => {
    if (type === 'Observation') {
      const coding = codingOf(r.code);
      const subject = refId(r.subject);
      const day = dayOf(r.effectiveDateTime ?? r.effectivePeriod?.start ?? r.issued);
      if (!coding || !coding.code) return;
      // date=ge a day up to two years before this Observation's: the patient's Observations of
      // this code since then (at least this one).
      if (subject && day) {
        kinds['observation-patient-code-date'].offer(() =>
          `/fhir/Observation?patient=${q(subject)}&code=${q(tokenOf(coding))}` +
          `&date=ge${addDays(day, -Math.floor(rng() * 730))}`);
      }
      kinds['observation-code'].offer(() => `/fhir/Observation?code=${q(tokenOf(coding))}&_count=10`);
    } else if (type === 'Patient') {
      const family = r.name?.find((n) => n.family)?.family;
      if (family && r.birthDate) {
        kinds['patient-family-birthdate'].offer(() =>
          `/fhir/Patient?family=${q(family)}&birthdate=${r.birthDate}`);
      }
    } else if (type === 'Encounter') {
      const subject = refId(r.subject);
      if (subject) kinds['encounter-patient'].offer(() => `/fhir/Encounter?patient=${q(subject)}`);
    } else if (type === 'Condition') {
      const coding = codingOf(r.code);
      if (coding?.code) kinds['condition-code'].offer(() => `/fhir/Condition?code=${q(tokenOf(coding))}`);
    }
  };
  return { kinds, onResource, rng };
}

// ------------------------------------------------------------------ command line
function parseArgs(argv) {
  const opts = { seed: 42, clones: 1, firstClone: 0, out: '-', bundles: DEFAULT_BUNDLES,
                 queries: null, manifest: null, sample: 1000, quiet: false };
  const need = (i) => {
    if (i + 1 >= argv.length) throw new Error(`${argv[i]} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const int = (name) => {
      const v = Number(need(i));
      if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
      i++;
      return v;
    };
    if (a === '--seed') opts.seed = int(a);
    else if (a === '--clones') opts.clones = int(a);
    else if (a === '--first-clone') opts.firstClone = int(a);
    else if (a === '--sample') opts.sample = int(a);
    else if (a === '--out') { opts.out = need(i); i++; }
    else if (a === '--bundles') { opts.bundles = need(i); i++; }
    else if (a === '--queries') { opts.queries = need(i); i++; }
    else if (a === '--manifest') { opts.manifest = need(i); i++; }
    else if (a === '--quiet') opts.quiet = true;
    else if (a === '-h' || a === '--help') {
      console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n')
        .filter((l) => l.startsWith('//')).map((l) => l.slice(3)).join('\n'));
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const t0 = process.hrtime.bigint();
  const bundles = loadBundles(opts.bundles);
  const sampler = makeSampler(opts.seed, opts.sample);
  const counts = {};
  let total = 0, bytes = 0;
  const toStdout = opts.out === '-';
  const out = toStdout ? process.stdout : fs.createWriteStream(opts.out);
  let buf = [];
  let bufLen = 0;
  const flush = async () => {
    if (!buf.length) return;
    const chunk = buf.join('');
    buf = [];
    bufLen = 0;
    if (!out.write(chunk)) await new Promise((resolve) => out.once('drain', resolve));
  };
  const perClone = bundles.reduce((n, b) => n + b.entries.length, 0);
  const all = perClone * opts.clones;
  let lastReport = Date.now();
  for (const r of generate({ bundles, seed: opts.seed, clones: opts.clones,
                              firstClone: opts.firstClone, onResource: sampler.onResource })) {
    counts[r.type] = (counts[r.type] || 0) + 1;
    total++;
    bytes += Buffer.byteLength(r.json) + 1;
    buf.push(r.json, '\n');
    bufLen += r.json.length + 1;
    if (bufLen >= 1 << 20) await flush();
    if (!opts.quiet && Date.now() - lastReport >= 5000) {
      lastReport = Date.now();
      process.stderr.write(`generate: ${total} / ${all} resources\n`);
    }
  }
  await flush();
  if (!toStdout) await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;

  if (opts.queries) {
    fs.mkdirSync(opts.queries, { recursive: true });
    for (const [kind, res] of Object.entries(sampler.kinds)) {
      fs.writeFileSync(path.join(opts.queries, `${kind}.txt`), res.items.join('\n') + (res.items.length ? '\n' : ''));
    }
  }
  const manifest = {
    seed: opts.seed, clones: opts.clones, firstClone: opts.firstClone,
    bundles: bundles.length, resourcesPerClone: perClone, total, bytes,
    byType: Object.fromEntries(Object.entries(counts).sort()),
    queries: Object.fromEntries(Object.entries(sampler.kinds).map(([k, r]) => [k, r.items.length])),
  };
  if (opts.manifest) fs.writeFileSync(opts.manifest, JSON.stringify(manifest, null, 2) + '\n');
  if (!opts.quiet) {
    process.stderr.write(`generate: ${total} resources (${(bytes / 1048576).toFixed(1)} MB NDJSON) ` +
      `from ${opts.clones} clone(s) of ${bundles.length} bundles in ${seconds.toFixed(1)} s\n`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`generate: ${err.message}\n`);
    process.exit(1);
  });
}
