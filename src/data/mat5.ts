/**
 * A small reader of MATLAB Level 5 MAT-files (the format MATLAB writes with `-v6` and `-v7`,
 * zlib-compressed elements included; not the HDF5-based `-v7.3`), enough for dataset
 * annotations such as the Stanford Cars devkit: numeric and logical arrays, char arrays, cell
 * arrays and struct arrays, either byte order. Sparse arrays and objects are not supported.
 *
 * Written for this package because the only Level 5 reader on npm (`mat-for-js`, 2023, one
 * release) is GPL-3.0 — incompatible with this MIT package — and ESM-only.
 */
import { inflateSync } from 'node:zlib';

/**
 * A numeric or logical array, as {@link readMat} returns it: values in column-major order
 * (64-bit integers as numbers, so beyond 2^53 they lose precision). Of a complex array only
 * the real part is kept.
 */
export interface MatNumeric {
  /** Discriminant of {@link MatValue}: always `'numeric'`. */
  type: 'numeric';
  /** MATLAB class, e.g. `'double'`, `'uint8'`, `'logical'`. */
  matlabClass: string;
  /** MATLAB dimensions, e.g. `[1, 1]` for a scalar, `[rows, cols]` for a matrix (at least two). */
  dims: number[];
  /** The values, column-major, converted to float64 whatever the stored type. */
  data: Float64Array;
}

/** A char array: `rows[i]` is row `i` (a row vector has one row). */
export interface MatChar {
  /** Discriminant of {@link MatValue}: always `'char'`. */
  type: 'char';
  /** MATLAB dimensions, `[rows, cols]` (e.g. `[1, 12]` for a 12-character string). */
  dims: number[];
  /** One string per row, `dims[0]` of them, each with all its characters (trailing blanks kept). */
  rows: string[];
}

/** A cell array: cells in column-major order. */
export interface MatCell {
  /** Discriminant of {@link MatValue}: always `'cell'`. */
  type: 'cell';
  /** MATLAB dimensions of the cell array, e.g. `[1, 196]`. */
  dims: number[];
  /** The cells, column-major; each is any {@link MatValue}. */
  cells: MatValue[];
}

/** A struct array: one record of fields per element, in column-major order. */
export interface MatStruct {
  /** Discriminant of {@link MatValue}: always `'struct'`. */
  type: 'struct';
  /** MATLAB dimensions of the struct array, e.g. `[1, 8144]`. */
  dims: number[];
  /** The field names, in the file's order. */
  fields: string[];
  /** One record per element, column-major, mapping every name of `fields` to its value. */
  elements: Record<string, MatValue>[];
}

/**
 * A MATLAB array read by {@link readMat}; tell the kinds apart by `type`: `'numeric'`
 * ({@link MatNumeric}), `'char'` ({@link MatChar}), `'cell'` ({@link MatCell}) or `'struct'`
 * ({@link MatStruct}).
 */
export type MatValue = MatNumeric | MatChar | MatCell | MatStruct;

// Data types (miXXX) and array classes (mxXXX) of the MAT-file format.
const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16, UTF16: 17, UTF32: 18 };
const MX_CLASSES: Record<number, string> = {
  1: 'cell', 2: 'struct', 3: 'object', 4: 'char', 5: 'sparse', 6: 'double', 7: 'single', 8: 'int8', 9: 'uint8',
  10: 'int16', 11: 'uint16', 12: 'int32', 13: 'uint32', 14: 'int64', 15: 'uint64',
};
const ELEMENT_SIZE: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1, 17: 2, 18: 4 };

class MatError extends Error {}

class Reader {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array, readonly le: boolean, readonly where: string) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(offset: number, what: string): never {
    throw new MatError(`readMat: ${this.where} must be a valid Level 5 MAT-file, but got ${what} at byte ${offset}.`);
  }

  /** Reads the data element at `offset`: its type, its payload and where the next one starts. */
  element(offset: number): { type: number; data: Uint8Array; next: number } {
    if (offset + 8 > this.bytes.length) this.fail(offset, 'a truncated element tag');
    const first = this.view.getUint32(offset, this.le);
    if (first >>> 16 !== 0) {
      // Small data element: type and size share the first 4 bytes, the data the next 4.
      const type = first & 0xffff;
      const size = first >>> 16;
      if (size > 4) this.fail(offset, `a small element of ${size} bytes`);
      return { type, data: this.bytes.subarray(offset + 4, offset + 4 + size), next: offset + 8 };
    }
    const type = first;
    const size = this.view.getUint32(offset + 4, this.le);
    const end = offset + 8 + size;
    if (end > this.bytes.length) this.fail(offset, `an element of ${size} bytes past the end of the data`);
    const padded = type === MI.COMPRESSED ? end : offset + 8 + Math.ceil(size / 8) * 8;
    return { type, data: this.bytes.subarray(offset + 8, end), next: Math.min(padded, this.bytes.length) };
  }

  /** Numbers of a numeric element, whatever its stored type. */
  numbers(type: number, data: Uint8Array, offset: number): Float64Array {
    const size = ELEMENT_SIZE[type];
    if (size === undefined || type >= MI.UTF8) this.fail(offset, `numeric data of type ${type}`);
    const n = Math.floor(data.length / size);
    const out = new Float64Array(n);
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    for (let i = 0; i < n; i++) {
      const o = i * size;
      switch (type) {
        case MI.INT8: out[i] = v.getInt8(o); break;
        case MI.UINT8: out[i] = v.getUint8(o); break;
        case MI.INT16: out[i] = v.getInt16(o, this.le); break;
        case MI.UINT16: out[i] = v.getUint16(o, this.le); break;
        case MI.INT32: out[i] = v.getInt32(o, this.le); break;
        case MI.UINT32: out[i] = v.getUint32(o, this.le); break;
        case MI.SINGLE: out[i] = v.getFloat32(o, this.le); break;
        case MI.DOUBLE: out[i] = v.getFloat64(o, this.le); break;
        case MI.INT64: out[i] = Number(v.getBigInt64(o, this.le)); break;
        default: out[i] = Number(v.getBigUint64(o, this.le)); break;
      }
    }
    return out;
  }

  /** Character codes of a char array's data element. */
  text(type: number, data: Uint8Array, offset: number): number[] {
    if (type === MI.UTF8) return Array.from(new TextDecoder('utf-8').decode(data), (c) => c.codePointAt(0) as number);
    if (type === MI.UINT8 || type === MI.INT8) return Array.from(data);
    if (type === MI.UINT16 || type === MI.UTF16 || type === MI.INT16) return Array.from(this.numbers(MI.UINT16, data, offset));
    if (type === MI.UTF32 || type === MI.UINT32 || type === MI.INT32) return Array.from(this.numbers(MI.UINT32, data, offset));
    return this.fail(offset, `character data of type ${type}`);
  }

  /** Parses a miMATRIX payload (starting at `base`, an offset into `bytes`). */
  matrix(base: number, end: number): { name: string; value: MatValue } {
    if (base === end) return { name: '', value: { type: 'numeric', matlabClass: 'double', dims: [0, 0], data: new Float64Array(0) } };
    const flags = this.element(base);
    if (flags.data.length < 8) this.fail(base, 'array flags shorter than 8 bytes');
    const word = new DataView(flags.data.buffer, flags.data.byteOffset, 8).getUint32(0, this.le);
    const cls = word & 0xff;
    const complex = (word & 0x0800) !== 0;
    const logical = (word & 0x0200) !== 0;
    const dimsEl = this.element(flags.next);
    const dims = Array.from(this.numbers(dimsEl.type, dimsEl.data, flags.next));
    const nameEl = this.element(dimsEl.next);
    const name = String.fromCharCode(...nameEl.data);
    const count = dims.reduce((a, b) => a * b, 1);
    let at = nameEl.next;
    const className = MX_CLASSES[cls];
    if (className === undefined) this.fail(base, `an array of unknown class ${cls}`);
    if (className === 'sparse' || className === 'object') {
      throw new MatError(`readMat: ${this.where} must hold numeric, char, cell or struct arrays, but got a ${className} array '${name}' (not supported).`);
    }
    if (className === 'cell') {
      const cells: MatValue[] = [];
      for (let i = 0; i < count; i++) {
        const el = this.element(at);
        if (el.type !== MI.MATRIX) this.fail(at, `a cell of element type ${el.type}`);
        cells.push(this.matrix(at + 8, at + 8 + el.data.length).value);
        at = el.next;
      }
      return { name, value: { type: 'cell', dims, cells } };
    }
    if (className === 'struct') {
      const lenEl = this.element(at);
      const fieldLen = this.numbers(lenEl.type, lenEl.data, at)[0];
      const namesEl = this.element(lenEl.next);
      at = namesEl.next;
      const fields: string[] = [];
      for (let o = 0; fieldLen > 0 && o + fieldLen <= namesEl.data.length; o += fieldLen) {
        const raw = namesEl.data.subarray(o, o + fieldLen);
        const zero = raw.indexOf(0);
        fields.push(String.fromCharCode(...(zero < 0 ? raw : raw.subarray(0, zero))));
      }
      const elements: Record<string, MatValue>[] = [];
      for (let i = 0; i < count; i++) {
        const rec: Record<string, MatValue> = {};
        for (const f of fields) {
          const el = this.element(at);
          if (el.type !== MI.MATRIX) this.fail(at, `a struct field of element type ${el.type}`);
          rec[f] = this.matrix(at + 8, at + 8 + el.data.length).value;
          at = el.next;
        }
        elements.push(rec);
      }
      return { name, value: { type: 'struct', dims, fields, elements } };
    }
    if (className === 'char') {
      const el = count === 0 ? { type: MI.UINT16, data: new Uint8Array(0) } : this.element(at);
      const codes = this.text(el.type, el.data, at);
      const m = dims[0] ?? 0;
      const n = m === 0 ? 0 : codes.length / m;
      const rows: string[] = [];
      for (let r = 0; r < m; r++) {
        let s = '';
        for (let c = 0; c < n; c++) s += String.fromCodePoint(codes[r + m * c]);
        rows.push(s);
      }
      return { name, value: { type: 'char', dims, rows } };
    }
    // Numeric: the real part (complex values keep only it).
    const real = count === 0 ? { type: MI.DOUBLE, data: new Uint8Array(0) } : this.element(at);
    void complex;
    return { name, value: { type: 'numeric', matlabClass: logical ? 'logical' : className, dims, data: this.numbers(real.type, real.data, at) } };
  }
}

/**
 * Parses a Level 5 MAT-file (`-v6` or `-v7`, compressed or not, either byte order). Numeric,
 * logical, char, cell and struct arrays are read, nested to any depth; elements that are not
 * arrays are skipped.
 *
 * @param buffer The whole file, e.g. from `fs.readFileSync` (a Node `Buffer` is a `Uint8Array`).
 * @param where Named in error messages (e.g. the file path). Default `'the buffer'`.
 * @returns the file's variables by name.
 * @throws when the buffer is shorter than the 128-byte header or lacks the `IM` / `MI`
 *   byte-order mark (with a hint when it looks like an HDF5 `-v7.3` file), when an element is
 *   truncated or of an unexpected type, when a compressed element does not inflate, or when
 *   the file holds a sparse array or an object (not supported).
 * @example
 * ```ts
 * const vars = readMat(fs.readFileSync('cars_meta.mat'), 'cars_meta.mat');
 * matStrings(vars.class_names); // ['AM General Hummer SUV 2000', …]
 * ```
 */
export function readMat(buffer: Uint8Array, where = 'the buffer'): Record<string, MatValue> {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  if (bytes.length < 128) throw new MatError(`readMat: ${where} must be a Level 5 MAT-file (a 128-byte header first), but got ${bytes.length} bytes.`);
  const ind = String.fromCharCode(bytes[126], bytes[127]);
  if (ind !== 'IM' && ind !== 'MI') {
    const head = String.fromCharCode(...bytes.subarray(0, 8));
    const hint = head.startsWith('\x89HDF') || String.fromCharCode(...bytes.subarray(0, 19)).includes('7.3') ? ' (a MATLAB -v7.3 HDF5 file? save it with -v7)' : '';
    throw new MatError(`readMat: ${where} must be a Level 5 MAT-file with the 'IM' or 'MI' byte-order mark at byte 126, but got '${ind}'${hint}.`);
  }
  const le = ind === 'IM';
  const out: Record<string, MatValue> = {};
  const top = new Reader(bytes, le, where);
  let offset = 128;
  while (offset + 8 <= bytes.length) {
    const el = top.element(offset);
    if (el.type === MI.COMPRESSED) {
      let plain: Uint8Array | undefined;
      try {
        plain = inflateSync(el.data);
      } catch (e) {
        top.fail(offset, `a compressed element that does not inflate (${(e as Error).message})`);
      }
      const inner = new Reader(plain as Uint8Array, le, where);
      const pel = inner.element(0);
      if (pel.type === MI.MATRIX) {
        const { name, value } = inner.matrix(8, 8 + pel.data.length);
        out[name] = value;
      }
    } else if (el.type === MI.MATRIX) {
      const { name, value } = top.matrix(offset + 8, offset + 8 + el.data.length);
      out[name] = value;
    }
    offset = el.next;
  }
  return out;
}

/**
 * The strings of a char array (one per row, trailing whitespace removed), or of a cell array of
 * char arrays (one per cell, its rows joined, whitespace kept).
 *
 * @param value Usually a variable of {@link readMat} or a field of a struct element.
 * @param what Names `value` in error messages. Default `'value'`.
 * @throws when `value` is missing or not a char or cell array, or when a cell is not a char
 *   array.
 */
export function matStrings(value: MatValue | undefined, what = 'value'): string[] {
  if (value?.type === 'char') return value.rows.map((r) => r.replace(/\s+$/, ''));
  if (value?.type === 'cell') {
    return value.cells.map((c, i) => {
      if (c.type !== 'char') throw new MatError(`matStrings: ${what} must be a cell array of strings, but got a ${c.type} in cell ${i + 1}.`);
      return c.rows.join('');
    });
  }
  throw new MatError(`matStrings: ${what} must be a char or cell array, but got ${value === undefined ? 'nothing' : `a ${value.type} array`}.`);
}

/**
 * The single number of a 1×1 numeric (or logical) array.
 *
 * @param value Usually a field of a struct element, e.g. `annotations(i).class`.
 * @param what Names `value` in error messages. Default `'value'`.
 * @throws when `value` is missing, not numeric, or does not hold exactly one number.
 */
export function matScalar(value: MatValue | undefined, what = 'value'): number {
  if (value?.type === 'numeric' && value.data.length === 1) return value.data[0];
  throw new MatError(`matScalar: ${what} must be a 1×1 numeric array, but got ${value === undefined ? 'nothing' : value.type === 'numeric' ? `${value.data.length} numbers` : `a ${value.type} array`}.`);
}
