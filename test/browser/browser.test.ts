/**
 * The browser-safe entry points really are: `lowbit/common`, the four families, `lowbit/tfjs` and
 * `lowbit/testing` bundle for browsers (esbuild, platform 'browser': a Node built-in anywhere in their
 * import graph fails the build), each reaches only its own folder and `src/common/` (not `common/io`, not
 * another family), the built `dist/` entries bundle for browsers too (after `npm run build`), and the
 * families' source bundle runs in headless Chromium — wasm SIMD kernels compiled from the embedded module
 * by `loadKernels()`, outputs bit-identical to Node's and to the JS kernels' (`probe.ts`).
 *
 * The Chromium part needs a `chromium` binary (Debian's package; `LOWBIT_CHROMIUM` names another). Where
 * none is installed it is skipped, except under `LOWBIT_REQUIRE_RUNTIMES=1` (CI installs the package and
 * sets it), where a missing or failing browser is a failure.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { type ProbeResult, probe } from './probe.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FAMILIES = ['kivi', 'bfp', 'mambaquant', 'mwq'] as const;
/** esbuild options of every browser bundle here (in memory, ES module). */
const BROWSER = {
  absWorkingDir: root,
  bundle: true,
  platform: 'browser',
  format: 'esm',
  write: false,
  logLevel: 'silent',
} as const;

/** Bundle `entry` for browsers; the metafile's inputs, or the build's error messages. */
async function browserBundle(entry: string): Promise<{ inputs: string[] } | { errors: string[] }> {
  try {
    const r = await build({ ...BROWSER, entryPoints: [entry], metafile: true });
    return { inputs: Object.keys((r.metafile as Metafile).inputs) };
  } catch (e) {
    return { errors: ((e as { errors?: { text: string }[] }).errors ?? []).map((m) => m.text) };
  }
}

describe('browser bundles', () => {
  // lowbit/tfjs and lowbit/testing too: in-memory adapters over common (their peers resolve from node_modules)
  for (const entry of ['common', ...FAMILIES, 'tfjs', 'testing']) {
    it(`src/${entry}/index.ts bundles for browsers and imports only ${entry === 'common' ? 'in-memory common' : `${entry} and common`}`, async () => {
      const r = await browserBundle(`src/${entry}/index.ts`);
      expect(r).toHaveProperty('inputs');
      const own = (r as { inputs: string[] }).inputs.filter((f) => f.startsWith('src/'));
      expect(own.length).toBeGreaterThan(3);
      const stray = own.filter(
        (f) => !(f.startsWith(`src/${entry}/`) || f.startsWith('src/common/')) || f.startsWith('src/common/io/'),
      );
      expect(stray).toEqual([]);
    });
  }

  // the published files (tsup, platform 'node', shims): built by `npm run build`, which CI runs first
  it.skipIf(!existsSync(join(root, 'dist/kivi/index.js')) && process.env.LOWBIT_REQUIRE_RUNTIMES !== '1')(
    'the built dist/ entries of common and the families bundle for browsers too',
    async () => {
      for (const entry of ['common', ...FAMILIES]) {
        const r = await browserBundle(`dist/${entry}/index.js`);
        expect(r, entry).toHaveProperty('inputs');
        expect((r as { inputs: string[] }).inputs.filter((f) => f.startsWith('dist/')).length).toBeGreaterThan(1);
      }
    },
  );

  it('the check fails where Node is needed: lowbit/io and lowbit/node do not bundle for browsers', async () => {
    for (const entry of ['src/common/io/index.ts', 'src/node/index.ts']) {
      const r = await browserBundle(entry);
      expect(r).toHaveProperty('errors');
      expect((r as { errors: string[] }).errors.join('\n')).toMatch(/node:(fs|zlib|os|v8|worker_threads)/);
    }
  });
});

/** The Chromium binary: `LOWBIT_CHROMIUM`, else the first `chromium` / `chromium-browser` on PATH. */
function findChromium(): string | null {
  const env = process.env.LOWBIT_CHROMIUM;
  if (env !== undefined && env !== '') return env;
  for (const dir of (process.env.PATH ?? '').split(delimiter))
    for (const name of ['chromium', 'chromium-browser'])
      if (dir !== '' && existsSync(join(dir, name))) return join(dir, name);
  return null;
}

const required = process.env.LOWBIT_REQUIRE_RUNTIMES === '1';
const chromium = findChromium();

function body(req: IncomingMessage): Promise<string> {
  return new Promise((ok, no) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
    });
    req.on('end', () => ok(s));
    req.on('error', no);
  });
}

/** Serve the bundled probe on 127.0.0.1, open it in headless Chromium, return what the page posts back. */
async function runInChromium(bin: string): Promise<ProbeResult> {
  const js = await build({
    stdin: {
      contents: [
        "import { probe } from './test/browser/probe.ts';",
        'const post = (path, text) => fetch(path, { method: "POST", body: text });',
        'probe().then((r) => post("/result", JSON.stringify(r)), (e) => post("/error", String((e && e.stack) || e)));',
      ].join('\n'),
      resolveDir: root,
      sourcefile: 'page.ts',
      loader: 'ts',
    },
    ...BROWSER,
  });
  const script = js.outputFiles[0]!.text;
  const html =
    '<!doctype html><meta charset="utf-8"><title>lowbit probe</title><script>' +
    'addEventListener("error", (e) => fetch("/error", { method: "POST", body: String(e.message) }));' +
    '</script><script type="module" src="/probe.js"></script>';
  let settle: { ok: (r: ProbeResult) => void; no: (e: Error) => void } | undefined;
  const result = new Promise<ProbeResult>((ok, no) => {
    settle = { ok, no };
  });
  const server = createServer((req, res) => {
    if (req.method === 'POST') {
      void body(req).then((text) => {
        res.end('ok');
        if (req.url === '/result') settle!.ok(JSON.parse(text) as ProbeResult);
        else settle!.no(new Error(`page error: ${text}`));
      });
      return;
    }
    const page = req.url === '/' ? html : req.url === '/probe.js' ? script : null;
    res.writeHead(page === null ? 404 : 200, {
      'content-type': req.url === '/probe.js' ? 'text/javascript' : 'text/html',
    });
    res.end(page ?? 'not found');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const port = (server.address() as AddressInfo).port;
  const profile = mkdtempSync(join(tmpdir(), 'lowbit-chromium-'));
  // root (CI) needs --no-sandbox; the rest keeps a headless start quiet and quick
  const args = [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-extensions',
    `--user-data-dir=${profile}`,
    `http://127.0.0.1:${port}/`,
  ];
  const proc = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr = (stderr + c).slice(-4000);
  });
  proc.on('error', (e) => settle!.no(new Error(`cannot start ${bin}: ${e.message}`)));
  proc.on('exit', (code) => settle!.no(new Error(`${bin} exited (${code}) before the page answered:\n${stderr}`)));
  const timer = setTimeout(() => settle!.no(new Error(`no answer from the page in 60 s:\n${stderr}`)), 60_000);
  try {
    return await result;
  } finally {
    clearTimeout(timer);
    proc.removeAllListeners('exit');
    try {
      process.kill(-proc.pid!, 'SIGKILL'); // the browser and its child processes
    } catch {
      // already gone
    }
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

describe('headless Chromium', () => {
  it.skipIf(chromium === null && !required)(
    'runs the bundled families with wasm SIMD, bit-identical to Node and to the JS kernels',
    async () => {
      if (chromium === null) throw new Error('no chromium on PATH (CI installs the Debian package chromium)');
      const [inBrowser, inNode] = await Promise.all([runInChromium(chromium), probe()]);
      expect(inBrowser.simd).toBe(true);
      expect(inBrowser.loaded).toBe(true);
      expect(inBrowser.auto).toBe('wasm');
      expect(inBrowser.inPlace).toBe(true);
      expect(Object.keys(inBrowser.digests.wasm)).toHaveLength(43);
      for (const what of ['codes', 'dequantized'])
        expect(inBrowser.digests.wasm[`kernel memory kivi2 values ${what}`]).toBe(
          inBrowser.digests.wasm[`kivi2 values ${what}`],
        );
      expect(inBrowser.digests.wasm).toEqual(inBrowser.digests.js);
      expect(inBrowser.digests).toEqual(inNode.digests);
    },
    90_000,
  );
});
