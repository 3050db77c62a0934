/**
 * Builds and serves the S3N web page (Node only):
 *
 * - {@link buildPage} bundles `main.ts` with esbuild (the package's ESM build in `dist/`,
 *   tfjs and its webgpu, webgl, wasm and cpu backends) into `page.js`, and copies
 *   `index.html`, `style.css` and tfjs' `.wasm` files (into `wasm/`) beside it;
 * - {@link serveStatic} serves a folder on 127.0.0.1 with `node:http`.
 *
 * `npm run web` (scripts/web.ts) uses both; so does the browser test.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { build, type Metafile } from 'esbuild';

const HERE = __dirname;
const ROOT = path.resolve(HERE, '..', '..');

/** What {@link buildPage} wrote. */
export interface PageBuild {
  /** The output folder (absolute). */
  dir: string;
  /** Size of `page.js` in bytes. */
  bundleBytes: number;
  /** Size of the `.wasm` files in bytes (fetched only on the wasm backend). */
  wasmBytes: number;
  /** esbuild's metafile: every input of the bundle. */
  metafile: Metafile;
  /** Inputs that are Node modules or native packages (must be none): `node:*`, sharp, … */
  nodeInputs: string[];
}

/** Inputs a browser bundle must not contain. */
const NODE_ONLY = /(^|[/\\])(node:|sharp|@img[/\\]sharp|webgpu[/\\](index|dist))|^node:/;

/**
 * Builds the page into `outDir` (created; existing files with the same names replaced).
 * Needs `dist/` (`npm run build`).
 *
 * @throws (rejects) when `dist/index.mjs` is missing, when esbuild fails, or when the bundle
 *   pulls in a Node-only module (the message lists them).
 */
export async function buildPage(outDir: string, options: { minify?: boolean } = {}): Promise<PageBuild> {
  const dist = path.join(ROOT, 'dist', 'index.mjs');
  if (!fs.existsSync(dist)) throw new Error(`buildPage: the package's ESM build must exist (${dist}), but it does not: run npm run build first.`);
  const dir = path.resolve(outDir);
  fs.mkdirSync(path.join(dir, 'wasm'), { recursive: true });
  const result = await build({
    entryPoints: [path.join(HERE, 'main.ts')],
    bundle: true,
    format: 'iife',
    platform: 'browser',
    target: 'es2020',
    minify: options.minify ?? true,
    sourcemap: false,
    metafile: true,
    legalComments: 'none',
    outfile: path.join(dir, 'page.js'),
    logLevel: 'error',
  });
  const metafile = result.metafile as Metafile;
  const nodeInputs = Object.keys(metafile.inputs).filter((f) => NODE_ONLY.test(f));
  if (nodeInputs.length > 0) throw new Error(`buildPage: the page must not bundle Node-only modules, but got ${nodeInputs.join(', ')}.`);
  for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(HERE, f), path.join(dir, f));
  const wasmDir = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  let wasmBytes = 0;
  for (const f of fs.readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) {
    fs.copyFileSync(path.join(wasmDir, f), path.join(dir, 'wasm', f));
    wasmBytes += fs.statSync(path.join(wasmDir, f)).size;
  }
  fs.writeFileSync(path.join(dir, 'meta.json'), JSON.stringify(metafile));
  return { dir, bundleBytes: fs.statSync(path.join(dir, 'page.js')).size, wasmBytes, metafile, nodeInputs };
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
  '.wasm': 'application/wasm',
  '.bin': 'application/octet-stream',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
};

/**
 * Serves the files of `dir` on `host:port` (port 0: any free port), read-only, GET and HEAD
 * only, nothing outside `dir`. Sends the cross-origin-isolation headers so that tfjs' wasm
 * backend may use threads.
 *
 * @returns the server and its URL (`http://127.0.0.1:PORT/`).
 */
export async function serveStatic(dir: string, port = 0, host = '127.0.0.1'): Promise<{ server: http.Server; url: string }> {
  const root = path.resolve(dir);
  const server = http.createServer((req, res) => {
    const send = (code: number, text: string) => {
      res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8' });
      res.end(text);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed');
    let rel: string;
    try {
      rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return send(400, 'bad path');
    }
    const file = path.join(root, rel.endsWith('/') ? `${rel}index.html` : rel);
    if (file !== root && !file.startsWith(root + path.sep)) return send(403, 'forbidden');
    fs.stat(file, (err, st) => {
      if (err || !st.isFile()) return send(404, `not found: ${rel}`);
      res.writeHead(200, {
        'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
        'content-length': st.size,
        'cache-control': 'no-store',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      });
      if (req.method === 'HEAD') return res.end();
      fs.createReadStream(file).pipe(res);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as { port: number };
  return { server, url: `http://${host}:${address.port}/` };
}
