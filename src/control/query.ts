import { Type } from "typebox";
import { BadRequestError } from "../errors.js";
import { StreamNameRef } from "./schemas.js";

const TAG_KEY = /^[A-Za-z0-9_.-]{1,64}$/;

/** `?tag=key:value` (repeatable) into pairs. */
export function parseTagFilters(raw: string | string[] | undefined): [string, string][] {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return list.map((t) => {
    const i = t.indexOf(":");
    if (i <= 0) throw new BadRequestError(`tag filter "${t.slice(0, 80)}" must be key:value`, "invalid-tag");
    return [t.slice(0, i), t.slice(i + 1)] as [string, string];
  });
}

/** Tag keys are identifiers; values are free text (length-limited by the route schemas). */
export function checkTags(tags: Record<string, string>, max: number): void {
  const keys = Object.keys(tags);
  if (keys.length > max) throw new BadRequestError(`at most ${max} tags`, "too-many-tags");
  for (const k of keys) if (!TAG_KEY.test(k)) throw new BadRequestError(`tag key "${k.slice(0, 80)}" must match [A-Za-z0-9_.-]{1,64}`, "invalid-tag");
}

/** Query string of listings by stream, time span and tags (recordings, clips); unknown parameters are refused. */
export const SpanQuery = Type.Object(
  {
    stream: Type.Optional(StreamNameRef),
    from: Type.Optional(Type.String({ maxLength: 64, description: "ISO 8601 time or epoch ms" })),
    to: Type.Optional(Type.String({ maxLength: 64, description: "ISO 8601 time or epoch ms" })),
    tag: Type.Optional(Type.Union([Type.String({ maxLength: 512 }), Type.Array(Type.String({ maxLength: 512 }), { maxItems: 32 })], { description: "key:value, repeatable" })),
  },
  { additionalProperties: false },
);
