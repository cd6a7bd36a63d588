/**
 * The inspection API's own failure (API design §6.5.2): the inspection cannot be run as asked
 * (the item's pipeline is missing, has no detection step, or its execution failed). control/
 * answers it with 422 and the documents' `inspection_context`.
 */
export interface InspectionContext {
  session_id: string | null;
  item_id: string | null;
  pipeline_id: string | null;
}

export class InspectionFailed extends Error {
  override name = "InspectionFailed";
  constructor(
    /** Stable reason: pipeline-not-found, no-detection-step, pipeline-version-mismatch, image-not-found, execution-failed, execution-timeout. */
    readonly reason: string,
    message: string,
    readonly context: InspectionContext,
  ) {
    super(message);
  }
}
