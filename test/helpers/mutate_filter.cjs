/**
 * Jest `filter` of `npm run mutate` (jest.mutate.config.cjs): while StrykerJS runs a mutant
 * (`__STRYKER_ACTIVE_MUTANT__` set), only the test files listed for the mutated source file
 * load. Stryker's perTest coverage picks the tests by name but jest would still load every test
 * file, which costs more than the tests themselves. Without an active mutant (Stryker's
 * coverage run, or plain jest) every file runs.
 */
const fs = require('node:fs');
const path = require('node:path');

/** The checkout (Stryker's sandbox copy of it when mutating). */
const ROOT = path.resolve(__dirname, '..', '..');

/** Source file → the test files (regular expressions on the repo-relative path) that pin it. */
/** The fuzz test of every public entry (wrong types, shapes and values: the validation code). */
const FUZZ = /^test\/fuzz\/entry_points\.test\.ts$/;
const TESTS_OF = {
  'src/ops/find_peaks.ts': [/^test\/ops\/find_peaks.*\.test\.ts$/, /^test\/ops\/peak_aggregation\.test\.ts$/, FUZZ],
  'src/ops/decision_map.ts': [/^test\/ops\/decision_map.*\.test\.ts$/, /^test\/layers\/layers\.test\.ts$/, FUZZ],
  'src/ops/sparse_attention.ts': [/^test\/ops\/sparse_attention.*\.test\.ts$/, /^test\/layers\/layers\.test\.ts$/, FUZZ],
  'src/model/loss.ts': [/^test\/model\/loss.*\.test\.ts$/, /^test\/model\/s3n_golden\.test\.ts$/, FUZZ],
  'src/model/optimizer.ts': [/^test\/model\/optimizer.*\.test\.ts$/, /^test\/model\/s3n_golden\.test\.ts$/],
  'src/layers/s3n_head.ts': [/^test\/layers\/(s3n_head.*|layers|multi_output)\.test\.ts$/, /^test\/model\/s3n_golden\.test\.ts$/, FUZZ],
};

/** Mutant id → source file, read once from the instrumented sources in Stryker's sandbox. */
let fileOfMutant;
function mutatedFile(id) {
  if (!fileOfMutant) {
    fileOfMutant = new Map();
    for (const file of Object.keys(TESTS_OF)) {
      const p = path.join(ROOT, file);
      if (!fs.existsSync(p)) continue;
      for (const m of fs.readFileSync(p, 'utf8').matchAll(/stryMutAct_9fa48\("(\d+)"\)/g)) fileOfMutant.set(m[1], file);
    }
  }
  return fileOfMutant.get(id);
}

module.exports = async function filter(testPaths) {
  const id = process.env.__STRYKER_ACTIVE_MUTANT__;
  const file = id === undefined ? undefined : mutatedFile(id);
  const keep = (t) => file === undefined || TESTS_OF[file].some((re) => re.test(path.relative(ROOT, t).split(path.sep).join('/')));
  return { filtered: testPaths.filter(keep).map((test) => ({ test })) };
};
module.exports.TESTS_OF = TESTS_OF;
