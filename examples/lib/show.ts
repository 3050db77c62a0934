/**
 * Shows the pictures and charts of the examples: inline in a Jupyter notebook running on the
 * tslab kernel (through tslab's `display.png` / `display.html` / `display.markdown`), or, when
 * the example runs as a plain script (`npx tsx examples/01_quick_start.ts`), written to
 * `examples/output/<script name>/<name>` and logged.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The part of tslab's display API the examples use (`import * as tslab from 'tslab'`). */
interface Display {
  png(bytes: Uint8Array): void;
  html(text: string): void;
  markdown(text: string): void;
}

/** True inside the tslab kernel (`tslab kernel --config-path ...`). */
export const inNotebook = process.argv.includes('kernel') && /tslab/.test(process.argv[1] ?? '');

function display(): Display {
  // Loaded only in the kernel, where the import of 'tslab' is the live notebook display.
  return (require('tslab') as { display: Display }).display;
}

function outputFile(name: string): string {
  const script = path.basename(process.argv[1] ?? 'example').replace(/\.[cm]?[jt]s$/, '');
  const dir = path.join(__dirname, '..', 'output', script);
  fs.mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}

/** Shows PNG bytes; `name` is the file name used by scripts (e.g. `'peaks.png'`). */
export function showPng(name: string, png: Uint8Array): void {
  if (inNotebook) display().png(png);
  else {
    const file = outputFile(name);
    fs.writeFileSync(file, png);
    console.log(`picture: ${path.relative(process.cwd(), file)}`);
  }
}

/**
 * Shows an SVG document (a chart); `name` is the file name used by scripts. In a notebook it is
 * an HTML output holding the `<svg>` element: nbconvert's HTML export strips the elements of
 * `image/svg+xml` outputs, not those of HTML ones.
 */
export function showSvg(name: string, svg: string): void {
  if (inNotebook) display().html(svg);
  else {
    const file = outputFile(name);
    fs.writeFileSync(file, svg);
    console.log(`chart: ${path.relative(process.cwd(), file)}`);
  }
}

/** Shows a Markdown text (rendered in a notebook, printed by scripts). */
export function showMarkdown(text: string): void {
  if (inNotebook) display().markdown(text);
  else console.log(text);
}
