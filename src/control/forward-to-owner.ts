import type { FastifyReply, FastifyRequest } from "fastify";

/** Marks a request one node passed on to another, so it is never passed on again. */
export const FORWARDED_HEADER = "x-ifc-forwarded-by";

/** How long the owner may take to answer a request passed on to it. */
const FORWARD_TIMEOUT_MS = 10_000;

/** Whether this request may still be passed on (it did not come from another node). */
export function mayForward(req: FastifyRequest): boolean {
  return req.headers[FORWARDED_HEADER] === undefined;
}

/**
 * Passes a request without a body (DELETE) on to the node that owns its stream, with the caller's
 * credentials (the owner checks them itself), and answers with the owner's status and body.
 */
export async function forwardToOwner(req: FastifyRequest, reply: FastifyReply, ownerBase: string): Promise<FastifyReply> {
  const headers: Record<string, string> = { [FORWARDED_HEADER]: "1" };
  const auth = req.headers.authorization;
  if (auth) headers.authorization = auth;
  const res = await fetch(`${ownerBase}${req.url}`, { method: req.method, headers, signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS) });
  const body = await res.text();
  const type = res.headers.get("content-type");
  if (type) reply.header("content-type", type);
  return reply.code(res.status).send(body);
}
