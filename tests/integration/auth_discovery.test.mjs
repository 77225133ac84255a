// --smart-capabilities: what .well-known/smart-configuration advertises follows the deployment's
// authorization server (e.g. EHR launch), and a capability SMART does not define stops start-up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAuthPair } from './lib/auth.mjs';
import { runKiln, freshDataDir } from './lib/kiln.mjs';

test('--smart-capabilities replaces the advertised capabilities', async () => {
  const pair = await startAuthPair({
    clients: [{ id: 'reader', alg: 'RS256', scopes: ['system/*.rs'] }],
    kilnArgs: ['--smart-capabilities', 'launch-ehr, launch-standalone,context-ehr-patient,permission-v2'],
  });
  try {
    const s = await pair.kiln.request('GET', '/.well-known/smart-configuration');
    assert.equal(s.status, 200);
    assert.deepEqual(s.json.capabilities,
      ['launch-ehr', 'launch-standalone', 'context-ehr-patient', 'permission-v2']);
    assert.deepEqual(s.json.code_challenge_methods_supported, ['S256']);
  } finally {
    await pair.close();
  }
});

test('an unknown or empty capability stops start-up, naming it', async () => {
  let r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), '--smart-capabilities', 'launch-ehr,teleport']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /'teleport' is not a SMART App Launch capability/);
  r = await runKiln(['serve', '--port', '0', '--data', freshDataDir(), '--smart-capabilities', '']);
  assert.notEqual(r.code, 0);
});
