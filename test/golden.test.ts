/**
 * The repository's copy of the golden vectors (`test/golden/`) is the project's reference
 * (`../shared/golden`, made from the authors' PyTorch code), byte for byte, when that folder sits
 * beside the checkout; on a plain clone the copy is used as it is.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GOLDEN_DIR, SHARED_GOLDEN_DIR } from './helpers/golden';

const REPO_GOLDEN = path.resolve(__dirname, 'golden');
const list = (dir: string) => fs.readdirSync(dir).filter((f) => !f.startsWith('.')).sort();

describe('golden vectors', () => {
  it('the repository holds every case the tests read, with its README', () => {
    const files = list(REPO_GOLDEN);
    expect(files).toContain('README.md');
    for (const name of ['grid_sample__bilinear__zeros__ac1', 'generate_map__p0', 'generate_map__p2', 's3n_forward__p0', 's3n_forward__p2']) {
      expect(files).toContain(`${name}.json`);
    }
  });

  const shared = fs.existsSync(SHARED_GOLDEN_DIR);
  (shared ? it : it.skip)(`test/golden/ is byte-identical to ${SHARED_GOLDEN_DIR}`, () => {
    expect(list(REPO_GOLDEN)).toEqual(list(SHARED_GOLDEN_DIR));
    for (const f of list(SHARED_GOLDEN_DIR)) {
      const same = fs.readFileSync(path.join(REPO_GOLDEN, f)).equals(fs.readFileSync(path.join(SHARED_GOLDEN_DIR, f)));
      if (!same) throw new Error(`test/golden/${f} differs from ${SHARED_GOLDEN_DIR}/${f}: copy the shared file again`);
    }
  });
  if (!shared) console.log(`golden vectors: ${SHARED_GOLDEN_DIR} is not beside this checkout; the tests use test/golden/ (${GOLDEN_DIR})`);

  it('CI compares against the shared folder (CI=true requires it)', () => {
    if (process.env.CI === 'true') expect(shared).toBe(true);
  });
});
