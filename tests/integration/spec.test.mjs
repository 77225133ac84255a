// Runs the data-driven REST cases in tests/spec/*.test against the real kiln binary: one fresh
// server per file, cases in file order (later cases may use values captured by earlier ones).
// The format is described in tests/spec/README.md.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startKiln } from './lib/kiln.mjs';

const specDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'spec');

function parseSpec(text, file) {
  const cases = [];
  let current = null;
  let section = null;
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    const where = `${file}:${i + 1}`;
    if (line.startsWith('=== ')) {
      current = { name: line.slice(4).trim(), where, requestLine: null, headers: {}, body: [],
                  expects: [] };
      cases.push(current);
      section = 'request';
      return;
    }
    if (!current) {
      if (line.trim() === '' || line.startsWith('#')) return;
      throw new Error(`${where}: expected '=== case name'`);
    }
    if (line.startsWith('--- expect')) { section = 'expect'; return; }
    if (section === 'request') {
      if (current.requestLine === null) {
        if (line.trim() === '' || line.startsWith('#')) return;
        current.requestLine = line.trim();
        section = 'headers';
        return;
      }
    }
    if (section === 'headers') {
      if (line.trim() === '') { section = 'body'; return; }
      const c = line.indexOf(':');
      if (c < 0) throw new Error(`${where}: expected 'Header: value'`);
      current.headers[line.slice(0, c).trim()] = line.slice(c + 1).trim();
      return;
    }
    if (section === 'body') { current.body.push(line); return; }
    if (section === 'expect') {
      if (line.trim() === '' || line.startsWith('#')) return;
      current.expects.push({ text: line.trim(), where });
    }
  });
  return cases;
}

function getPath(obj, path) {
  if (path === '$' || path === '') return obj;
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.').filter((p) => p !== '');
  let v = obj;
  for (const p of parts) {
    if (v === undefined || v === null) return undefined;
    v = v[p];
  }
  return v;
}

function substitute(text, vars) {
  return text.replace(/\{\{(\w+)\}\}/g, (m, name) => {
    if (!(name in vars)) throw new Error(`unknown variable {{${name}}}`);
    return vars[name];
  });
}

function check(expect, res, vars) {
  const t = substitute(expect.text, vars);
  const ctx = `${expect.where}: ${t}`;
  let m;
  if ((m = t.match(/^status (\d{3})$/))) {
    assert.equal(res.status, Number(m[1]), `${ctx}\nbody: ${res.text.slice(0, 600)}`);
  } else if ((m = t.match(/^header (\S+) (=|~|absent|present)\s*(.*)$/))) {
    const v = res.headers.get(m[1]);
    if (m[2] === 'absent') assert.equal(v, null, ctx);
    else if (m[2] === 'present') assert.notEqual(v, null, ctx);
    else if (m[2] === '=') assert.equal(v, m[3], ctx);
    else assert.match(v ?? '', new RegExp(m[3]), ctx);
  } else if ((m = t.match(/^json (\S+) (=|!=|~|absent|present|length)\s*(.*)$/))) {
    assert.ok(res.json !== undefined, `${ctx}: body is not JSON: ${res.text.slice(0, 300)}`);
    const v = getPath(res.json, m[1]);
    if (m[2] === 'absent') assert.equal(v, undefined, ctx);
    else if (m[2] === 'present') assert.notEqual(v, undefined, ctx);
    else if (m[2] === '=') assert.deepEqual(v, JSON.parse(m[3]), ctx);
    else if (m[2] === '!=') assert.notDeepEqual(v, JSON.parse(m[3]), ctx);
    else if (m[2] === 'length') assert.equal(v?.length, Number(m[3]), ctx);
    else assert.match(String(v), new RegExp(m[3]), ctx);
  } else if ((m = t.match(/^body (empty|~)\s*(.*)$/))) {
    if (m[1] === 'empty') assert.equal(res.text, '', ctx);
    else assert.match(res.text, new RegExp(m[2]), ctx);
  } else if ((m = t.match(/^capture (\w+) = (json|header) (\S+)$/))) {
    const v = m[2] === 'json' ? getPath(res.json, m[3]) : res.headers.get(m[3]);
    assert.ok(v !== undefined && v !== null, `${ctx}: nothing to capture`);
    vars[m[1]] = String(v);
  } else if ((m = t.match(/^sleep (\d+)$/))) {
    // handled before the request is sent
  } else {
    throw new Error(`${expect.where}: unknown expectation '${t}'`);
  }
}

const files = readdirSync(specDir).filter((f) => f.endsWith('.test')).sort();
for (const file of files) {
  test(`spec ${file}`, async (t) => {
    const cases = parseSpec(readFileSync(join(specDir, file), 'utf8'), file);
    const kiln = await startKiln();
    const vars = { base: kiln.base, origin: kiln.origin };
    try {
      for (const c of cases) {
        await t.test(c.name, async () => {
          const [method, ...rest] = substitute(c.requestLine, vars).split(' ');
          const path = rest.join(' ');
          const headers = {};
          for (const [k, v] of Object.entries(c.headers)) headers[k] = substitute(v, vars);
          const bodyText = substitute(c.body.join('\n'), vars).trim();
          const init = { headers };
          if (bodyText !== '') {
            init.body = bodyText;
            if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
              headers['Content-Type'] = 'application/fhir+json';
            }
          }
          const res = await kiln.request(method, path, init);
          for (const e of c.expects) check(e, res, vars);
        });
      }
    } finally {
      const code = await kiln.stop();
      kiln.cleanup();
      assert.equal(code, 0, 'kiln should exit cleanly on SIGTERM');
    }
  });
}
