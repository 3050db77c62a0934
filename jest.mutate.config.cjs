/**
 * The jest configuration `npm run mutate` (StrykerJS, stryker.config.json) runs: the fast unit
 * tests that pin the mutated files, on the cpu backend only (`S3N_TEST_BACKENDS=cpu`: a mutant
 * of the TypeScript shows on every backend). For a mutant, only the test files listed for its
 * source file load (test/helpers/mutate_filter.cjs), and of those only the tests that reach it
 * run (Stryker's perTest coverage). Left out: the build, package, browser and CLI tests, and
 * the slow ones (test/model/s3n.test.ts trains a ResNet for minutes; the selective-sampling
 * tests compute in their describe blocks).
 */
const base = require('./jest.config.cjs');
const { TESTS_OF } = require('./test/helpers/mutate_filter.cjs');

// Stryker runs jest in its own process (runInBand), so the tests see this.
process.env.S3N_TEST_BACKENDS = 'cpu';

module.exports = {
  ...base,
  testMatch: undefined,
  // Every test file listed for some mutated file.
  testRegex: Object.values(TESTS_OF).flat().map((re) => re.source.replace(/^\^/, '/')),
  filter: '<rootDir>/test/helpers/mutate_filter.cjs',
};
