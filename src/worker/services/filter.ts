import sharp from "sharp";
import { invalid } from "./errors.js";
import { decodeWith, type LoadedImage } from "./image-io.js";
import type { EncodedImage } from "./resize.js";

export type FilterType = "blur" | "sharpen" | "edge";
export const FILTER_TYPES: readonly FilterType[] = ["blur", "sharpen", "edge"];

/** Per filter: its parameters, their default and allowed range. sharp takes sigma in 0.3..1000; capped lower to bound the cost. */
const PARAMETERS: Record<FilterType, Record<string, { default: number; min: number; max: number }>> = {
  blur: { sigma: { default: 2, min: 0.3, max: 100 } },
  sharpen: { sigma: { default: 1, min: 0.3, max: 100 } },
  edge: {},
};

/** Laplacian (8-neighbour): flat areas go to 0, either side of an edge lights up. */
const LAPLACIAN = [-1, -1, -1, -1, 8, -1, -1, -1, -1];

export function checkFilter(filterType: string, parameters: Record<string, string>): { type: FilterType; sigma: number } {
  if (!FILTER_TYPES.includes(filterType as FilterType)) throw invalid(`filter_type "${filterType}" is unknown; allowed: ${FILTER_TYPES.join(", ")}`);
  const type = filterType as FilterType;
  const spec = PARAMETERS[type];
  const allowed = Object.keys(spec);
  let sigma = spec.sigma?.default ?? 0;
  for (const [name, raw] of Object.entries(parameters)) {
    const range = spec[name];
    if (!range) throw invalid(`parameter "${name}" is unknown for filter "${type}"; allowed: ${allowed.length > 0 ? allowed.join(", ") : "none"}`);
    const v = Number(raw);
    if (raw.trim() === "" || !Number.isFinite(v) || v < range.min || v > range.max) {
      throw invalid(`parameter "${name}" of filter "${type}" must be a number in ${range.min}..${range.max}, got "${raw}"`);
    }
    sigma = v;
  }
  return { type, sigma };
}

export async function applyFilter(input: LoadedImage, filterType: string, parameters: Record<string, string>): Promise<EncodedImage> {
  const { type, sigma } = checkFilter(filterType, parameters);
  return decodeWith(input.ref.objectKey, async () => {
    let img = sharp(input.bytes);
    if (type === "blur") img = img.blur(sigma);
    else if (type === "sharpen") img = img.sharpen({ sigma });
    else img = img.greyscale().convolve({ width: 3, height: 3, kernel: LAPLACIAN });
    const { data, info } = await img.toFormat(input.format, input.format === "jpeg" ? { quality: 90 } : {}).toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  });
}
