// Durability: concurrent writers, kill -9 mid-stream, restart; every write that was answered
// 201 must be readable with its content, and the database must pass PRAGMA integrity_check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startKiln } from './lib/kiln.mjs';

test('acknowledged writes survive kill -9', async () => {
  const kiln = await startKiln();
  const acked = [];  // [id, marker]
  let stop = false;
  let errors = 0;
  async function writer(w) {
    for (let i = 0; !stop; i++) {
      const marker = `w${w}-n${i}`;
      try {
        const res = await kiln.request('POST', '/Patient', {
          body: { resourceType: 'Patient', identifier: [{ system: 'urn:crash-test', value: marker }],
                  name: [{ family: marker }] },
        });
        if (res.status === 201) acked.push([res.json.id, marker]);
      } catch {
        errors++;  // the connection died with the server: that write was never acknowledged
        return;
      }
    }
  }
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  await new Promise((r) => setTimeout(r, 1500));
  kiln.child.kill('SIGKILL');
  stop = true;
  await Promise.all(writers);
  assert.ok(acked.length > 50, `only ${acked.length} writes acknowledged before the kill`);

  const restarted = await startKiln({ dataDir: kiln.dataDir });
  try {
    for (const [id, marker] of acked) {
      const res = await restarted.request('GET', `/Patient/${id}`);
      assert.equal(res.status, 200, `acknowledged Patient/${id} lost`);
      assert.equal(res.json.name[0].family, marker);
    }
  } finally {
    assert.equal(await restarted.stop(), 0);
  }
  const check = execFileSync('sqlite3', [join(kiln.dataDir, 'kiln.db'), 'PRAGMA integrity_check;'])
    .toString().trim();
  assert.equal(check, 'ok');
  kiln.cleanup();
});
