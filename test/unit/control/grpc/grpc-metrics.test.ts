import { status } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import { codeName } from "../../../../src/control/grpc/grpc-metrics.js";

describe("grpc metrics code names", () => {
  it("names every status code as grpc-js does (the table stands in for grpc-js at start)", () => {
    const codes = Object.values(status).filter((v): v is number => typeof v === "number");
    expect(codes.length).toBe(17);
    for (const code of codes) expect(codeName(code)).toBe(status[code]);
  });
});
