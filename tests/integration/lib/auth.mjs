// Helpers for the auth integration tests: a real authorization server (tests/auth/authz-server.mjs)
// plus a Kiln started with --auth smart against it, and token crafting with node's crypto for the
// bad-token cases.
import crypto from 'node:crypto';
import { startAuthServer } from '../../auth/authz-server.mjs';
import { startKiln } from './kiln.mjs';

// Kiln's public base URL in these tests: the tokens' audience.
export const BASE = 'http://kiln.test/fhir';

// `mode`: Kiln's --auth mode (smart, or groups).
export async function startAuthPair({ clients, kilnArgs = [], mode = 'smart' }) {
  const as = await startAuthServer({ audience: BASE, clients });
  const kiln = await startKiln({
    args: ['--auth', mode, '--auth-issuer', as.issuer, '--base-url', BASE, ...kilnArgs],
  });
  return {
    as,
    kiln,
    async close() {
      await kiln.stop();
      kiln.cleanup();
      await as.close();
    },
  };
}

export function bearer(token) {
  return { Authorization: `Bearer ${token}` };
}

export function b64u(x) {
  return Buffer.from(typeof x === 'string' || Buffer.isBuffer(x) ? x : JSON.stringify(x))
    .toString('base64url');
}

// The JWS signature of `input` for `alg` with `key` (a KeyObject, or a secret for HS*).
export function signJws(alg, key, input) {
  const data = Buffer.from(input);
  const hash = `sha${alg.slice(2)}`;
  if (alg.startsWith('HS')) return crypto.createHmac(hash, key).update(data).digest();
  if (alg.startsWith('RS')) return crypto.sign(hash, data, key);
  if (alg.startsWith('PS')) {
    return crypto.sign(hash, data, {
      key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: Number(alg.slice(2)) / 8,
    });
  }
  if (alg.startsWith('ES')) return crypto.sign(hash, data, { key, dsaEncoding: 'ieee-p1363' });
  throw new Error(`no signer for ${alg}`);
}

// A compact JWS of `header` and `payload` signed for `signAlg` (default: header.alg) with `key`.
export function craft(header, payload, key, signAlg = header.alg) {
  const input = `${b64u(header)}.${b64u(payload)}`;
  return `${input}.${b64u(signJws(signAlg, key, input))}`;
}

export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}
