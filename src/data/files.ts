/**
 * File helpers of the dataset readers: existence checks that name every expected file, and
 * whitespace-separated annotation lists.
 *
 * @internal
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The image extensions sharp decodes (lower case, with the dot). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];

/** Whether a path exists and is a file (`'file'`) or a folder (`'dir'`). */
export function exists(p: string, kind: 'file' | 'dir'): boolean {
  try {
    const st = fs.statSync(p);
    return kind === 'file' ? st.isFile() : st.isDirectory();
  } catch {
    return false;
  }
}

/**
 * Throws unless every expected entry exists under `root`. Entries ending in `/` are folders.
 * The message names the function, the layout, every expected entry and the missing ones.
 */
export function requireLayout(fn: string, root: string, layout: string, expected: readonly string[]): void {
  if (!exists(root, 'dir')) {
    throw new Error(`${fn}: root must be ${layout} folder containing ${expected.join(', ')}, but got '${root}', which is not a folder.`);
  }
  const missing = expected.filter((e) => !exists(path.join(root, e), e.endsWith('/') ? 'dir' : 'file'));
  if (missing.length > 0) {
    throw new Error(
      `${fn}: root must be ${layout} folder containing ${expected.join(', ')}, but got '${root}', where ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} missing.`,
    );
  }
}

/**
 * Reads a text annotation file as lines of `id rest…`: `[first token, the rest of the line]`
 * (the rest may contain spaces, as FGVC-Aircraft's class names do). Blank lines are skipped.
 */
export function readPairs(fn: string, file: string): [string, string][] {
  const text = fs.readFileSync(file, 'utf8');
  const out: [string, string][] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const m = /^(\S+)\s+(.+)$/.exec(line);
    if (!m) throw new Error(`${fn}: each line of ${file} must be 'id value', but got '${line}' at line ${i + 1}.`);
    out.push([m[1], m[2].trim()]);
  });
  return out;
}

/** Reads a list file: one entry per non-blank line. */
export function readLines(file: string): string[] {
  return fs
    .readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}
