/**
 * The jest configuration `npm run mutate` (StrykerJS) runs: the unit tests that cover the
 * mutated files (stryker.config.json), without the build, package, browser and CLI tests.
 */
const base = require('./jest.config.cjs');

module.exports = {
  ...base,
  testMatch: [
    '<rootDir>/test/ops/decision_map.test.ts',
    '<rootDir>/test/ops/sparse_attention.test.ts',
    '<rootDir>/test/ops/find_peaks.test.ts',
    '<rootDir>/test/ops/peak_aggregation.test.ts',
    '<rootDir>/test/ops/selective_sampling.test.ts',
    '<rootDir>/test/model/s3n_golden.test.ts',
    '<rootDir>/test/model/s3n.test.ts',
    '<rootDir>/test/model/sgd_update.test.ts',
    '<rootDir>/test/layers/layers.test.ts',
    '<rootDir>/test/layers/multi_output.test.ts',
  ],
};
