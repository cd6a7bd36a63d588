import { Metadata, type Client, type ServiceError } from "@grpc/grpc-js";

type UnaryFn = (req: unknown, md: Metadata, cb: (err: ServiceError | null, res: unknown) => void) => unknown;

/** Bearer metadata (none without a token: an anonymous call). */
export function bearer(token?: string): Metadata {
  const md = new Metadata();
  if (token) md.set("authorization", `Bearer ${token}`);
  return md;
}

/** One unary call of a generated grpc-js client (`method` is its camelCase name), as a promise. */
export function unary<Res>(client: Client, method: string, req: unknown, md: Metadata | string = new Metadata()): Promise<Res> {
  const fn = (client as unknown as Record<string, UnaryFn>)[method];
  if (!fn) throw new Error(`no method ${method}`);
  const metadata = typeof md === "string" ? bearer(md) : md;
  return new Promise((resolve, reject) => fn.call(client, req, metadata, (err, res) => (err ? reject(err) : resolve(res as Res))));
}

/** The ServiceError a call ended with; a call that succeeds fails the test. */
export async function grpcError(call: Promise<unknown>): Promise<ServiceError> {
  try {
    await call;
  } catch (err) {
    if (err && typeof err === "object" && "code" in err) return err as ServiceError;
    throw err;
  }
  throw new Error("expected the call to fail");
}
