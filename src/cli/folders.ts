/**
 * Output folders of the CLI (`--out`, `--report`): made and probed before any work, so that a
 * run never trains for an hour and then fails to write its result.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UsageError } from './backend';

/**
 * Creates `dir` (with its parents) and checks that a file can be written in each of `probe`
 * (default: `dir`; e.g. `dir` and the parents it was created in).
 *
 * @param option The command-line option the folder came from, for the message (`--out`).
 * @throws a {@link UsageError} naming `option` when a folder cannot be created or written.
 */
export function ensureWritableFolder(option: string, dir: string, probe: string[] = [dir]): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new UsageError(`${option} must be a folder that can be written, but creating '${dir}' failed: ${(e as Error).message}.`);
  }
  for (const d of probe) {
    const file = path.join(d, `.s3n-write-test-${process.pid}`);
    try {
      fs.writeFileSync(file, '');
      fs.rmSync(file);
    } catch (e) {
      throw new UsageError(`${option} must be a folder that can be written, but writing in '${d}' failed: ${(e as Error).message}.`);
    }
  }
}
