// The authorization server of `make bench`'s auth figures (bench/run.sh, section 7): the test
// authorization server (tests/auth/authz-server.mjs, a real oidc-provider) with two clients, one
// SMART backend-services client (system/*.rs) and one patient-context client (patient/*.rs, patient
// p0). Prints shell assignments (ISSUER, TOKEN_SYSTEM, TOKEN_PATIENT, then READY=1) and serves
// until it is sent SIGTERM.   node bench/auth_server.mjs AUDIENCE
import { startAuthServer } from '../tests/auth/authz-server.mjs';

const audience = process.argv[2];
if (!audience) {
  console.error('usage: node bench/auth_server.mjs AUDIENCE (the FHIR base URL kiln is started with)');
  process.exit(2);
}
const as = await startAuthServer({
  audience,
  ttl: 3600, // longer than any bench run: the same token is reused on every request
  clients: [
    { id: 'bench-system', alg: 'RS256', scopes: ['system/*.rs'] },
    { id: 'bench-patient', alg: 'RS256', scopes: ['patient/*.rs'], claims: { patient: 'p0' } },
  ],
});
const system = await as.token('bench-system', 'system/*.rs');
const patient = await as.token('bench-patient', 'patient/*.rs');
process.stdout.write(`ISSUER=${as.issuer}\nTOKEN_SYSTEM=${system}\nTOKEN_PATIENT=${patient}\nREADY=1\n`);
const stop = async () => { await as.close(); process.exit(0); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
