#!/usr/bin/env node
/**
 * Builds the example notebooks from the example scripts, so the two never drift apart.
 *
 *   node scripts/build-notebooks.mjs           # writes examples/NN_*.ipynb from examples/NN_*.ts
 *   node scripts/build-notebooks.mjs --check   # exits 1 when a notebook's cells differ from its script
 *
 * An example script (`examples/NN_name.ts`, run with `npx tsx`) is written in the "percent"
 * cell format:
 *
 *   // %% [markdown]        starts a markdown cell; its lines are `//` comments (the `// ` is removed)
 *   // %%                   starts a code cell
 *   ...  // @script-only    a line that only the script has (e.g. the `async function main() {`
 *                           wrapper that a notebook, with top-level await, does not need)
 *
 * Everything before the first `// %%` is the script's header and is left out. Code cells are
 * dedented. Imports of the library are rewritten from the sources to the built package:
 * `'../src'` → `'../dist'` and `'../src/wasm-training'` → `'../dist/wasm-training'` (the tslab
 * kernel compiles local TypeScript only inside the notebook's own folder, so a notebook uses
 * the package built by `npm run build`, exactly what `npm publish` ships). Any other import
 * of `../src/...` is an error: the examples use the public API only.
 *
 * A notebook whose cell sources already match is left untouched, outputs included: the
 * committed notebooks keep the outputs of their last run (scripts/run-examples.sh --update).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const examples = path.join(root, 'examples');
const check = process.argv.includes('--check');

const IMPORTS = new Map([
  ["'../src'", "'../dist'"],
  ["'../src/wasm-training'", "'../dist/wasm-training'"],
]);

function fail(file, line, message) {
  console.error(`${path.relative(root, file)}:${line}: ${message}`);
  process.exit(1);
}

function dedent(lines) {
  const indents = lines.filter((l) => l.trim() !== '').map((l) => l.match(/^ */)[0].length);
  const n = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(n));
}

function trimBlank(lines) {
  let a = 0;
  let b = lines.length;
  while (a < b && lines[a].trim() === '') a++;
  while (b > a && lines[b - 1].trim() === '') b--;
  return lines.slice(a, b);
}

/** The cells of a percent-format script: `[{ type: 'markdown' | 'code', source: string }]`. */
function parse(file) {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const cells = [];
  let cell = null;
  lines.forEach((raw, i) => {
    const line = raw.replace(/\s+$/, '');
    const marker = line.trim().match(/^\/\/ %%(.*)$/);
    if (marker) {
      cell = { type: marker[1].trim().startsWith('[markdown]') ? 'markdown' : 'code', lines: [], start: i + 1 };
      cells.push(cell);
      return;
    }
    if (cell === null) return; // the script's header
    if (/\/\/ @script-only$/.test(line)) return;
    if (cell.type === 'markdown') {
      const m = line.trim().match(/^\/\/(?: (.*))?$/);
      if (line.trim() !== '' && !m) fail(file, i + 1, 'a markdown cell holds `//` comment lines only');
      cell.lines.push(m ? (m[1] ?? '') : '');
    } else {
      let code = line;
      const imp = code.match(/from ('\.\.\/src[^']*')/);
      if (imp) {
        if (!IMPORTS.has(imp[1])) fail(file, i + 1, `import the public API ('../src' or '../src/wasm-training'), not ${imp[1]}`);
        code = code.replace(imp[1], IMPORTS.get(imp[1]));
      }
      const side = code.match(/^\s*import ('\.\.\/src[^']*');/);
      if (side) {
        if (!IMPORTS.has(side[1])) fail(file, i + 1, `import the public API, not ${side[1]}`);
        code = code.replace(side[1], IMPORTS.get(side[1]));
      }
      cell.lines.push(code);
    }
  });
  return cells
    .map((c) => {
      const body = trimBlank(c.type === 'code' ? dedent(c.lines) : c.lines);
      return { type: c.type, source: body.join('\n') };
    })
    .filter((c) => c.source !== '');
}

/** Jupyter stores a cell's source as a list of lines, each but the last ending with '\n'. */
function sourceLines(text) {
  const parts = text.split('\n');
  return parts.map((p, i) => (i < parts.length - 1 ? `${p}\n` : p));
}

function joined(source) {
  return Array.isArray(source) ? source.join('') : source;
}

function notebookOf(cells) {
  return {
    cells: cells.map((c, i) => {
      const id = `cell-${String(i + 1).padStart(2, '0')}`; // nbformat 4.5 wants a unique id per cell
      return c.type === 'markdown'
        ? { cell_type: 'markdown', id, metadata: {}, source: sourceLines(c.source) }
        : { cell_type: 'code', execution_count: null, id, metadata: {}, outputs: [], source: sourceLines(c.source) };
    }),
    metadata: {
      kernelspec: { display_name: 'TypeScript', language: 'typescript', name: 'tslab' },
      language_info: {
        codemirror_mode: { mode: 'typescript', name: 'javascript', typescript: true },
        file_extension: '.ts',
        mimetype: 'text/typescript',
        name: 'typescript',
        version: '5.0.4',
      },
    },
    nbformat: 4,
    nbformat_minor: 5,
  };
}

function sameCells(notebook, cells) {
  return (
    notebook.cells.length === cells.length &&
    notebook.cells.every((c, i) => c.cell_type === cells[i].type && joined(c.source) === cells[i].source)
  );
}

const scripts = fs.readdirSync(examples).filter((f) => /^\d\d_.*\.ts$/.test(f)).sort();
if (scripts.length === 0) fail(examples, 0, 'no example scripts (NN_name.ts)');
let stale = 0;
for (const script of scripts) {
  const cells = parse(path.join(examples, script));
  const target = path.join(examples, script.replace(/\.ts$/, '.ipynb'));
  const existing = fs.existsSync(target) ? JSON.parse(fs.readFileSync(target, 'utf8')) : null;
  const upToDate = existing !== null && sameCells(existing, cells);
  if (check) {
    if (!upToDate) {
      console.error(`examples/${path.basename(target)} is not up to date with examples/${script}: run node scripts/build-notebooks.mjs`);
      stale++;
    }
    continue;
  }
  if (upToDate) {
    console.log(`examples/${path.basename(target)}: up to date`);
    continue;
  }
  fs.writeFileSync(target, `${JSON.stringify(notebookOf(cells), null, 1)}\n`);
  console.log(`examples/${path.basename(target)}: written (${cells.length} cells, outputs cleared)`);
}
if (stale > 0) process.exit(1);
if (check) console.log(`${scripts.length} notebooks up to date with their scripts`);
