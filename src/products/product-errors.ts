import { Conflict, InvalidInput, NotFound } from "../core/errors.js";

/** No live (not deleted) product has this id. */
export class ProductNotFound extends NotFound {
  constructor(productId: string) {
    super("product-not-found", `product "${productId.slice(0, 128)}" does not exist`, { product_id: productId.slice(0, 128) });
  }
}

/** An update or delete named a revision the product has moved past (someone wrote in between). */
export class RevisionConflict extends Conflict {
  constructor(productId: string, expected: number, current: number) {
    super("revision-conflict", `product "${productId}" is at revision ${current}, not ${expected}: read it again and retry`, { product_id: productId, expected_revision: expected, current_revision: current });
  }
}

/** A paging cursor this server did not hand out (or that was altered). */
export class InvalidCursor extends InvalidInput {
  constructor() {
    super("invalid-cursor", "cursor is not one this listing returned");
  }
}

/** A QR payload none of the configured formats reads. */
export class UnreadableQrPayload extends InvalidInput {
  constructor(reason: string) {
    super("unreadable-qr-payload", `QR payload is not a product code: ${reason}`);
  }
}

/** One failing field of a product (REST body, import row). */
export interface FieldProblem {
  field: string;
  message: string;
}

/** A product breaks a field rule; every failing field is listed. */
export class InvalidProduct extends InvalidInput {
  constructor(readonly errors: FieldProblem[]) {
    super("invalid-product", errors.map((e) => `${e.field} ${e.message}`).join("; "), { errors });
  }
}
