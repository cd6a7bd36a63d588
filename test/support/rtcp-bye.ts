import type { RTCDtlsTransport } from "werift";

/** Counts RTCP BYEs a werift peer decrypts on `t` (werift's own RTCP parser drops type 203 unseen). */
export function countByes(t: RTCDtlsTransport): () => number {
  let byes = 0;
  const srtcp = t.srtcp;
  const decrypt = srtcp.decrypt.bind(srtcp);
  srtcp.decrypt = (data: Buffer) => {
    const plain = decrypt(data);
    for (let pos = 0; pos + 4 <= plain.length; pos += (plain.readUInt16BE(pos + 2) + 1) * 4) if (plain[pos + 1] === 203) byes++;
    return plain;
  };
  return () => byes;
}
