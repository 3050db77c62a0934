/**
 * A synthetic fine-grained benchmark in CUB-200-2011's own layout, written with sharp (no
 * download, deterministic for a seed): "birds" at any position, scale and heading whose classes
 * differ only in the texture of a small mark on the head (the crown, 1.5–3 % of the image), with
 * the same palette for every class, distractor marks elsewhere in the image, clutter and
 * photometric noise. `s3n synthetic --kind fine-grained --out DIR` writes it; `readCub(DIR)`
 * reads it.
 *
 * ```
 * DIR/
 *   images.txt  classes.txt  image_class_labels.txt  train_test_split.txt  bounding_boxes.txt
 *   parts/parts.txt  parts/part_locs.txt     the crown (part 5) is the mark, the beak (2) its tip
 *   images/001.Striped_Crown/Striped_Crown_0001.jpg ...
 * ```
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { mixSeed, mulberry32, Rng } from './rng';

/**
 * The classes of {@link writeFineGrainedDataset}: the texture of the crown mark, in the
 * bird's own frame (it turns with the bird). Every texture covers about half of the mark with
 * the same two colours, so the mean colour of the mark says nothing about the class.
 */
export const FINE_GRAINED_CLASSES: readonly string[] = [
  '001.Striped_Crown',
  '002.Ringed_Crown',
  '003.Checkered_Crown',
  '004.Spotted_Crown',
  '005.Half_Crown',
  '006.Crossed_Crown',
  '007.Capped_Crown',
  '008.Pinwheel_Crown',
];

/**
 * The 15 part names of CUB-200-2011's `parts/parts.txt`, in its order (part ids 1–15).
 * {@link writeFineGrainedDataset} marks the crown (id 5, the class mark's centre) and the beak
 * (id 2, its tip) visible, the others not.
 */
export const CUB_PART_NAMES: readonly string[] = [
  'back', 'beak', 'belly', 'breast', 'crown', 'forehead', 'left eye', 'left leg', 'left wing', 'nape', 'right eye', 'right leg', 'right wing', 'tail', 'throat',
];

/** Options of {@link writeFineGrainedDataset} and {@link fineGrainedAnnotations}. */
export interface FineGrainedOptions {
  /** Number of classes, the first of {@link FINE_GRAINED_CLASSES} (2–8). Default 8. */
  classes?: number;
  /** Training images per class. Default 30 (CUB has about 30). */
  trainPerClass?: number;
  /** Test images per class. Default 30. */
  testPerClass?: number;
  /** Image side in pixels (square images, >= 32). Default 224: twice a 112-pixel network input. */
  size?: number;
  /** Seed of everything drawn. Default 0. */
  seed?: number;
  /**
   * Range of the crown mark's area as a fraction of the image area (drawn uniformly per image;
   * it sets the bird's scale). Default `[0.015, 0.03]`.
   */
  detailArea?: [number, number];
  /** Range of the number of distractor marks (textures of random classes, off the bird). Default `[1, 3]`. */
  distractors?: [number, number];
}

/** One image of the benchmark: where it is and where its bird and its detail are, in pixels. */
export interface FineGrainedAnnotation {
  /** 1-based image id, as in `images.txt`. */
  id: number;
  /** Path under `images/`, e.g. `'001.Striped_Crown/Striped_Crown_0001.jpg'`. */
  file: string;
  /** 0-based class index into {@link FINE_GRAINED_CLASSES}. */
  label: number;
  /** Whether the image is in the training split. */
  train: boolean;
  /** The bird's bounding box (clipped to the image), as in `bounding_boxes.txt`. */
  box: { x: number; y: number; width: number; height: number };
  /** Centre and radius of the crown mark (the detail), in pixels from the top-left corner. */
  detail: { x: number; y: number; radius: number };
  /** Tip of the beak (clipped to the image; `visible` is false when it lies outside). */
  beak: { x: number; y: number; visible: boolean };
  /** The bird's heading in radians (0: beak to the right, counter-clockwise on screen). */
  heading: number;
  /** Whether the bird is drawn mirrored (its frame is left-handed). */
  mirrored: boolean;
}

interface Resolved {
  classes: number;
  trainPerClass: number;
  testPerClass: number;
  size: number;
  seed: number;
  detailArea: [number, number];
  distractors: [number, number];
}

function resolve(fn: string, o: FineGrainedOptions): Resolved {
  const int = (name: string, v: number, lo: number, hi = Infinity) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${fn}: ${name} must be an integer ${hi === Infinity ? `>= ${lo}` : `in [${lo}, ${hi}]`}, but got ${v}.`);
    return v;
  };
  const r: Resolved = {
    classes: int('classes', o.classes ?? 8, 2, FINE_GRAINED_CLASSES.length),
    trainPerClass: int('trainPerClass', o.trainPerClass ?? 30, 1),
    testPerClass: int('testPerClass', o.testPerClass ?? 30, 1),
    size: int('size', o.size ?? 224, 32),
    seed: int('seed', o.seed ?? 0, 0),
    detailArea: o.detailArea ?? [0.015, 0.03],
    distractors: o.distractors ?? [1, 3],
  };
  const [a0, a1] = r.detailArea;
  if (!(a0 > 0 && a0 <= a1 && a1 <= 0.1)) throw new Error(`${fn}: detailArea must be [lo, hi] with 0 < lo <= hi <= 0.1, but got [${r.detailArea.join(', ')}].`);
  const [d0, d1] = r.distractors;
  if (!(Number.isInteger(d0) && Number.isInteger(d1) && d0 >= 0 && d0 <= d1)) throw new Error(`${fn}: distractors must be integers [lo, hi] with 0 <= lo <= hi, but got [${r.distractors.join(', ')}].`);
  return r;
}

/** Bird geometry in its own frame, in units of the body length `L` (x: tail → beak, y: down). */
const BIRD = {
  body: { cx: 0, cy: 0, a: 0.5, b: 0.27 },
  wing: { cx: -0.08, cy: -0.02, a: 0.3, b: 0.14 },
  head: { cx: 0.52, cy: -0.14, r: 0.25 },
  /** The crown mark: centred on the head. Its radius is `MARK / L`. */
  mark: 0.19,
  tail: [[-0.42, 0], [-0.82, -0.14], [-0.82, 0.14]] as [number, number][],
  beak: [[0.72, -0.21], [0.72, -0.07], [0.94, -0.14]] as [number, number][],
  legs: [[[0.04, 0.25], [0.08, 0.46]], [[-0.1, 0.25], [-0.07, 0.46]]] as [number, number][][],
};

/** The scene of one image: everything geometric, drawn from the image's geometry stream. */
interface Scene extends FineGrainedAnnotation {
  length: number;
  cos: number;
  sin: number;
}

function className(label: number): string {
  return FINE_GRAINED_CLASSES[label].slice(4);
}

/**
 * Local bird frame (units of L) → image pixels: mirror (v → −v) when the bird is mirrored, then
 * rotate by the heading (counter-clockwise on screen) and move the head's centre to the mark's.
 */
function toImage(s: Scene, u: number, v: number): [number, number] {
  const a = (u - BIRD.head.cx) * s.length;
  const b = (s.mirrored ? -1 : 1) * (v - BIRD.head.cy) * s.length;
  return [s.detail.x + a * s.cos + b * s.sin, s.detail.y - a * s.sin + b * s.cos];
}

/** Image pixels → local bird frame (units of L), the inverse of {@link toImage}. */
function toLocal(s: Scene, px: number, py: number): [number, number] {
  const dx = px - s.detail.x;
  const dy = py - s.detail.y;
  const a = (dx * s.cos - dy * s.sin) / s.length;
  const b = (dx * s.sin + dy * s.cos) / s.length;
  return [a + BIRD.head.cx, BIRD.head.cy + (s.mirrored ? -1 : 1) * b];
}

function sceneOf(o: Resolved, label: number, index: number): Scene {
  const r = mulberry32(mixSeed(o.seed, 0xb12d, label, index));
  const S = o.size;
  const area = o.detailArea[0] + (o.detailArea[1] - o.detailArea[0]) * r();
  const radius = S * Math.sqrt(area / Math.PI);
  const length = radius / BIRD.mark;
  // The mark stays inside the eval centre crop (the central 448/600 of the image) with a margin.
  const margin = S * (1 - 448 / 600) / 2 + radius * 1.3;
  const x = margin + (S - 2 * margin) * r();
  const y = margin + (S - 2 * margin) * r();
  const heading = 2 * Math.PI * r();
  const mirrored = r() < 0.5;
  const train = index < o.trainPerClass;
  const s: Scene = {
    id: 0,
    file: `${FINE_GRAINED_CLASSES[label]}/${className(label)}_${String(index + 1).padStart(4, '0')}.jpg`,
    label,
    train,
    box: { x: 0, y: 0, width: 0, height: 0 },
    detail: { x, y, radius },
    beak: { x: 0, y: 0, visible: false },
    heading,
    mirrored,
    length,
    cos: Math.cos(heading),
    sin: Math.sin(heading),
  };
  // Bounding box: the outlines of the body, head, tail, beak and legs.
  const pts: [number, number][] = [];
  for (let k = 0; k < 48; k++) {
    const t = (2 * Math.PI * k) / 48;
    pts.push([BIRD.body.cx + BIRD.body.a * Math.cos(t), BIRD.body.cy + BIRD.body.b * Math.sin(t)]);
    pts.push([BIRD.head.cx + BIRD.head.r * Math.cos(t), BIRD.head.cy + BIRD.head.r * Math.sin(t)]);
  }
  pts.push(...BIRD.tail, ...BIRD.beak, ...BIRD.legs.flat());
  const img = pts.map(([u, v]) => toImage(s, u, v));
  const clip = (v: number) => Math.min(S, Math.max(0, v));
  const x0 = clip(Math.min(...img.map((p) => p[0])));
  const x1 = clip(Math.max(...img.map((p) => p[0])));
  const y0 = clip(Math.min(...img.map((p) => p[1])));
  const y1 = clip(Math.max(...img.map((p) => p[1])));
  s.box = { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
  const [bx, by] = toImage(s, BIRD.beak[2][0], BIRD.beak[2][1]);
  s.beak = { x: clip(bx), y: clip(by), visible: bx >= 0 && bx < S && by >= 0 && by < S };
  return s;
}

/** Scenes of all images in `images.txt` order (class by class; train images first in a class). */
function scenes(o: Resolved): Scene[] {
  const out: Scene[] = [];
  for (let c = 0; c < o.classes; c++) {
    for (let i = 0; i < o.trainPerClass + o.testPerClass; i++) {
      const s = sceneOf(o, c, i);
      s.id = out.length + 1;
      out.push(s);
    }
  }
  return out;
}

/**
 * Where the generator puts every bird and its detail, without drawing anything: the same
 * numbers {@link writeFineGrainedDataset} writes to `bounding_boxes.txt` and
 * `parts/part_locs.txt` (rounded there to 0.1 pixel), for the same options.
 *
 * @returns one entry per image, in `images.txt` order (id 1 first).
 * @throws on options out of range (see {@link FineGrainedOptions}).
 *
 * @example
 * ```ts
 * const [first] = fineGrainedAnnotations({ classes: 4, seed: 1 });
 * first.detail; // { x: 121.3, y: 88.0, radius: 17.9 } — the crown mark in pixels
 * ```
 */
export function fineGrainedAnnotations(options: FineGrainedOptions = {}): FineGrainedAnnotation[] {
  return scenes(resolve('fineGrainedAnnotations', options)).map(annotationOf);
}

function annotationOf(s: Scene): FineGrainedAnnotation {
  return { id: s.id, file: s.file, label: s.label, train: s.train, box: { ...s.box }, detail: { ...s.detail }, beak: { ...s.beak }, heading: s.heading, mirrored: s.mirrored };
}

/**
 * Whether the mark texture of class `k` is inked at `(u, v)`, in the mark's frame scaled to its
 * radius (the unit disc). About half of the disc is inked for every class.
 */
function inked(k: number, u: number, v: number): boolean {
  const rho = Math.hypot(u, v);
  switch (k) {
    case 0: // striped: five bands across the head
      return Math.floor((v + 1) * 2.5) % 2 === 0;
    case 1: // ringed: a centre dot and a ring
      return Math.floor(rho * 3.3) % 2 === 0;
    case 2: // checkered: squares of half a radius
      return (Math.floor((u + 1) * 2) + Math.floor((v + 1) * 2)) % 2 === 0;
    case 3: { // spotted: dots on a grid
      const g = 0.55;
      const du = u - g * Math.round(u / g);
      const dv = v - g * Math.round(v / g);
      return Math.hypot(du, dv) < 0.22;
    }
    case 4: // half: the front half
      return u > 0;
    case 5: // crossed: a plus
      return Math.abs(u) < 0.21 || Math.abs(v) < 0.21;
    case 6: // capped: an outer ring
      return rho > 0.7;
    default: // pinwheel: alternate quarters
      return u * v > 0;
  }
}

type RGB = [number, number, number];

/** Scene-independent colours of an image: the same palette for every class, jittered per image. */
interface Palette {
  body: RGB;
  wing: RGB;
  head: RGB;
  beak: RGB;
  ink: RGB;
  paper: RGB;
}

const BIRD_COLORS: RGB[] = [[120, 96, 72], [110, 110, 118], [104, 112, 80], [140, 120, 96], [92, 84, 80]];

function jitter(c: RGB, r: Rng, amount: number): RGB {
  return c.map((v) => Math.max(0, Math.min(255, v + amount * (2 * r() - 1)))) as RGB;
}

/**
 * Draws one image (RGB bytes, `size × size`) and counts the pixels of its crown mark.
 * `r` draws the clutter, the colours and the noise; the geometry comes from the scene.
 */
function drawScene(s: Scene, o: Resolved, r: Rng): { pixels: Uint8Array; detailPixels: number } {
  const S = o.size;
  const px = new Float32Array(S * S * 3);
  const put = (x: number, y: number, c: RGB) => {
    const o = (y * S + x) * 3;
    px[o] = c[0];
    px[o + 1] = c[1];
    px[o + 2] = c[2];
  };
  /** Fills the pixels whose centre `inside` accepts, within a box. */
  const fill = (x0: number, y0: number, x1: number, y1: number, inside: (x: number, y: number) => RGB | undefined) => {
    for (let y = Math.max(0, Math.floor(y0)); y <= Math.min(S - 1, Math.ceil(y1)); y++) {
      for (let x = Math.max(0, Math.floor(x0)); x <= Math.min(S - 1, Math.ceil(x1)); x++) {
        const c = inside(x + 0.5, y + 0.5);
        if (c !== undefined) put(x, y, c);
      }
    }
  };
  // Background: a tinted gradient with low-frequency shading.
  const top = jitter([150, 160, 140], r, 40);
  const bottom = jitter([110, 120, 90], r, 40);
  const fx = 4 + 10 * r();
  const fy = 4 + 10 * r();
  const ph = 2 * Math.PI * r();
  const sx = Float32Array.from({ length: S }, (_, x) => 18 * Math.sin((x / S) * fx + ph));
  for (let y = 0; y < S; y++) {
    const t = y / (S - 1);
    const cy = Math.cos((y / S) * fy - ph);
    for (let x = 0; x < S; x++) {
      const shade = sx[x] * cy;
      for (let k = 0; k < 3; k++) px[(y * S + x) * 3 + k] = top[k] * (1 - t) + bottom[k] * t + shade;
    }
  }
  const base = BIRD_COLORS[Math.floor(r() * BIRD_COLORS.length)];
  const pal: Palette = {
    body: jitter(base, r, 15),
    wing: jitter(base.map((v) => v * 0.7) as RGB, r, 12),
    head: jitter(base.map((v) => v * 0.85) as RGB, r, 12),
    beak: jitter([200, 160, 60], r, 25),
    ink: jitter([40, 36, 40], r, 15),
    paper: jitter([225, 215, 185], r, 15),
  };
  const unit = s.detail.radius / BIRD.mark; // = L
  // Clutter: branches, leaves and bird-coloured blobs.
  const clutter = 6 + Math.floor(6 * r());
  for (let i = 0; i < clutter; i++) {
    const kind = r();
    const cx = S * r();
    const cy = S * r();
    const ang = Math.PI * r();
    const ca = Math.cos(ang);
    const sa = Math.sin(ang);
    if (kind < 0.35) {
      // a branch: a long thin bar
      const len = S * (0.25 + 0.5 * r());
      const w = unit * (0.03 + 0.05 * r());
      const col = jitter([95, 75, 55], r, 20);
      const ext = len / 2 + w;
      fill(cx - ext, cy - ext, cx + ext, cy + ext, (x, y) => {
        const a = (x - cx) * ca + (y - cy) * sa;
        const b = -(x - cx) * sa + (y - cy) * ca;
        return Math.abs(a) <= len / 2 && Math.abs(b) <= w ? col : undefined;
      });
    } else {
      // a leaf (green) or a blob in the bird's palette
      const a = unit * (0.1 + 0.35 * r());
      const b = a * (0.3 + 0.5 * r());
      const col = kind < 0.65 ? jitter([70, 120, 60], r, 25) : jitter(base, r, 25);
      fill(cx - a, cy - a, cx + a, cy + a, (x, y) => {
        const p = (x - cx) * ca + (y - cy) * sa;
        const q = -(x - cx) * sa + (y - cy) * ca;
        return (p / a) ** 2 + (q / b) ** 2 <= 1 ? col : undefined;
      });
    }
  }
  // Distractors: marks of random classes (independent of the label) away from the bird.
  const nDistractors = o.distractors[0] + Math.floor((o.distractors[1] - o.distractors[0] + 1) * r());
  const bodyCentre = toImage(s, 0, 0);
  for (let i = 0; i < nDistractors; i++) {
    const k = Math.floor(r() * o.classes);
    const rad = s.detail.radius * (0.85 + 0.3 * r());
    const ang = 2 * Math.PI * r();
    for (let attempt = 0; attempt < 20; attempt++) {
      const cx = rad + (S - 2 * rad) * r();
      const cy = rad + (S - 2 * rad) * r();
      const clear = Math.hypot(cx - bodyCentre[0], cy - bodyCentre[1]) > 0.95 * unit + rad && Math.hypot(cx - s.detail.x, cy - s.detail.y) > BIRD.head.r * unit + rad + 2;
      if (!clear) continue;
      const ca = Math.cos(ang);
      const sa = Math.sin(ang);
      const rim = jitter(pal.head, r, 20);
      fill(cx - rad * 1.25, cy - rad * 1.25, cx + rad * 1.25, cy + rad * 1.25, (x, y) => {
        const u = ((x - cx) * ca + (y - cy) * sa) / rad;
        const v = (-(x - cx) * sa + (y - cy) * ca) / rad;
        const rho = Math.hypot(u, v);
        if (rho > 1.25) return undefined;
        if (rho > 1) return rim;
        return inked(k, u, v) ? pal.ink : pal.paper;
      });
      break;
    }
  }
  // The bird.
  const L = s.length;
  const ext = 1.0 * L;
  const [bcx, bcy] = toImage(s, 0.05, 0);
  const inEllipse = (u: number, v: number, e: { cx: number; cy: number; a: number; b: number }) => ((u - e.cx) / e.a) ** 2 + ((v - e.cy) / e.b) ** 2 <= 1;
  const inTriangle = (u: number, v: number, t: [number, number][]) => {
    const [[ax, ay], [bx, by], [cx, cy]] = t;
    const d1 = (u - bx) * (ay - by) - (ax - bx) * (v - by);
    const d2 = (u - cx) * (by - cy) - (bx - cx) * (v - cy);
    const d3 = (u - ax) * (cy - ay) - (cx - ax) * (v - ay);
    return !((d1 < 0 || d2 < 0 || d3 < 0) && (d1 > 0 || d2 > 0 || d3 > 0));
  };
  const legW = 0.018;
  const onLeg = (u: number, v: number) => {
    if (v < 0.2) return false;
    for (const [[u0, v0], [u1, v1]] of BIRD.legs) {
      const t = Math.max(0, Math.min(1, ((u - u0) * (u1 - u0) + (v - v0) * (v1 - v0)) / ((u1 - u0) ** 2 + (v1 - v0) ** 2)));
      if (Math.hypot(u - u0 - t * (u1 - u0), v - v0 - t * (v1 - v0)) < legW) return true;
    }
    return false;
  };
  let detailPixels = 0;
  fill(bcx - ext, bcy - ext, bcx + ext, bcy + ext, (x, y) => {
    const [u, v] = toLocal(s, x, y);
    const hu = u - BIRD.head.cx;
    const hv = v - BIRD.head.cy;
    const hr = Math.hypot(hu, hv);
    if (hr <= BIRD.mark) {
      detailPixels++;
      return inked(s.label, hu / BIRD.mark, hv / BIRD.mark) ? pal.ink : pal.paper;
    }
    if (hr <= BIRD.head.r) return pal.head;
    if (inTriangle(u, v, BIRD.beak)) return pal.beak;
    if (inEllipse(u, v, BIRD.wing)) return pal.wing;
    if (inEllipse(u, v, BIRD.body)) return pal.body;
    if (inTriangle(u, v, BIRD.tail)) return pal.wing;
    if (onLeg(u, v)) return pal.beak;
    return undefined;
  });
  // Photometric jitter: brightness, contrast, colour balance, sensor noise.
  const brightness = 50 * (r() - 0.5);
  const contrast = 0.75 + 0.5 * r();
  const gain = [0.9 + 0.2 * r(), 0.9 + 0.2 * r(), 0.9 + 0.2 * r()];
  const noise = 2 + 8 * r();
  const out = new Uint8Array(S * S * 3);
  for (let i = 0; i < S * S; i++) {
    for (let k = 0; k < 3; k++) {
      const v = ((px[i * 3 + k] - 128) * contrast + 128 + brightness) * gain[k] + noise * 2 * (r() - 0.5);
      out[i * 3 + k] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return { pixels: out, detailPixels };
}

/**
 * Draws one image of the benchmark as RGB bytes (`size × size × 3`, row-major), with the
 * number of pixels of its crown mark (the detail). {@link writeFineGrainedDataset} encodes
 * exactly these pixels as JPEG.
 *
 * @param id 1-based image id (see {@link fineGrainedAnnotations}).
 * @param options The options of the dataset the image belongs to.
 * @throws on options out of range, or an id not in `[1, images]`.
 */
export function drawFineGrainedImage(id: number, options: FineGrainedOptions = {}): { pixels: Uint8Array; detailPixels: number; annotation: FineGrainedAnnotation } {
  const o = resolve('drawFineGrainedImage', options);
  const per = o.trainPerClass + o.testPerClass;
  if (!Number.isInteger(id) || id < 1 || id > per * o.classes) throw new Error(`drawFineGrainedImage: id must be an integer in [1, ${per * o.classes}], but got ${id}.`);
  const label = Math.floor((id - 1) / per);
  const index = (id - 1) % per;
  const s = sceneOf(o, label, index);
  s.id = id;
  const drawn = drawScene(s, o, mulberry32(mixSeed(o.seed, 0xb12d, label, index, 1)));
  return { ...drawn, annotation: annotationOf(s) };
}

/** JPEG quality of an image: 70–95, drawn per image. */
function jpegQuality(o: Resolved, label: number, index: number): number {
  return 70 + Math.floor(26 * mulberry32(mixSeed(o.seed, 0xb12d, label, index, 2))());
}

const f1 = (v: number) => v.toFixed(1);

/**
 * Writes the benchmark under `root` in CUB-200-2011's layout (replacing an older one there):
 * `images.txt`, `classes.txt`, `image_class_labels.txt`, `train_test_split.txt`,
 * `bounding_boxes.txt` (`id x y width height`), `parts/parts.txt`, `parts/part_locs.txt`
 * (`id part x y visible`: the crown, part 5, is the centre of the class mark; the beak, part 2,
 * its tip) and `images/<class>/<file>.jpg`. Read it with `readCub(root)`.
 *
 * Each image shows one bird at a random position (its crown inside the centre crop of
 * evaluation), scale (crown mark 1.5–3 % of the image by default) and heading, possibly
 * mirrored; the class is the texture of the crown mark only (see {@link FINE_GRAINED_CLASSES}).
 * Distractor marks with the textures of random classes lie off the bird, on a cluttered
 * background (branches, leaves, bird-coloured blobs); brightness, contrast, colour balance,
 * noise and JPEG quality (70–95) vary per image. Everything depends only on the options: the
 * same options give the same bytes.
 *
 * @param root Folder to write (created; an older dataset there is removed first).
 * @param options See {@link FineGrainedOptions}.
 * @returns the class names and the annotations of every image.
 * @throws on options out of range; rejects when a file cannot be written.
 *
 * @example
 * ```ts
 * await writeFineGrainedDataset('data/fine-grained', { classes: 8, size: 224, seed: 0 });
 * const ds = readCub('data/fine-grained'); // 8 classes, 240 train and 240 test images
 * ```
 */
export async function writeFineGrainedDataset(root: string, options: FineGrainedOptions = {}): Promise<{ classNames: string[]; annotations: FineGrainedAnnotation[] }> {
  const o = resolve('writeFineGrainedDataset', options);
  const all = scenes(o);
  const dir = path.resolve(root);
  for (const f of ['images', 'parts', 'images.txt', 'classes.txt', 'image_class_labels.txt', 'train_test_split.txt', 'bounding_boxes.txt']) {
    await fs.promises.rm(path.join(dir, f), { recursive: true, force: true });
  }
  const classNames = FINE_GRAINED_CLASSES.slice(0, o.classes);
  for (const c of classNames) fs.mkdirSync(path.join(dir, 'images', c), { recursive: true });
  fs.mkdirSync(path.join(dir, 'parts'), { recursive: true });
  const lines = (f: (s: Scene) => string) => all.map(f).join('\n') + '\n';
  fs.writeFileSync(path.join(dir, 'classes.txt'), classNames.map((n, i) => `${i + 1} ${n}`).join('\n') + '\n');
  fs.writeFileSync(path.join(dir, 'images.txt'), lines((s) => `${s.id} ${s.file}`));
  fs.writeFileSync(path.join(dir, 'image_class_labels.txt'), lines((s) => `${s.id} ${s.label + 1}`));
  fs.writeFileSync(path.join(dir, 'train_test_split.txt'), lines((s) => `${s.id} ${s.train ? 1 : 0}`));
  fs.writeFileSync(path.join(dir, 'bounding_boxes.txt'), lines((s) => `${s.id} ${f1(s.box.x)} ${f1(s.box.y)} ${f1(s.box.width)} ${f1(s.box.height)}`));
  fs.writeFileSync(path.join(dir, 'parts', 'parts.txt'), CUB_PART_NAMES.map((n, i) => `${i + 1} ${n}`).join('\n') + '\n');
  fs.writeFileSync(
    path.join(dir, 'parts', 'part_locs.txt'),
    lines((s) =>
      CUB_PART_NAMES.map((_, p) => {
        if (p + 1 === 5) return `${s.id} 5 ${f1(s.detail.x)} ${f1(s.detail.y)} 1`;
        if (p + 1 === 2 && s.beak.visible) return `${s.id} 2 ${f1(s.beak.x)} ${f1(s.beak.y)} 1`;
        return `${s.id} ${p + 1} 0.0 0.0 0`;
      }).join('\n'),
    ),
  );
  const per = o.trainPerClass + o.testPerClass;
  // Draw and encode a few images at a time (sharp encodes in its thread pool meanwhile).
  let pending: Promise<unknown>[] = [];
  for (const s of all) {
    const index = (s.id - 1) % per;
    const { pixels } = drawScene(s, o, mulberry32(mixSeed(o.seed, 0xb12d, s.label, index, 1)));
    pending.push(
      sharp(Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength), { raw: { width: o.size, height: o.size, channels: 3 } })
        .jpeg({ quality: jpegQuality(o, s.label, index) })
        .toFile(path.join(dir, 'images', s.file)),
    );
    if (pending.length >= 8) {
      await Promise.all(pending);
      pending = [];
    }
  }
  await Promise.all(pending);
  return { classNames, annotations: fineGrainedAnnotations(options) };
}
