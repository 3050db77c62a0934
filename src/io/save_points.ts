/**
 * Numbered points in the save sequence of files and checkpoints, for crash-safety tests: a test
 * runs `s3n train` with `S3N_SAVE_POINTS=trace` to list them (one line on stderr each,
 * `s3n-save-point <n> <name>`), or with `S3N_SAVE_POINTS=pause:<n>` to make the process stop
 * at the n-th point (it writes `s3n-save-point <n> <name> paused` on stderr and blocks), where
 * the test kills it with SIGKILL. Without the variable a save point does nothing but read it.
 *
 * @internal
 */
import * as fs from 'node:fs';

let reached = 0;

/** Marks a point of a save sequence (see the module documentation). */
export function savePoint(name: string): void {
  const mode = process.env.S3N_SAVE_POINTS;
  if (!mode) return;
  reached++;
  if (mode === 'trace') {
    fs.writeSync(2, `s3n-save-point ${reached} ${name}\n`);
  } else if (mode === `pause:${reached}`) {
    fs.writeSync(2, `s3n-save-point ${reached} ${name} paused\n`);
    // Blocks the whole process (no callback runs) until it is killed; continues after 60 s.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60000);
  }
}
