import kafkajs from "kafkajs";
import { decompressFrame } from "lz4-napi";
import { describe, expect, it } from "vitest";
import { decodeMessage, encodeEvent } from "../../../src/adapters/events/kafka/envelope.js";
import { registerLz4Codec } from "../../../src/adapters/events/kafka/lz4-codec.js";
import { EVENT_SCHEMA_VERSION } from "../../../src/ports/event-bus.js";

describe("Kafka message envelope", () => {
  it("writes the value with schema_version, node id and time, and reads it back without them", () => {
    const json = encodeEvent({ topic: "stream-events", key: "cam-1", value: { type: "published", stream: "cam-1", at: 5 } }, "node-a", 1234);
    expect(JSON.parse(json)).toEqual({ type: "published", stream: "cam-1", at: 5, schema_version: EVENT_SCHEMA_VERSION, node_id: "node-a", produced_at: 1234 });
    const back = decodeMessage("stream-events", Buffer.from("cam-1"), Buffer.from(json));
    expect(back).toEqual({ ok: true, schemaVersion: EVENT_SCHEMA_VERSION, event: { topic: "stream-events", key: "cam-1", value: { type: "published", stream: "cam-1", at: 5 } } });
  });

  it("names what is wrong with a message it cannot read", () => {
    expect(decodeMessage("t", null, null)).toMatchObject({ ok: false, error: "message without a value" });
    expect(decodeMessage("t", null, Buffer.from("{nope"))).toMatchObject({ ok: false, error: expect.stringMatching(/not JSON/) as unknown });
    expect(decodeMessage("t", null, Buffer.from("[1]"))).toMatchObject({ ok: false, error: "value is not a JSON object" });
    expect(decodeMessage("t", null, Buffer.from('{"a":1}'))).toMatchObject({ ok: false, error: "value has no numeric schema_version" });
  });
});

describe("LZ4 codec for kafkajs", () => {
  it("writes the LZ4 frame format Kafka reads, and reads it back", async () => {
    registerLz4Codec();
    const codec = (kafkajs.CompressionCodecs[kafkajs.CompressionTypes.LZ4] as () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> })();
    const data = Buffer.from("detections ".repeat(500));
    const packed = await codec.compress({ buffer: data });
    expect(packed.readUInt32LE(0)).toBe(0x184d2204); // LZ4 frame magic
    expect(packed.length).toBeLessThan(data.length / 10);
    expect(await decompressFrame(packed)).toEqual(data);
    expect(await codec.decompress(packed)).toEqual(data);
  });
});
