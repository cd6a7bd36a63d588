import type SharpModule from "sharp";

/**
 * sharp (libvips, ~27 MiB resident), loaded by the first image that needs it (the module loader
 * keeps it after): a node that never takes an uploaded image or a frame does not carry it.
 */
export async function loadSharp(): Promise<typeof SharpModule> {
  return (await import("sharp")).default;
}
