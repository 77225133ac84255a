// Test harness: starts the real kiln binary on a free port with a fresh data directory and talks
// HTTP to it. Used by every integration test (node --test).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';

export const KILN_BIN = process.env.KILN_BIN || join(process.cwd(), 'build', 'kiln');
export const PACKAGE_DIR = process.env.KILN_FHIR_PACKAGE_DIR ||
  join(process.cwd(), 'node_modules', 'hl7.fhir.r4.examples');

export function freshDataDir() {
  return mkdtempSync(join(tmpdir(), 'kiln-test-'));
}

// Starts `kiln serve` and resolves once it prints its FHIR base URL.
// Options: dataDir (reused across restarts), args (extra flags), env.
export async function startKiln({ dataDir = freshDataDir(), args = [], env = {} } = {}) {
  const child = spawn(KILN_BIN, ['serve', '--port', '0', '--data', dataDir, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const [base, listening] = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`kiln did not start:\n${stderr}`)), 15000);
    // The banner is on stdout, or on stderr when stdout carries the audit log (--audit-log -).
    const banner = (text) => {
      const m = text.match(/FHIR base: (\S+)\n\s*Listening: (\S+)/);
      if (m) { clearTimeout(timer); resolve([m[1], m[2]]); }
    };
    child.stdout.on('data', (d) => { stdout += d; banner(stdout); });
    child.stderr.on('data', (d) => { stderr += d; banner(stderr); });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kiln exited with ${code} before starting:\n${stderr}`));
    });
  });
  const url = new URL(listening);
  const server = {
    child, dataDir, base,
    origin: url.origin, port: Number(url.port),
    get stderr() { return stderr; },
    get stdout() { return stdout; },
    // HTTP request relative to the FHIR base ("/Patient/1") or absolute ("http://...").
    // Always sent to the listening socket, even when --base-url names another host.
    async request(method, path, { headers = {}, body } = {}) {
      const target = path.startsWith('http') ? path : `${url.origin}${new URL(base).pathname}${path}`;
      const init = { method, headers: { ...headers } };
      if (body !== undefined) {
        init.body = typeof body === 'string' ? body : JSON.stringify(body);
        if (!Object.keys(init.headers).some((h) => h.toLowerCase() === 'content-type')) {
          init.headers['Content-Type'] = 'application/fhir+json';
        }
      }
      const res = await fetch(target, init);
      const text = await res.text();
      let json;
      try { json = text ? JSON.parse(text) : undefined; } catch { json = undefined; }
      return { status: res.status, headers: res.headers, text, json };
    },
    // Graceful stop (SIGTERM); resolves with the exit code.
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      const exited = new Promise((resolve) => child.on('exit', (code, sig) => resolve(code ?? sig)));
      child.kill(signal);
      return exited;
    },
    cleanup() { rmSync(dataDir, { recursive: true, force: true }); },
  };
  return server;
}

// Runs `kiln` with arguments to completion; resolves { code, stdout, stderr }.
export function runKiln(args, { env = {}, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(KILN_BIN, args, { env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('timeout')); }, timeoutMs);
    child.on('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

// Sends raw bytes over one TCP connection and collects everything the server sends back until it
// closes the connection or `waitMs` passes. For malformed requests fetch cannot send.
export function rawExchange(port, chunks, { waitMs = 3000, delayMs = 0 } = {}) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const started = Date.now();
    socket.on('data', (d) => { data += d.toString('latin1'); });
    socket.on('error', () => {});
    socket.on('close', () => { closed = true; finish(); });
    const timer = setTimeout(finish, waitMs);
    function finish() {
      clearTimeout(timer);
      socket.destroy();
      resolve({ data, closed, ms: Date.now() - started });
    }
    socket.on('connect', async () => {
      for (const c of chunks) {
        if (socket.destroyed) break;
        socket.write(c);
        if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
      }
    });
  });
}

// The status code of the first HTTP response in raw response text.
export function rawStatus(text) {
  const m = text.match(/^HTTP\/1\.[01] (\d{3})/);
  return m ? Number(m[1]) : 0;
}
