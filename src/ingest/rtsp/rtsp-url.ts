import { STREAM_NAME } from "../../core/stream-name.js";
import { RtspWireError } from "./message.js";

/** A Request-URI as the server routes it: the stream is the first path segment, the rest names a track. */
export interface RtspTarget {
  stream: string;
  /** Path after the stream name, without leading or trailing slashes (`trackID=0`, `streamid=1`, or ""). */
  rest: string;
  /** Credentials written in the URL (`rtsp://user:pass@host/...`), percent-decoded. */
  username?: string;
  password?: string;
}

const RESERVED = new Set(["clips", "auth"]);

/**
 * Parses `rtsp://host[:port]/<stream>[/<track>][?query]`. Throws RtspWireError 400 for a URI
 * that is not an rtsp URL, and 404 for a path that cannot name a stream (the name rules are
 * WHIP's: [A-Za-z0-9_-]{1,64}).
 */
export function parseRtspTarget(uri: string): RtspTarget {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new RtspWireError(400, `Request-URI "${uri.slice(0, 100)}" is not an absolute rtsp:// URL`);
  }
  if (url.protocol !== "rtsp:" && url.protocol !== "rtsps:") throw new RtspWireError(400, `Request-URI scheme ${url.protocol} is not rtsp:`);
  const path = url.pathname.replace(/^\/+|\/+$/g, "");
  const slash = path.indexOf("/");
  const stream = slash < 0 ? path : path.slice(0, slash);
  const rest = slash < 0 ? "" : path.slice(slash + 1);
  if (!STREAM_NAME.test(stream) || RESERVED.has(stream)) throw new RtspWireError(404, `no stream at "/${path.slice(0, 80)}": a stream name matches [A-Za-z0-9_-]{1,64}`);
  const target: RtspTarget = { stream, rest };
  if (url.username) target.username = safeDecode(url.username);
  if (url.password) target.password = safeDecode(url.password);
  return target;
}

/** The path of a URL (or of a relative control) with no leading/trailing slash, for matching SETUP URIs to tracks. */
export function pathOf(uri: string): string {
  try {
    return decodeURIComponent(new URL(uri).pathname).replace(/^\/+|\/+$/g, "");
  } catch {
    return uri.split("?")[0]?.replace(/^\/+|\/+$/g, "") ?? uri;
  }
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
