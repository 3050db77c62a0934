#!/usr/bin/env node
/** Entry of the `s3n` command (see `commands.ts`). */
import { main } from './commands';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`s3n: ${String((e as Error)?.stack ?? e)}\n`);
    process.exitCode = 1;
  },
);
