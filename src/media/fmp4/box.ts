/**
 * Tiny ISO BMFF box builders for the init segment, which is written once per stream and per
 * resolution change: clarity over speed here. Media fragments, written every part, do not use
 * these (see media-fragment.ts).
 */

export function u8(v: number): Uint8Array {
  return Uint8Array.of(v & 0xff);
}

export function u16(v: number): Uint8Array {
  return Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
}

export function u32(v: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v >>> 0);
  return b;
}

export function zeros(n: number): Uint8Array {
  return new Uint8Array(n);
}

export function fourcc(s: string): Uint8Array {
  if (s.length !== 4) throw new Error(`fourcc must have 4 characters: "${s}"`);
  return Uint8Array.from(s, (c) => c.charCodeAt(0));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function box(type: string, ...payload: Uint8Array[]): Uint8Array {
  let n = 8;
  for (const p of payload) n += p.length;
  const out = new Uint8Array(n);
  new DataView(out.buffer).setUint32(0, n);
  out.set(fourcc(type), 4);
  let o = 8;
  for (const p of payload) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function fullBox(type: string, version: number, flags: number, ...payload: Uint8Array[]): Uint8Array {
  return box(type, u32(((version & 0xff) << 24) | (flags & 0xffffff)), ...payload);
}
