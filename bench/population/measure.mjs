#!/usr/bin/env node
// Two timed search measurements for bench/search.sh, over one keep-alive connection:
//
//   measure.mjs count URL [--repeat 5]
//     GETs URL (a `_summary=count` search) --repeat times after one unreported warm-up request and
//     reports the Bundle's total, the median and best time, and matched resources counted per
//     second (total / median seconds).
//
//   measure.mjs page URL [--limit 100000]
//     GETs URL (e.g. Observation?_count=1000) and follows the Bundle's `next` links until --limit
//     matches have been delivered or there is no next page; reports pages, matches, bytes, seconds
//     (from the first request to the last byte of the last page), matches delivered per second
//     and the per-page latency (p50, p99, max). The client counts matches and finds the next link
//     without parsing the whole Bundle (a byte search), so that its own cost stays small.
//
// Both print one `MEASURE key=value ...` line on stdout (and, with --result FILE, the same as JSON).
import fs from 'node:fs';
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
function get(url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http.get(url, { agent, headers: { Accept: 'application/fhir+json' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks),
                                    ms: performance.now() - t0 }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const NEXT = Buffer.from('"relation":"next","url":"');
const MATCH = Buffer.from('"search":{"mode":"match"');
function nextLink(body) {
  const at = body.indexOf(NEXT);
  if (at < 0) return null;
  const start = at + NEXT.length;
  let end = start;
  while (end < body.length && !(body[end] === 0x22 && body[end - 1] !== 0x5c)) end++;
  const raw = body.toString('utf8', start, end);
  return raw.includes('\\') ? JSON.parse(`"${raw}"`) : raw;
}
function countMatches(body) {
  let n = 0;
  for (let at = body.indexOf(MATCH); at >= 0; at = body.indexOf(MATCH, at + MATCH.length)) n++;
  return n;
}
const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] : 0);

async function count(url, repeat) {
  const warm = await get(url);
  if (warm.status !== 200) throw new Error(`GET ${url}: HTTP ${warm.status} ${warm.body.toString().slice(0, 300)}`);
  const total = JSON.parse(warm.body.toString('utf8')).total;
  if (typeof total !== 'number') throw new Error(`GET ${url}: no total in the Bundle`);
  const times = [];
  for (let i = 0; i < repeat; i++) {
    const r = await get(url);
    if (r.status !== 200) throw new Error(`GET ${url}: HTTP ${r.status}`);
    times.push(r.ms);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  return { total, repeat, median_ms: median, best_ms: times[0], worst_ms: times[times.length - 1],
           counted_per_s: total / (median / 1000) };
}

async function page(url, limit) {
  let next = url, pages = 0, matches = 0, bytes = 0;
  const lat = [];
  const t0 = performance.now();
  while (next && matches < limit) {
    const r = await get(next);
    if (r.status !== 200) throw new Error(`GET ${next}: HTTP ${r.status} ${r.body.toString().slice(0, 300)}`);
    pages++;
    bytes += r.body.length;
    lat.push(r.ms);
    const n = countMatches(r.body);
    if (n === 0) break;
    matches += n;
    next = nextLink(r.body);
  }
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  return { pages, matches, bytes, seconds, delivered_per_s: matches / seconds, mb_per_s: bytes / 1048576 / seconds,
           page_p50_ms: pct(lat, 50), page_p99_ms: pct(lat, 99), page_max_ms: lat[lat.length - 1] ?? 0,
           exhausted: !next };
}

async function main() {
  const [mode, url, ...rest] = process.argv.slice(2);
  let repeat = 5, limit = 100000, result = null;
  for (let i = 0; i < rest.length; i++) {
    if (rest[i] === '--repeat') repeat = Number(rest[++i]);
    else if (rest[i] === '--limit') limit = Number(rest[++i]);
    else if (rest[i] === '--result') result = rest[++i];
    else throw new Error(`unknown argument ${rest[i]}`);
  }
  if (!url || !['count', 'page'].includes(mode)) throw new Error('usage: measure.mjs count|page URL [options]');
  const out = mode === 'count' ? await count(url, repeat) : await page(url, limit);
  agent.destroy();
  const fmt = (v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(3) : String(v));
  console.log(`MEASURE ${Object.entries(out).map(([k, v]) => `${k}=${fmt(v)}`).join(' ')}`);
  if (result) fs.writeFileSync(result, JSON.stringify(out, null, 2) + '\n');
}

main().catch((err) => {
  process.stderr.write(`measure: ${err.message}\n`);
  process.exit(1);
});
