/**
 * `npm run web`: builds the S3N web page (examples/browser/), makes the demo checkpoint if
 * there is none (`s3n demo --backend wasm`, about 40 s), exports it with `s3n export`, and
 * serves the page on 127.0.0.1 until Ctrl-C.
 *
 *   npm run web [-- --port 8080] [--fresh]      (--fresh: train the demo checkpoint again)
 *
 * Files go to .cache/s3n-web/ (site/ and demo/). Needs the package build (npm run build;
 * made here when dist/ is missing).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { serveStatic } from '../examples/browser/build';
import { prepareDemoSite } from '../examples/browser/demo_site';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, fresh: { type: 'boolean', default: false } }, strict: true });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be an integer in [0, 65535], but got '${values.port}'.`);
  const root = path.resolve(__dirname, '..');
  if (!fs.existsSync(path.join(root, 'dist', 'cli.js')) || !fs.existsSync(path.join(root, 'dist', 'index.mjs'))) {
    console.log('web: building the package (npm run build)…');
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  }
  const cache = path.join(root, '.cache', 's3n-web');
  const site = await prepareDemoSite(path.join(cache, 'site'), { demoDir: path.join(cache, 'demo'), fresh: values.fresh, log: (l) => console.log(`web: ${l}`) });
  const { url } = await serveStatic(site.dir, port);
  console.log(`web: serving ${site.dir}\n\n  ${url}\n\n(?backend=webgpu|webgl|wasm|cpu picks a backend; Ctrl-C stops)`);
}

main().catch((e: unknown) => {
  console.error(`web: ${(e as Error)?.message ?? String(e)}`);
  process.exitCode = 1;
});
