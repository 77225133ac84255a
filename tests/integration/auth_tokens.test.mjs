// Bad bearer tokens against a Kiln that trusts a real authorization server (oidc-provider): every
// crafted or tampered token below must be refused with 401, an OperationOutcome and a
// WWW-Authenticate challenge, and none may crash the server. Tokens are crafted with node's
// crypto, with keys generated here and with the issuer's own signing keys (so claim checks are
// tested on tokens whose signature is genuinely valid), and by tampering real tokens.
// Also: the JWKS refetch on unknown key ids is rate limited.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { startAuthPair, bearer, b64u, craft, nowSeconds, BASE } from './lib/auth.mjs';
import { rawExchange, rawStatus } from './lib/kiln.mjs';

const CLIENTS = [
  { id: 'rs', alg: 'RS256', scopes: ['system/*.rs'] },
  { id: 'es', alg: 'ES256', scopes: ['system/*.rs'] },
];

let pair;
let kiln;
let realRs;
let realEs;

before(async () => {
  pair = await startAuthPair({ clients: CLIENTS, kilnArgs: ['--auth-jwks-refetch-interval', '2', '--max-header', '64K'] });
  kiln = pair.kiln;
  realRs = await pair.as.token('rs', 'system/*.rs');
  realEs = await pair.as.token('es', 'system/*.rs');
  const seed = await kiln.request('PUT', '/Patient/p1',
    { headers: bearer(await adminToken()), body: { resourceType: 'Patient', id: 'p1' } });
  assert.equal(seed.status, 201, seed.text);
});

after(async () => { await pair?.close(); });

// Writes are not in these clients' scopes: a token crafted with the issuer's key for seeding.
async function adminToken() {
  return craft(header('RS256', 'rsa-1'), claims({ scope: 'system/*.cruds' }), pair.as.keys.RS256.privateKey);
}

function header(alg, kid, extra = {}) {
  return { alg, kid, typ: 'at+jwt', ...extra };
}

function claims(extra = {}) {
  const now = nowSeconds();
  const c = { iss: pair.as.issuer, aud: BASE, exp: now + 300, iat: now, sub: 'crafted',
    client_id: 'crafted', jti: crypto.randomUUID(), scope: 'system/*.rs', ...extra };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  return c;
}

const parts = (t) => t.split('.');
const decode = (p) => JSON.parse(Buffer.from(p, 'base64url').toString());

// The same request over a raw socket, for header bytes fetch will not send.
async function rawGet(authorization) {
  const path = new URL(BASE).pathname;
  const req = `GET ${path}/Patient/p1 HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n` +
    'Connection: close\r\n\r\n';
  const { data } = await rawExchange(kiln.port, [Buffer.from(req, 'utf8')]);
  const status = rawStatus(data);
  const body = data.slice(data.indexOf('\r\n\r\n') + 4);
  let json;
  try { json = JSON.parse(body); } catch { json = undefined; }
  const challenge = (data.match(/^www-authenticate: (.*)$/im) ?? [])[1]?.trim();
  return { status, json, headers: { get: () => challenge ?? null }, text: data };
}

async function get(authorization) {
  const headers = authorization === undefined ? {} : { Authorization: authorization };
  return kiln.request('GET', '/Patient/p1', { headers });
}

test('control: well-formed tokens, real and crafted with the issuer keys, are accepted', async () => {
  const rsKey = pair.as.keys.RS256.privateKey;
  const esKey = pair.as.keys.ES256.privateKey;
  for (const [name, token] of [
    ['real RS256', realRs], ['real ES256', realEs],
    ['crafted RS256', craft(header('RS256', 'rsa-1'), claims(), rsKey)],
    ['crafted ES256', craft(header('ES256', 'ec-1'), claims(), esKey)],
    ['aud array', craft(header('RS256', 'rsa-1'), claims({ aud: ['x', BASE] }), rsKey)],
    ['typ JWT', craft(header('RS256', 'rsa-1', { typ: 'JWT' }), claims(), rsKey)],
    ['no typ', craft({ alg: 'RS256', kid: 'rsa-1' }, claims(), rsKey)],
    ['exp just inside the skew', craft(header('RS256', 'rsa-1'), claims({ exp: nowSeconds() - 20 }), rsKey)],
  ]) {
    const r = await get(`Bearer ${token}`);
    assert.equal(r.status, 200, `${name}: ${r.text}`);
  }
});

// Every bad token of the table below is its own named subtest (zero accepted).
test('crafted and tampered tokens are all refused (zero accepted)', async (t) => {
  const now = nowSeconds();
  const rsKey = pair.as.keys.RS256.privateKey;
  const esKey = pair.as.keys.ES256.privateKey;
  const rsPublic = pair.as.keys.RS256.publicKey;
  const esPublic = pair.as.keys.ES256.publicKey;
  const attackerRsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const attackerEc = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const attackerP384 = crypto.generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
  const good = craft(header('RS256', 'rsa-1'), claims(), rsKey);
  const [gh, gp, gs] = parts(good);
  const [rh, rp, rsig] = parts(realRs);
  const [eh, ep, esig] = parts(realEs);
  const withSig = (h, p, key, alg) => craft(h, p, key, alg);
  const raw = (h, p, sig = '') => `${typeof h === 'string' ? h : b64u(h)}.${typeof p === 'string' ? p : b64u(p)}.${sig}`;
  const flip = (s, i) => {
    const buf = Buffer.from(s, 'base64url');
    buf[i % buf.length] ^= 0x01;
    return buf.toString('base64url');
  };

  const cases = [];
  const add = (name, authorization) => cases.push([name, authorization]);

  // 1. alg none and friends, with and without signatures.
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    add(`alg ${alg}, empty signature`, `Bearer ${raw(header(alg, 'rsa-1'), claims())}`);
    add(`alg ${alg}, real signature`, `Bearer ${raw(header(alg, 'rsa-1'), rp, rsig)}`);
  }
  add('alg none, no kid', `Bearer ${raw({ alg: 'none' }, claims())}`);
  add('alg missing', `Bearer ${raw({ kid: 'rsa-1' }, gp, gs)}`);
  add('alg empty', `Bearer ${raw({ alg: '', kid: 'rsa-1' }, gp, gs)}`);
  add('alg number', `Bearer ${raw({ alg: 256, kid: 'rsa-1' }, gp, gs)}`);
  add('alg lower case rs256', `Bearer ${raw({ alg: 'rs256', kid: 'rsa-1' }, gp, gs)}`);

  // 2. HMAC with the issuer's public key as the secret (key confusion), several encodings.
  const pems = {
    'RSA SPKI PEM': rsPublic.export({ type: 'spki', format: 'pem' }),
    'RSA PKCS1 PEM': rsPublic.export({ type: 'pkcs1', format: 'pem' }),
    'RSA SPKI DER': rsPublic.export({ type: 'spki', format: 'der' }),
    'RSA JWK JSON': JSON.stringify(rsPublic.export({ format: 'jwk' })),
    'EC SPKI PEM': esPublic.export({ type: 'spki', format: 'pem' }),
  };
  for (const [what, secret] of Object.entries(pems)) {
    for (const alg of ['HS256', 'HS384', 'HS512']) {
      add(`${alg} keyed with the ${what}`, `Bearer ${craft(header(alg, what.startsWith('EC') ? 'ec-1' : 'rsa-1'), claims(), secret)}`);
    }
  }

  // 3. Time claims (signed with the issuer's real key: only the claims are wrong).
  const signed = (c, h = header('RS256', 'rsa-1')) => `Bearer ${craft(h, c, rsKey)}`;
  add('expired an hour ago', signed(claims({ exp: now - 3600 })));
  add('expired just past the skew', signed(claims({ exp: now - 90 })));
  add('exp missing', signed(claims({ exp: undefined })));
  add('exp as string', signed(claims({ exp: String(now + 300) })));
  add('exp null', signed(claims({ exp: null })));
  add('exp negative', signed(claims({ exp: -1 })));
  add('exp 1e300', signed(claims({ exp: 1e300 })));
  add('exp boolean', signed(claims({ exp: true })));
  add('exp array', signed(claims({ exp: [now + 300] })));
  add('nbf in the future', signed(claims({ nbf: now + 600 })));
  add('nbf as string', signed(claims({ nbf: 'soon' })));
  add('iat in the future', signed(claims({ iat: now + 3600 })));
  add('iat as object', signed(claims({ iat: {} })));
  add('expired ES256', `Bearer ${craft(header('ES256', 'ec-1'), claims({ exp: now - 3600 }), esKey)}`);

  // 4. Issuer and audience.
  for (const iss of [`${pair.as.issuer}/`, 'http://127.0.0.1:1', pair.as.issuer.toUpperCase(),
    `${pair.as.issuer} `, '', undefined, [pair.as.issuer], 42]) {
    add(`iss ${JSON.stringify(iss)}`, signed(claims({ iss })));
  }
  for (const aud of [`${BASE}/`, 'http://kiln.test', 'http://kiln.test/fhi', `${BASE}x`, BASE.toUpperCase(),
    '', undefined, [], ['other'], [[BASE]], { aud: BASE }, 7]) {
    add(`aud ${JSON.stringify(aud)}`, signed(claims({ aud })));
  }

  // 5. Key ids.
  add('unknown kid (issuer key)', signed(claims(), header('RS256', 'rsa-2')));
  add('kid missing', signed(claims(), { alg: 'RS256', typ: 'at+jwt' }));
  add('kid empty', signed(claims(), header('RS256', '')));
  add('kid number', signed(claims(), header('RS256', 1)));
  add('kid null', signed(claims(), header('RS256', null)));
  add('kid of the EC key with RS256', signed(claims(), header('RS256', 'ec-1')));
  add('ES256 with the RSA kid', `Bearer ${craft(header('ES256', 'rsa-1'), claims(), attackerEc)}`);
  add('PS256 signed by the RS256-only key', `Bearer ${craft(header('PS256', 'rsa-1'), claims(), rsKey)}`);
  add('RS384 signed by the RS256-only key', `Bearer ${craft(header('RS384', 'rsa-1'), claims(), rsKey)}`);
  add('ES384 with the P-256 kid', `Bearer ${craft(header('ES384', 'ec-1'), claims(), attackerP384)}`);

  // 6. Attacker keys: real kids, wrong signers; embedded keys and key URLs in the header.
  add('attacker RSA key, real kid', `Bearer ${craft(header('RS256', 'rsa-1'), claims(), attackerRsa)}`);
  add('attacker EC key, real kid', `Bearer ${craft(header('ES256', 'ec-1'), claims(), attackerEc)}`);
  const attackerJwk = crypto.createPublicKey(attackerRsa).export({ format: 'jwk' });
  add('embedded jwk header', `Bearer ${craft(header('RS256', 'rsa-1', { jwk: attackerJwk }), claims(), attackerRsa)}`);
  add('embedded jwk, own kid', `Bearer ${craft(header('RS256', 'attacker', { jwk: attackerJwk }), claims(), attackerRsa)}`);
  add('jku header', `Bearer ${craft(header('RS256', 'rsa-1', { jku: 'http://127.0.0.1:9/jwks' }), claims(), attackerRsa)}`);
  add('x5u header', `Bearer ${craft(header('RS256', 'rsa-1', { x5u: 'http://127.0.0.1:9/cert' }), claims(), attackerRsa)}`);

  // 7. Tampering with real tokens.
  const realClaims = decode(rp);
  add('real RS256, payload scope widened', `Bearer ${rh}.${b64u({ ...realClaims, scope: 'system/*.cruds' })}.${rsig}`);
  add('real RS256, payload aud changed', `Bearer ${rh}.${b64u({ ...realClaims, aud: 'x' })}.${rsig}`);
  add('real RS256, payload exp extended', `Bearer ${rh}.${b64u({ ...realClaims, exp: realClaims.exp + 3600 })}.${rsig}`);
  add('real RS256, payload re-encoded with padding', `Bearer ${rh}.${rp}==.${rsig}`);
  add('real ES256, payload sub changed', `Bearer ${eh}.${b64u({ ...decode(ep), sub: 'admin' })}.${esig}`);
  add('real RS256, header kid swapped', `Bearer ${b64u({ ...decode(rh), kid: 'ec-1' })}.${rp}.${rsig}`);
  add('real RS256, header alg to PS256', `Bearer ${b64u({ ...decode(rh), alg: 'PS256' })}.${rp}.${rsig}`);
  add('real RS256, header alg to HS256', `Bearer ${b64u({ ...decode(rh), alg: 'HS256' })}.${rp}.${rsig}`);
  for (const i of [0, 17, 128, 255]) add(`real RS256, signature bit ${i} flipped`, `Bearer ${rh}.${rp}.${flip(rsig, i)}`);
  for (const i of [0, 31, 32, 63]) add(`real ES256, signature bit ${i} flipped`, `Bearer ${eh}.${ep}.${flip(esig, i)}`);
  add('real RS256, signature truncated', `Bearer ${rh}.${rp}.${rsig.slice(0, -4)}`);
  add('real RS256, signature doubled', `Bearer ${rh}.${rp}.${rsig}${rsig}`);
  add('real RS256, signature of the ES256 token', `Bearer ${rh}.${rp}.${esig}`);
  add('real ES256, signature of the RS256 token', `Bearer ${eh}.${ep}.${rsig}`);
  add('real ES256, DER signature', `Bearer ${eh}.${ep}.${b64u(crypto.sign('sha256', Buffer.from(`${eh}.${ep}`), esKey))}`);
  add('real ES256, signature with a zero byte appended', `Bearer ${eh}.${ep}.${Buffer.concat([Buffer.from(esig, 'base64url'), Buffer.alloc(1)]).toString('base64url')}`);
  add('real RS256, slack bits of the last character set', `Bearer ${rh}.${rp}.${rsig.slice(0, -1)}${rsig.endsWith('A') ? 'B' : 'A'}`);
  add('real RS256, signature empty', `Bearer ${rh}.${rp}.`);
  add('real RS256, signature only', `Bearer ..${rsig}`);

  // 8. Structure and encoding.
  add('no Authorization header', undefined);
  add('empty header', '');
  add('Bearer alone', 'Bearer');
  add('Bearer and spaces', 'Bearer    ');
  add('Basic scheme', `Basic ${Buffer.from('rs:rs-secret').toString('base64')}`);
  add('token without scheme', realRs);
  add('scheme Bearer: with a colon', `Bearer: ${realRs}`);
  add('two tokens', `Bearer ${realRs} ${realRs}`);
  add('two parts', `Bearer ${rh}.${rp}`);
  add('four parts', `Bearer ${realRs}.${rsig}`);
  add('five parts (JWE shape)', `Bearer ${rh}.${rp}.${rsig}.${rsig}.${rsig}`);
  add('dots only', 'Bearer ..');
  add('header not base64url', `Bearer ***.${rp}.${rsig}`);
  add('header with + and /', `Bearer ab+/.${gp}.${gs}`);
  add('header standard base64 with +/', `Bearer ${Buffer.from(JSON.stringify(decode(rh)) + '\u00fb\u00ff').toString('base64').replace(/=+$/, '')}.${rp}.${rsig}`);
  add('header with = padding', `Bearer ${b64u(header('RS256', 'rsa-1'))}=.${gp}.${gs}`);
  add('header of length 1 mod 4', `Bearer a${gh}.${gp}.${gs}`);
  add('header not JSON', `Bearer ${b64u('not json')}.${gp}.${gs}`);
  add('header a JSON array', `Bearer ${b64u('["RS256"]')}.${gp}.${gs}`);
  add('header JSON null', `Bearer ${b64u('null')}.${gp}.${gs}`);
  add('payload not JSON', withSig(header('RS256', 'rsa-1'), 'x', rsKey) && `Bearer ${gh}.${b64u('{"iss":')}.${gs}`);
  add('payload a JSON string', `Bearer ${rh}.${b64u('"hello"')}.${rsig}`);
  add('payload with a NUL', `Bearer ${rh}.${b64u('{"iss":"\u0000"}')}.${rsig}`);
  add('huge token (20 KiB)', `Bearer ${gh}.${'A'.repeat(20 * 1024)}.${gs}`);
  add('token just over 16 KiB', `Bearer ${gh}.${b64u({ ...claims(), pad: 'x'.repeat(16 * 1024) })}.${gs}`);
  add('control character in token', `Bearer ${gh}\u0001.${gp}.${gs}`);
  add('quote in token', `Bearer ${gh}".${gp}.${gs}`);
  add('non-ASCII in token', `Bearer ${gh}é.${gp}.${gs}`);

  // 9. crit and typ.
  add('crit exp', signed(claims(), header('RS256', 'rsa-1', { crit: ['exp'] })));
  add('crit b64 false', signed(claims(), header('RS256', 'rsa-1', { crit: ['b64'], b64: false })));
  add('crit empty array', signed(claims(), header('RS256', 'rsa-1', { crit: [] })));
  add('crit unknown', signed(claims(), header('RS256', 'rsa-1', { crit: ['kiln-ext'], 'kiln-ext': 1 })));
  add('typ JWE', signed(claims(), header('RS256', 'rsa-1', { typ: 'JWE' })));
  add('typ number', signed(claims(), header('RS256', 'rsa-1', { typ: 1 })));
  add('typ id_token+jwt', signed(claims(), header('RS256', 'rsa-1', { typ: 'id_token+jwt' })));

  // 10. Repeated member names (parsers disagree on which one counts: refused), signed with the
  // issuer's real key so only the repetition is wrong.
  const signedRaw = (h, p) => `Bearer ${craft(h, p, rsKey, 'RS256')}`;
  const claimsJson = (extra) => JSON.stringify(claims()).replace(/}$/, `,${extra}}`);
  add('duplicate alg in the header (none, then RS256)', signedRaw('{"alg":"none","kid":"rsa-1","alg":"RS256"}', claims()));
  add('duplicate alg in the header (RS256, then none)', signedRaw('{"alg":"RS256","kid":"rsa-1","alg":"none"}', claims()));
  add('duplicate kid in the header', signedRaw('{"alg":"RS256","kid":"nope","kid":"rsa-1"}', claims()));
  add('duplicate exp (expired last)', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), claimsJson(`"exp":${now - 3600}`)));
  add('duplicate exp (expired first)', signedRaw(JSON.stringify(header('RS256', 'rsa-1')),
    `{"exp":${now - 3600},${JSON.stringify(claims()).slice(1)}`));
  add('duplicate aud (another last)', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), claimsJson('"aud":"https://other.example/fhir"')));
  add('duplicate iss', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), claimsJson('"iss":"https://evil.example"')));
  add('duplicate scope (wider last)', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), claimsJson('"scope":"system/*.cruds"')));
  add('duplicate exp spelled with an escape', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), claimsJson(`"\\u0065xp":${now - 3600}`)));

  // 11. More payload shapes, signed with the issuer's key.
  add('payload a JSON array', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), JSON.stringify([claims()])));
  add('payload an empty object', signed({}));
  add('payload a JSON number', signedRaw(JSON.stringify(header('RS256', 'rsa-1')), '42'));
  add('exp after the year 9999', signed(claims({ exp: 253402300800 })));
  add('nbf just past the skew', signed(claims({ nbf: now + 90 })));
  add('typ with a trailing space', signed(claims(), header('RS256', 'rsa-1', { typ: 'at+jwt ' })));
  add('kid with a path', signed(claims(), header('RS256', '../rsa-1')));

  // 12. Weak and foreign keys.
  const weakRsa = crypto.generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
  add('RSA key under 2048 bits, real kid', `Bearer ${craft(header('RS256', 'rsa-1'), claims(), weakRsa)}`);
  add('RSA key under 2048 bits, embedded jwk', `Bearer ${craft(header('RS256', 'weak', { jwk: crypto.createPublicKey(weakRsa).export({ format: 'jwk' }) }), claims(), weakRsa)}`);
  add('x5c header with an attacker key', `Bearer ${craft(header('RS256', 'rsa-1', { x5c: [crypto.createPublicKey(attackerRsa).export({ type: 'spki', format: 'der' }).toString('base64')] }), claims(), attackerRsa)}`);

  // 13. More encodings of the signature.
  add('real RS256, signature padded with =', `Bearer ${rh}.${rp}.${rsig}==`);
  add('real RS256, signature with + and /', `Bearer ${rh}.${rp}.${rsig.slice(0, -2)}+/`);
  add('real RS256, space inside the signature', `Bearer ${rh}.${rp}.${rsig.slice(0, 10)} ${rsig.slice(10)}`);
  add('real RS256, tab inside the token', `Bearer ${rh}.${rp}\t.${rsig}`);
  add('real RS256, payload with a trailing dot part', `Bearer ${rh}.${rp}.${rsig}.`);

  assert.ok(cases.length >= 80, `only ${cases.length} cases`);
  assert.equal(new Set(cases.map(([name]) => name)).size, cases.length, 'case names are distinct');
  const accepted = [];
  for (const [name, authorization] of cases) {
    await t.test(name, async () => {
      let r;
      try {
        r = await get(authorization);
      } catch (err) {
        // node's fetch refuses to send some header values (control characters, non-Latin-1):
        // send those over a raw socket instead.
        if (err?.cause?.code !== 'UND_ERR_INVALID_ARG' && !(err instanceof TypeError)) throw err;
        r = await rawGet(authorization);
      }
      // A control character in a header is malformed HTTP: the HTTP layer answers 400 first.
      if (name === 'control character in token' && r.status === 400) return;
      if (r.status !== 401) accepted.push(`${name}: ${r.status}`);
      assert.equal(r.status, 401, `${name}: ${r.text}`);
      assert.equal(r.json?.resourceType, 'OperationOutcome', name);
      assert.ok(r.json.issue[0].diagnostics.length > 0, name);
      const challenge = r.headers.get('www-authenticate') ?? '';
      assert.match(challenge, /^Bearer realm="/, name);
      if (authorization) assert.match(challenge, /error="invalid_token"/, name);
    });
  }
  assert.deepEqual(accepted, [], 'tokens that were not refused with 401');
  // The OperationOutcome names the problem.
  const why = Object.fromEntries(cases);
  for (const [name, pattern] of [
    ['alg none, empty signature', /algorithm 'none' is not accepted/],
    ['HS256 keyed with the RSA SPKI PEM', /algorithm 'HS256' is not accepted/],
    ['expired an hour ago', /has expired/],
    ['exp missing', /no expiry/],
    ['nbf in the future', /not valid yet/],
    ['iat in the future', /issued in the future/],
    ['iss "http://127.0.0.1:1"', /issuer/],
    ['aud "http://kiln.test/fhi"', /aud/],
    ['unknown kid (issuer key)', /signing key \(kid\) is not known/],
    ['kid missing', /no 'kid'/],
    ['real RS256, payload scope widened', /signature is not valid/],
    ['crit exp', /crit/],
    ['huge token (20 KiB)', /longer than 16384 bytes/],
    ['header not JSON', /header is not a JSON object/],
    ['header with = padding', /characters a token cannot have/],
    ['header with + and /', /header is not base64url/],
    ['two parts', /not a JWT/],
    ['duplicate alg in the header (none, then RS256)', /header repeats a member name/],
    ['duplicate exp (expired last)', /payload repeats a member name/],
    ['no Authorization header', /bearer token is required/],
    ['Basic scheme', /scheme is not Bearer/],
  ]) {
    const r = await get(why[name]);
    assert.match(r.json.issue[0].diagnostics, pattern, name);
  }
  // Still alive and still serving.
  assert.equal((await get(`Bearer ${realRs}`)).status, 200);
});

test('unknown key ids refetch the JWKS at most once per interval', async () => {
  const attacker = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const flood = async (n) => {
    const all = [];
    for (let i = 0; i < n; i++) {
      const t = craft(header('ES256', `random-${crypto.randomUUID()}`), claims(), attacker);
      all.push(get(`Bearer ${t}`));
    }
    const rs = await Promise.all(all);
    for (const r of rs) assert.equal(r.status, 401);
  };
  // The interval is 2 s here (--auth-jwks-refetch-interval 2); let it pass, then flood.
  await new Promise((r) => setTimeout(r, 2100));
  const before = pair.as.counters.jwks;
  await flood(60);
  const afterFirst = pair.as.counters.jwks;
  assert.equal(afterFirst - before, 1, 'one refetch for the whole flood');
  await flood(60);
  assert.equal(pair.as.counters.jwks, afterFirst, 'no refetch within the interval');
  // Valid tokens were never disturbed.
  assert.equal((await get(`Bearer ${realEs}`)).status, 200);
});
