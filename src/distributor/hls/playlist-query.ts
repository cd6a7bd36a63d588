/**
 * Adds a query parameter to every URI of a playlist: segment lines and the `URI="…"` attributes
 * of tags (EXT-X-MAP, EXT-X-PART, EXT-X-PRELOAD-HINT, EXT-X-RENDITION-REPORT, …). A player that
 * cannot set headers got the playlist with `?token=`; every request it derives from the
 * playlist then carries the same view token. Pure.
 */
export function withQueryOnUris(playlist: string, name: string, value: string): string {
  const param = `${encodeURIComponent(name)}=${encodeURIComponent(value)}`;
  const add = (uri: string): string => `${uri}${uri.includes("?") ? "&" : "?"}${param}`;
  return playlist
    .split("\n")
    .map((line) => {
      if (line.startsWith("#")) return line.replace(/URI="([^"]*)"/g, (_m, uri: string) => `URI="${add(uri)}"`);
      return line.trim() === "" ? line : add(line);
    })
    .join("\n");
}
