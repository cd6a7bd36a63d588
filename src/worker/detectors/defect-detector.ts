import type { Box, GrayFrame } from "./gray-frame.js";

export type DefectClass = "dark_spot" | "scratch";

export interface Defect {
  className: DefectClass;
  /** Contrast against the surrounding part, 0..1. */
  confidence: number;
  box: Box;
  /** Dark pixels in the component. */
  area: number;
  /** sqrt of the ratio of the component's principal second moments: 1 for a disc, length/width for a line. */
  elongation: number;
}

export interface DefectDetectorOptions {
  /** A pixel is dark when below this fraction of the part's median brightness (default 0.6). */
  darkRatio?: number;
  /** Smallest component reported, in pixels (default 20): smaller ones are noise or JPEG ringing. */
  minArea?: number;
  /** Components at least this elongated are scratches, the rest dark spots (default 4). */
  scratchElongation?: number;
}

/**
 * A classical inspection detector for a bright part on a dark background: Otsu's threshold
 * separates part from background, the part's median sets the dark threshold (so lighting
 * changes do not matter), and each dark connected component (8-neighbour) that lies inside the
 * part is a defect. Components touching the image border are the background around the part.
 * Buffers are kept between calls (one allocation per frame size).
 */
export class DefectDetector {
  readonly darkRatio: number;
  readonly minArea: number;
  readonly scratchElongation: number;
  private dark = new Uint8Array(0);

  constructor(opts: DefectDetectorOptions = {}) {
    this.darkRatio = opts.darkRatio ?? 0.6;
    this.minArea = opts.minArea ?? 20;
    this.scratchElongation = opts.scratchElongation ?? 4;
    if (!(this.darkRatio > 0 && this.darkRatio < 1)) throw new RangeError(`darkRatio must be in (0, 1), got ${this.darkRatio}`);
    if (!(Number.isInteger(this.minArea) && this.minArea >= 1)) throw new RangeError(`minArea must be an integer >= 1, got ${this.minArea}`);
    if (!(this.scratchElongation > 1)) throw new RangeError(`scratchElongation must be > 1, got ${this.scratchElongation}`);
  }

  /** Defects in `frame`; pixels inside `exclude` (e.g. a QR code's box) are never dark. */
  detect(frame: GrayFrame, exclude: readonly Box[] = []): Defect[] {
    const { data, width: w, height: h } = frame;
    const n = w * h;
    const hist = new Uint32Array(256);
    for (let i = 0; i < n; i++) hist[data[i] as number]!++;
    const split = otsu(hist, n);
    const partMedian = medianAbove(hist, split);
    if (partMedian === undefined) return [];
    const darkBelow = partMedian * this.darkRatio;

    if (this.dark.length !== n) this.dark = new Uint8Array(n);
    const dark = this.dark;
    for (let i = 0; i < n; i++) dark[i] = (data[i] as number) < darkBelow ? 1 : 0;
    for (const b of exclude) {
      const x0 = Math.max(0, Math.floor(b.x));
      const y0 = Math.max(0, Math.floor(b.y));
      const x1 = Math.min(w, Math.ceil(b.x + b.width));
      const y1 = Math.min(h, Math.ceil(b.y + b.height));
      for (let y = y0; y < y1; y++) dark.fill(0, y * w + x0, y * w + Math.max(x0, x1));
    }

    // Connected components over runs of dark pixels (one union-find node per run, not per
    // pixel): the background around the part is a few runs per row, so this stays linear and cheap.
    const runs = new Runs();
    let prevStart = 0;
    for (let y = 0; y < h; y++) {
      const rowStart = runs.length;
      const row = y * w;
      let x = 0;
      while (x < w) {
        if (dark[row + x] === 0) { x++; continue; }
        const x0 = x;
        let sum = 0;
        while (x < w && dark[row + x] === 1) sum += data[row + x++] as number;
        const id = runs.add(y, x0, x - 1, sum);
        // 8-neighbour: runs of the row above that overlap [x0 - 1, x] join this one.
        for (let r = prevStart; r < rowStart; r++) {
          if (runs.x1[r]! < x0 - 1) continue;
          if (runs.x0[r]! > x) break;
          runs.union(r, id);
        }
      }
      prevStart = rowStart;
    }

    const out: Defect[] = [];
    for (const c of runs.components()) {
      const { count, sx, sy, sxx, syy, sxy, sv, minX, minY, maxX, maxY } = c;
      if (count < this.minArea) continue;
      if (minX === 0 || minY === 0 || maxX === w - 1 || maxY === h - 1) continue; // the background
      const box = { x: minX, y: minY, width: maxX - minX + 1, height: maxY - minY + 1 };
      const surround = ringMean(frame, box, 3);
      // Only dark marks on the part: a hole whose surroundings are background is not a defect.
      if (surround <= split) continue;
      const mx = sx / count, my = sy / count;
      const cxx = sxx / count - mx * mx + 1 / 12; // + pixel extent, so a 1-pixel-wide line has a width
      const cyy = syy / count - my * my + 1 / 12;
      const cxy = sxy / count - mx * my;
      const half = (cxx + cyy) / 2;
      const root = Math.sqrt(Math.max(0, half * half - (cxx * cyy - cxy * cxy)));
      const elongation = Math.sqrt((half + root) / Math.max(half - root, 1 / 12));
      const contrast = (surround - sv / count) / surround;
      out.push({
        className: elongation >= this.scratchElongation ? "scratch" : "dark_spot",
        confidence: Math.min(1, Math.max(0, contrast)),
        box,
        area: count,
        elongation,
      });
    }
    return out;
  }
}

/** Otsu's threshold: the level that best splits the histogram into two classes. */
function otsu(hist: Uint32Array, n: number): number {
  let total = 0;
  for (let v = 0; v < 256; v++) total += v * (hist[v] as number);
  let wB = 0, sumB = 0, best = 0, bestVar = -1;
  for (let t = 0; t < 256; t++) {
    wB += hist[t] as number;
    if (wB === 0) continue;
    const wF = n - wB;
    if (wF === 0) break;
    sumB += t * (hist[t] as number);
    const d = sumB / wB - (total - sumB) / wF;
    const between = wB * wF * d * d;
    if (between > bestVar) {
      bestVar = between;
      best = t;
    }
  }
  return best;
}

function medianAbove(hist: Uint32Array, split: number): number | undefined {
  let count = 0;
  for (let v = split + 1; v < 256; v++) count += hist[v] as number;
  if (count === 0) return undefined;
  let acc = 0;
  for (let v = split + 1; v < 256; v++) {
    acc += hist[v] as number;
    if (acc * 2 >= count) return v;
  }
  return undefined;
}

/** Mean brightness on the rectangle `margin` pixels outside `box` (clipped to the frame). */
function ringMean(frame: GrayFrame, box: Box, margin: number): number {
  const { data, width: w, height: h } = frame;
  const x0 = Math.max(0, box.x - margin), y0 = Math.max(0, box.y - margin);
  const x1 = Math.min(w - 1, box.x + box.width - 1 + margin), y1 = Math.min(h - 1, box.y + box.height - 1 + margin);
  let sum = 0, count = 0;
  for (let x = x0; x <= x1; x++) {
    sum += (data[y0 * w + x] as number) + (data[y1 * w + x] as number);
    count += 2;
  }
  for (let y = y0 + 1; y < y1; y++) {
    sum += (data[y * w + x0] as number) + (data[y * w + x1] as number);
    count += 2;
  }
  return count === 0 ? 0 : sum / count;
}

interface Component {
  count: number; sx: number; sy: number; sxx: number; syy: number; sxy: number; sv: number;
  minX: number; minY: number; maxX: number; maxY: number;
}

/** Runs of dark pixels (row, first and last x, brightness sum) with union-find over them. */
class Runs {
  length = 0;
  y: number[] = [];
  x0: number[] = [];
  x1: number[] = [];
  private sum: number[] = [];
  private parent: number[] = [];

  add(y: number, x0: number, x1: number, sum: number): number {
    const id = this.length++;
    this.y.push(y); this.x0.push(x0); this.x1.push(x1); this.sum.push(sum); this.parent.push(id);
    return id;
  }

  private find(i: number): number {
    const parent = this.parent;
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  }

  union(a: number, b: number): void {
    const ra = this.find(a), rb = this.find(b);
    if (ra !== rb) this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
  }

  /** Moments and bounds per component, from closed forms over each run's x range. */
  components(): Component[] {
    const byRoot = new Map<number, Component>();
    for (let i = 0; i < this.length; i++) {
      const root = this.find(i);
      let c = byRoot.get(root);
      if (!c) {
        c = { count: 0, sx: 0, sy: 0, sxx: 0, syy: 0, sxy: 0, sv: 0, minX: Infinity, minY: Infinity, maxX: -1, maxY: -1 };
        byRoot.set(root, c);
      }
      const y = this.y[i]!, a = this.x0[i]!, b = this.x1[i]!;
      const len = b - a + 1;
      const sumX = ((a + b) * len) / 2;
      const sumXX = sumSquares(b) - sumSquares(a - 1);
      c.count += len;
      c.sx += sumX;
      c.sy += y * len;
      c.sxx += sumXX;
      c.syy += y * y * len;
      c.sxy += y * sumX;
      c.sv += this.sum[i]!;
      if (a < c.minX) c.minX = a;
      if (b > c.maxX) c.maxX = b;
      if (y < c.minY) c.minY = y;
      if (y > c.maxY) c.maxY = y;
    }
    return [...byRoot.values()];
  }
}

/** 0² + 1² + … + k². */
function sumSquares(k: number): number {
  return k < 0 ? 0 : (k * (k + 1) * (2 * k + 1)) / 6;
}
