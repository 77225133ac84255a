#!/usr/bin/env node
// Request bodies for the Bundle benchmark (bench/bundle.sh), from the Synthea transaction bundles
// in ../shared/testdata/synthea/bundles:
//   patient.json  the largest patient bundle as it is (998 entries linked by urn:uuid fullUrls)
//   tx100.json    a transaction of 100 entries: the first entries of that patient bundle whose
//                 urn:uuid references all point to entries kept before them (so every reference
//                 resolves inside the transaction)
// Every POST of either creates new resources (the server assigns ids), so they can be sent again
// and again.
//
//   node bench/population/bundles.mjs OUT_DIR [BUNDLE_DIR]
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const [out, dir = path.resolve(HERE, '../../../shared/testdata/synthea/bundles')] = process.argv.slice(2);
if (!out) {
  console.error('usage: node bench/population/bundles.mjs OUT_DIR [BUNDLE_DIR]');
  process.exit(2);
}
let largest = null;
for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.json'))) {
  const text = fs.readFileSync(path.join(dir, f), 'utf8');
  const b = JSON.parse(text);
  if (!b.entry.some((e) => e.resource?.resourceType === 'Patient')) continue;
  if (!largest || b.entry.length > largest.bundle.entry.length) largest = { file: f, text, bundle: b };
}
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'patient.json'), largest.text);

const refs = (v, acc = []) => {
  if (Array.isArray(v)) v.forEach((x) => refs(x, acc));
  else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === 'reference' && typeof x === 'string') acc.push(x);
      else refs(x, acc);
    }
  }
  return acc;
};
const kept = [];
const known = new Set();
for (const e of largest.bundle.entry) {
  if (kept.length === 100) break;
  if (refs(e.resource).every((r) => !r.startsWith('urn:uuid:') || known.has(r))) {
    kept.push(e);
    known.add(e.fullUrl);
  }
}
if (kept.length < 100) throw new Error(`only ${kept.length} self-contained entries`);
fs.writeFileSync(path.join(out, 'tx100.json'),
  JSON.stringify({ resourceType: 'Bundle', type: 'transaction', entry: kept }));
console.log(JSON.stringify({ source: largest.file, patient_entries: largest.bundle.entry.length,
  patient_bytes: Buffer.byteLength(largest.text), tx100_entries: kept.length,
  tx100_bytes: fs.statSync(path.join(out, 'tx100.json')).size }));
