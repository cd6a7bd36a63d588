/**
 * What a request did wrong, in the services' own terms; the gRPC layer maps each kind to a
 * status code (invalid → INVALID_ARGUMENT, not_found → NOT_FOUND, too_large → RESOURCE_EXHAUSTED).
 */
export type ImageServiceErrorKind = "invalid" | "not_found" | "too_large";

export class ImageServiceError extends Error {
  override name = "ImageServiceError";
  constructor(
    readonly kind: ImageServiceErrorKind,
    message: string,
  ) {
    super(message);
  }
}

export const invalid = (message: string): ImageServiceError => new ImageServiceError("invalid", message);
