import kafkajs from "kafkajs";
import { compressFrame, decompressFrame } from "lz4-napi";

/**
 * kafkajs ships no LZ4 codec; Kafka's LZ4 is the LZ4 *frame* format, which lz4-napi (maintained,
 * native) writes and reads. Registering is process-wide in kafkajs, so it is done once.
 */
let registered = false;

export function registerLz4Codec(): void {
  if (registered) return;
  registered = true;
  const { CompressionCodecs, CompressionTypes } = kafkajs;
  CompressionCodecs[CompressionTypes.LZ4] = () => ({
    compress: async (encoder: { buffer: Buffer }): Promise<Buffer> => compressFrame(encoder.buffer),
    decompress: async (buffer: Buffer): Promise<Buffer> => decompressFrame(buffer),
  });
}
