// Conditional create races: many clients creating "the Patient with identifier X" at the same
// moment must create it exactly once (R4 http 3.1.0.8). Kiln runs the If-None-Exist search inside
// the write transaction on the single writer, so no interleaving can create a twin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startKiln } from './lib/kiln.mjs';

const CLIENTS = 16;
const ROUNDS = 500;

test('16 clients x 500 rounds of If-None-Exist create: no duplicates', async () => {
  const kiln = await startKiln();
  try {
    const statuses = { 200: 0, 201: 0 };
    const idsByRound = Array.from({ length: ROUNDS }, () => new Set());
    async function client() {
      for (let round = 0; round < ROUNDS; round++) {
        const value = `r${round}`;
        const res = await kiln.request('POST', '/Patient', {
          headers: { 'If-None-Exist': `identifier=urn:race|${value}` },
          body: { resourceType: 'Patient', identifier: [{ system: 'urn:race', value }] },
        });
        assert.ok(res.status === 200 || res.status === 201, `round ${round}: ${res.status} ${res.text}`);
        statuses[res.status]++;
        idsByRound[round].add(res.json.id);
      }
    }
    await Promise.all(Array.from({ length: CLIENTS }, client));
    // Every answer of a round names the same resource, and exactly one client created it.
    assert.equal(statuses[201], ROUNDS);
    assert.equal(statuses[200], ROUNDS * (CLIENTS - 1));
    for (let round = 0; round < ROUNDS; round++) assert.equal(idsByRound[round].size, 1, `round ${round}`);
    // And the store holds one Patient per identifier.
    const all = await kiln.request('GET', '/Patient?identifier=urn:race|&_total=accurate&_count=1');
    assert.equal(all.status, 200);
    assert.equal(all.json.total, ROUNDS);
  } finally {
    await kiln.stop();
  }
});
