/**
 * The tests that run the published build (`dist/`: the package test, the browser tests) call
 * {@link ensureFreshBuild} first, so that a plain `npx jest` never tests a stale build: when
 * `dist/` is missing or older than any source file, it runs `npm run build` (once, under a lock
 * shared by jest's workers).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..');
const DIST_MARK = path.join(ROOT, 'dist', 'index.js');
const LOCK = path.join(ROOT, '.build.lock');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

/** Why `dist/` needs a build, or null when it is up to date. */
export function staleReason(): string | null {
  if (!fs.existsSync(DIST_MARK)) return 'dist/ is missing';
  const built = fs.statSync(DIST_MARK).mtimeMs;
  const inputs = Math.max(newestSource(path.join(ROOT, 'src')), ...['package.json', 'tsup.config.ts'].map((f) => fs.statSync(path.join(ROOT, f)).mtimeMs));
  return inputs > built ? 'a source file is newer than dist/' : null;
}

const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Builds `dist/` with `npm run build` if {@link staleReason} says so. */
export function ensureFreshBuild(): void {
  if (staleReason() === null) return;
  for (let waited = 0; ; waited += 200) {
    try {
      fs.mkdirSync(LOCK);
      break;
    } catch {
      if (waited > 300_000) throw new Error(`ensureFreshBuild: ${LOCK} has been held for 5 minutes; remove it if no build is running`);
      sleep(200);
    }
  }
  try {
    const reason = staleReason();
    if (reason !== null) {
      console.log(`${reason}: running npm run build`);
      execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'pipe' });
    }
  } finally {
    fs.rmdirSync(LOCK);
  }
}
