/**
 * `S3N_PRESETS` and `S3N.create({ preset })` (issue 15): the `authors` preset is the paper's
 * configuration as the authors' code builds it, today also every option's default; options
 * given beside a preset win; an unknown preset is refused by name.
 */
import { S3N, S3N_DEFAULTS, S3N_PRESETS, smallResNet } from '../../src';
import { expectNoLeak } from '../helpers/numeric';
import { withPreset } from '../../src/model/s3n';

const backbone = () => smallResNet({ inputSize: 32, widths: [4, 8], seed: 5 });

describe('S3N_PRESETS.authors', () => {
  test("holds the authors' values (sss_net.py / config.py), written out here", () => {
    expect(S3N_PRESETS.authors).toEqual({
      gridSize: 31,
      radius: 0.09,
      radiusInv: 0.3,
      baseRatio: 0.09,
      topK: 5,
      entropyThreshold: 0.2,
      paddingSize: 30,
      fwhm: 13,
      trainableFilter: true,
      useBuffers: true,
      branchStatistics: 'shared',
      sourceSize: undefined,
    });
    expect(Object.isFrozen(S3N_PRESETS.authors)).toBe(true);
  });

  test('every value is also the current default (the defaults are the authors’)', () => {
    const { branchStatistics, sourceSize, ...rest } = S3N_PRESETS.authors;
    for (const [k, v] of Object.entries(rest)) expect([k, S3N_DEFAULTS[k as keyof typeof S3N_DEFAULTS]]).toEqual([k, v]);
    expect([branchStatistics, sourceSize]).toEqual(['shared', undefined]);
  });
});

describe("S3N.create({ preset: 'authors' })", () => {
  test('builds the same network as the defaults: same layers, configs and initial weights', () => {
    const a = S3N.create(backbone(), { classes: 3, seed: 7 });
    const b = S3N.create(backbone(), { classes: 3, seed: 7, preset: 'authors' });
    expect(b.model.layers.map((l) => [l.name, l.getClassName()])).toEqual(a.model.layers.map((l) => [l.name, l.getClassName()]));
    expect(JSON.stringify(b.model.toJSON(null, false))).toBe(JSON.stringify(a.model.toJSON(null, false)));
    const wa = a.model.getWeights();
    const wb = b.model.getWeights();
    expect(wb.length).toBe(wa.length);
    wa.forEach((w, i) => expect(Array.from(wb[i].dataSync())).toEqual(Array.from(w.dataSync())));
    expect(b.branchStatistics).toBe('shared');
    a.dispose();
    b.dispose();
  });

  test('an option given beside the preset wins over it', () => {
    const plain = S3N.create(backbone(), { classes: 3, seed: 7, preset: 'authors' });
    const noBuffers = S3N.create(backbone(), { classes: 3, seed: 7, preset: 'authors', useBuffers: false, gridSize: 15 });
    // The head without buffers has fewer weights; the attention's grid is the one given.
    expect(noBuffers.model.countParams()).toBeLessThan(plain.model.countParams());
    const zoom = noBuffers.model.getLayer('zoom_saliency').outputShape as number[];
    expect(zoom.slice(1)).toEqual([15, 15]);
    expect((plain.model.getLayer('zoom_saliency').outputShape as number[]).slice(1)).toEqual([31, 31]);
    plain.dispose();
    noBuffers.dispose();
  });

  test('an unknown preset is refused with the choices, and nothing is left allocated', async () => {
    const bb = backbone();
    await expectNoLeak(() => {
      expect(() => S3N.create(bb, { classes: 3, preset: 'paper' as 'authors' })).toThrow("S3N.create: preset must be one of 'authors', but got 'paper'.");
    });
    bb.dispose();
  });
});

describe('withPreset (how S3N.create applies a preset)', () => {
  // A preset table whose values differ from the defaults, so that applying it is observable.
  const presets = { authors: { useBuffers: false, gridSize: 15, radius: 0.2 } };

  test("fills the options the caller left undefined with the preset's values", () => {
    expect(withPreset('f', { classes: 3, preset: 'authors' }, presets)).toEqual({ classes: 3, preset: 'authors', useBuffers: false, gridSize: 15, radius: 0.2 });
  });

  test('an option given beside the preset wins; one given as undefined does not', () => {
    expect(withPreset('f', { classes: 3, preset: 'authors', gridSize: 31, radius: undefined }, presets)).toEqual({ classes: 3, preset: 'authors', useBuffers: false, gridSize: 31, radius: 0.2 });
  });

  test('without a preset the options are returned as given', () => {
    const options = { classes: 3, useBuffers: true };
    expect(withPreset('f', options, presets)).toBe(options);
  });

  test('an unknown preset names the table it is not in', () => {
    expect(() => withPreset('f', { classes: 3, preset: 'paper' as 'authors' }, { authors: {}, lean: {} })).toThrow("f: preset must be one of 'authors', 'lean', but got 'paper'.");
  });
});
