/**
 * Labels of the images dropped for fine-tuning: from the folder an image is in
 * (`red-crested/0001.jpg`, the layout `s3n train --dataset folder` reads) or else from the
 * start of its file name (`red-crested_0001.jpg`, `red-crested-2.png`, `red-crested.jpg`).
 * Matching ignores case; the longest class name that matches wins.
 */

/**
 * The label of an image path (a folder-relative path or a bare file name), or undefined when
 * neither its folder nor its file name names a class.
 */
export function labelOf(filePath: string, classNames: readonly string[]): number | undefined {
  const parts = filePath.split(/[\\/]/).filter((p) => p !== '');
  const file = parts.pop() ?? '';
  const lower = classNames.map((c) => c.toLowerCase());
  for (let i = parts.length - 1; i >= 0; i--) {
    const k = lower.indexOf(parts[i].toLowerCase());
    if (k >= 0) return k;
  }
  const base = file.replace(/\.[^.]*$/, '').toLowerCase();
  let best: number | undefined;
  lower.forEach((c, k) => {
    const next = base.charAt(c.length);
    const matches = base.startsWith(c) && (next === '' || /[\s_\-.0-9()]/.test(next));
    if (matches && (best === undefined || c.length > lower[best].length)) best = k;
  });
  return best;
}
