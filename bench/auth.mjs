// Read-by-id throughput with SMART authentication vs without (issue 6's benchmark: auth must
// cost under 10%). Starts the test authorization server (tests/auth/authz-server.mjs), one kiln
// with --auth none and one with --auth smart, PUTs a Patient into each, and runs
// `wrk -t1 -c16 -d${BENCH_DURATION:-5}s` GETs of it: without a token, and with one RS256 and one
// ES256 token reused on every request (the verified-token cache is what keeps this cheap).
// Figures, not pass/fail:   node bench/auth.mjs [BUILD_DIR]
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

const buildDir = resolve(process.argv[2] || 'build');
process.env.KILN_BIN ??= `${buildDir}/kiln`;
const { startAuthServer } = await import('../tests/auth/authz-server.mjs');
const { startKiln } = await import('../tests/integration/lib/kiln.mjs');

const base = 'http://kiln.test/fhir';
const duration = process.env.BENCH_DURATION || '5';
const as = await startAuthServer({ audience: base, clients: [
  { id: 'rs', alg: 'RS256', scopes: ['system/*.cruds'] },
  { id: 'es', alg: 'ES256', scopes: ['system/*.cruds'] }] });
const common = ['--base-url', base, '--access-log', 'false', '--threads', '2'];
const plain = await startKiln({ args: common });
const smart = await startKiln({ args: [...common, '--auth', 'smart', '--auth-issuer', as.issuer] });
try {
  const rs = await as.token('rs', 'system/*.cruds');
  const es = await as.token('es', 'system/*.cruds');
  for (const k of [plain, smart]) {
    const r = await k.request('PUT', '/Patient/p1', { headers: { Authorization: `Bearer ${rs}` },
      body: { resourceType: 'Patient', id: 'p1' } });
    if (r.status !== 201) throw new Error(`seeding: ${r.status} ${r.text}`);
  }
  const run = (k, header) => {
    const args = ['-t1', '-c16', `-d${duration}s`, `${k.origin}/fhir/Patient/p1`];
    if (header) args.unshift('-H', header);
    const out = execFileSync('wrk', args).toString();
    if (/Non-2xx/.test(out)) throw new Error(`non-2xx answers:\n${out}`);
    return Number(out.match(/Requests\/sec:\s+(\S+)/)[1]);
  };
  const none = run(plain);
  const withRs = run(smart, `Authorization: Bearer ${rs}`);
  const withEs = run(smart, `Authorization: Bearer ${es}`);
  const fmt = (n) => `${Math.round(n).toLocaleString('en-US')} req/s`;
  console.log(`read by id, --auth none:            ${fmt(none)}`);
  console.log(`read by id, --auth smart, RS256:    ${fmt(withRs)}  (${(withRs / none).toFixed(2)} of none)`);
  console.log(`read by id, --auth smart, ES256:    ${fmt(withEs)}  (${(withEs / none).toFixed(2)} of none)`);
} finally {
  await plain.stop(); plain.cleanup();
  await smart.stop(); smart.cleanup();
  await as.close();
}
