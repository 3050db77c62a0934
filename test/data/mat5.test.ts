import * as fs from 'node:fs';
import * as path from 'node:path';
import { matScalar, matStrings, readMat } from '../../src/data/mat5';
import { mat, writeMat } from './mat5_writer';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, 'fixtures', name));

describe('readMat on files written by scipy.io.savemat (an independent writer)', () => {
  it('reads a compressed cell array of strings, non-ASCII included', () => {
    const v = readMat(fixture('scipy_cars_meta.mat'));
    expect(matStrings(v.class_names)).toEqual(['AM General Hummer SUV 2000', 'Acura RL Sedan 2012', 'Škoda Octavia Combi 2011']);
  });

  it('reads an uncompressed 1×N struct array like the Cars annotations', () => {
    const a = readMat(fixture('scipy_cars_annos.mat')).annotations;
    if (a.type !== 'struct') throw new Error('not a struct');
    expect(a.dims).toEqual([1, 2]);
    expect(a.fields).toEqual(['bbox_x1', 'bbox_y1', 'bbox_x2', 'bbox_y2', 'class', 'fname']);
    expect(a.elements.map((e) => [matScalar(e.bbox_x2), matScalar(e.class), matStrings(e.fname)[0]])).toEqual([
      [569, 3, '00001.jpg'],
      [868, 1, '00002.jpg'],
    ]);
  });

  it('reads matrices (column-major), integers, logicals, char matrices and scalar structs', () => {
    const v = readMat(fixture('scipy_misc.mat'));
    expect(v.matrix).toMatchObject({ type: 'numeric', matlabClass: 'double', dims: [2, 3] });
    expect(Array.from((v.matrix as { data: Float64Array }).data)).toEqual([0, 3, 1, 4, 2, 5]);
    expect(Array.from((v.int32s as { data: Float64Array }).data)).toEqual([-5, 7, 2 ** 30]);
    expect(v.flag).toMatchObject({ matlabClass: 'logical' });
    expect(matStrings(v.words)).toEqual(['ab', 'cd']);
    const s = v.scalar_struct;
    if (s.type !== 'struct') throw new Error('not a struct');
    expect(matScalar(s.elements[0].a)).toBe(1.5);
    expect(matStrings(s.elements[0].b)).toEqual(['text']);
  });
});

describe('readMat on the test writer', () => {
  it.each([
    [true, true],
    [true, false],
    [false, true],
    [false, false],
  ])('little-endian %s, compressed %s', (littleEndian, compress) => {
    const buf = writeMat(
      {
        names: mat.cellOfStrings(['a', 'bcdef']),
        n: mat.num(300, 'uint16'),
        small: mat.num(7, 'uint8'),
        v: { kind: 'double', data: [1.25, -2, 1e300] },
      },
      { littleEndian, compress },
    );
    const v = readMat(buf);
    expect(matStrings(v.names)).toEqual(['a', 'bcdef']);
    expect(matScalar(v.n)).toBe(300);
    expect(matScalar(v.small)).toBe(7);
    expect(Array.from((v.v as { data: Float64Array }).data)).toEqual([1.25, -2, 1e300]);
  });
});

describe('readMat errors', () => {
  it('names the file and what was expected', () => {
    expect(() => readMat(Buffer.alloc(10), 'x.mat')).toThrow('readMat: x.mat must be a Level 5 MAT-file (a 128-byte header first), but got 10 bytes.');
    expect(() => readMat(Buffer.alloc(200), 'x.mat')).toThrow(/readMat: x\.mat must be a Level 5 MAT-file with the 'IM' or 'MI' byte-order mark at byte 126/);
    const truncated = writeMat({ n: { kind: 'double', data: [1, 2, 3, 4] } }).subarray(0, 150);
    expect(() => readMat(truncated, 'y.mat')).toThrow(/readMat: y\.mat must be a valid Level 5 MAT-file, but got an element of \d+ bytes past the end of the data at byte 128\./);
    expect(() => matScalar(undefined, 'class')).toThrow('matScalar: class must be a 1×1 numeric array, but got nothing.');
    expect(() => matStrings(readMat(writeMat({ n: mat.num(1) })).n, 'names')).toThrow('matStrings: names must be a char or cell array, but got a numeric array.');
  });
});
