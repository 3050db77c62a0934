/**
 * A minimal MATLAB Level 5 MAT-file writer for tests only (npm has no MAT writer): numeric
 * (double/uint8/uint16/int32), char, cell and struct arrays; either byte order; optionally
 * zlib-compressed elements like MATLAB's -v7 files; small-element tags for short data, as
 * MATLAB writes them.
 */
import { deflateSync } from 'node:zlib';

export type MatIn =
  | { kind: 'double' | 'uint8' | 'uint16' | 'int32'; dims?: number[]; data: number[] }
  | { kind: 'char'; text: string }
  | { kind: 'cell'; dims?: number[]; cells: MatIn[] }
  | { kind: 'struct'; dims?: number[]; fields: string[]; elements: Record<string, MatIn>[] };

const MI = { INT8: 1, UINT8: 2, UINT16: 4, INT32: 5, UINT32: 6, DOUBLE: 9, MATRIX: 14, COMPRESSED: 15 };
const MX = { cell: 1, struct: 2, char: 4, double: 6, uint8: 9, uint16: 11, int32: 12 };

class Bytes {
  parts: Uint8Array[] = [];
  constructor(readonly le: boolean) {}
  u32(v: number): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, this.le);
    this.parts.push(b);
  }
  raw(b: Uint8Array): void {
    this.parts.push(b);
  }
  pad(to = 8): void {
    const n = this.length % to;
    if (n) this.parts.push(new Uint8Array(to - n));
  }
  get length(): number {
    return this.parts.reduce((a, p) => a + p.length, 0);
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function typed(type: number, values: number[], le: boolean): Uint8Array {
  const size = type === MI.DOUBLE ? 8 : type === MI.UINT16 ? 2 : type === MI.INT32 || type === MI.UINT32 ? 4 : 1;
  const b = new Uint8Array(values.length * size);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => {
    if (type === MI.DOUBLE) v.setFloat64(i * size, x, le);
    else if (type === MI.UINT16) v.setUint16(i * size, x, le);
    else if (type === MI.INT32) v.setInt32(i * size, x, le);
    else if (type === MI.UINT32) v.setUint32(i * size, x, le);
    else v.setUint8(i * size, x);
  });
  return b;
}

/** One data element; small format when the payload fits in 4 bytes (and `small`). */
function element(out: Bytes, type: number, payload: Uint8Array, small = true): void {
  if (small && payload.length <= 4 && payload.length > 0) {
    const b = new Uint8Array(8);
    const v = new DataView(b.buffer);
    v.setUint32(0, (payload.length << 16) | type, out.le);
    b.set(payload, 4);
    out.raw(b);
    return;
  }
  out.u32(type);
  out.u32(payload.length);
  out.raw(payload);
  out.pad();
}

function matrix(value: MatIn, name: string, le: boolean): Uint8Array {
  const body = new Bytes(le);
  const cls = MX[value.kind];
  const dims =
    value.kind === 'char' ? [1, value.text.length] : value.kind === 'cell' ? value.dims ?? [1, value.cells.length] : value.kind === 'struct' ? value.dims ?? [1, value.elements.length] : value.dims ?? [1, value.data.length];
  element(body, MI.UINT32, typed(MI.UINT32, [cls, 0], le), false);
  element(body, MI.INT32, typed(MI.INT32, dims, le), false);
  element(body, MI.INT8, new TextEncoder().encode(name));
  if (value.kind === 'char') {
    element(body, MI.UINT16, typed(MI.UINT16, Array.from(value.text, (c) => c.charCodeAt(0)), le));
  } else if (value.kind === 'cell') {
    for (const c of value.cells) body.raw(matrix(c, '', le));
  } else if (value.kind === 'struct') {
    const len = Math.max(...value.fields.map((f) => f.length)) + 1;
    element(body, MI.INT32, typed(MI.INT32, [len], le));
    const names = new Uint8Array(len * value.fields.length);
    value.fields.forEach((f, i) => names.set(new TextEncoder().encode(f), i * len));
    element(body, MI.INT8, names);
    for (const e of value.elements) for (const f of value.fields) body.raw(matrix(e[f], '', le));
  } else {
    const type = value.kind === 'double' ? MI.DOUBLE : value.kind === 'uint16' ? MI.UINT16 : value.kind === 'int32' ? MI.INT32 : MI.UINT8;
    element(body, type, typed(type, value.data, le));
  }
  const payload = body.concat();
  const out = new Bytes(le);
  out.u32(MI.MATRIX);
  out.u32(payload.length);
  out.raw(payload);
  return out.concat();
}

/** A whole MAT-file with the given variables. */
export function writeMat(vars: Record<string, MatIn>, options: { littleEndian?: boolean; compress?: boolean } = {}): Buffer {
  const le = options.littleEndian ?? true;
  const out = new Bytes(le);
  const header = new Uint8Array(128).fill(32);
  header.set(new TextEncoder().encode('MATLAB 5.0 MAT-file, written by the s3n-layers tests'), 0);
  header.fill(0, 116, 124);
  const tail = new DataView(header.buffer);
  tail.setUint16(124, 0x0100, le);
  header[126] = le ? 0x49 : 0x4d; // 'IM' little-endian, 'MI' big-endian
  header[127] = le ? 0x4d : 0x49;
  out.raw(header);
  for (const [name, value] of Object.entries(vars)) {
    const m = matrix(value, name, le);
    if (options.compress) {
      const z = deflateSync(m);
      out.u32(MI.COMPRESSED);
      out.u32(z.length);
      out.raw(z);
    } else out.raw(m);
  }
  return Buffer.from(out.concat());
}

/** Shorthands. */
export const mat = {
  str: (text: string): MatIn => ({ kind: 'char', text }),
  num: (x: number, kind: 'double' | 'uint8' | 'uint16' | 'int32' = 'double'): MatIn => ({ kind, data: [x], dims: [1, 1] }),
  cellOfStrings: (list: string[]): MatIn => ({ kind: 'cell', cells: list.map((t) => ({ kind: 'char', text: t })) }),
};
