/**
 * The error catalogue: every failure a user can see has one code here, with the HTTP status
 * the server answers it with. One error class carries the code, a message for people, and
 * the cause. Browser-safe: no imports.
 */
export const ERROR_CATALOGUE = {
  // input
  VALIDATION_FAILED: 400,
  INVALID_ARGUMENT: 400,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  // access
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  // models
  MODEL_NOT_FOUND: 404,
  MODEL_NOT_ONNX: 422,
  MODEL_LAYOUT_UNSUPPORTED: 422,
  MODEL_METADATA_INVALID: 422,
  MODEL_LOAD_FAILED: 422,
  /** The model's class names differ from the deployment's (names and order). */
  MODEL_CLASSES_MISMATCH: 422,
  /** No model is being served on this server yet (or it could not be loaded). */
  MODEL_NOT_SERVING: 503,
  /** The model serves another stage than asked (a classifier given as a detector, …). */
  MODEL_TASK_MISMATCH: 422,
  // inspection chain and rollouts
  /** An inspection chain that cannot run (a rule needs a stage the chain lacks, …). */
  CHAIN_INVALID: 400,
  ROLLOUT_NOT_FOUND: 404,
  /** A rollout of that stage is already running, or this one has ended. */
  ROLLOUT_CONFLICT: 409,
  // sources and images
  SOURCE_NOT_FOUND: 404,
  SOURCE_EMPTY: 422,
  SOURCE_UNREADABLE: 422,
  SOURCE_UNSUPPORTED: 400,
  IMAGE_INVALID: 422,
  FFMPEG_MISSING: 500,
  // data sets and training
  DATASET_INVALID: 422,
  TRAINER_UNAVAILABLE: 500,
  TRAINER_FAILED: 500,
  TRAINING_CANCELLED: 409,
  /** A training is already queued or running (one at a time). */
  RETRAINING_IN_PROGRESS: 409,
  /** Nothing to cancel: no training is queued or running. */
  RETRAINING_NOT_RUNNING: 409,
  /** The promotion gate rejected this version: promoting it needs force and a reason. */
  GATE_REJECTED: 409,
  // configuration
  CONFIG_INVALID: 500,
  /** The database has migrations still to apply, and the command only reads it. */
  DATABASE_NOT_MIGRATED: 409,
  /** The server has no dashboard build (web/dist); `npm run build:web` makes one. */
  DASHBOARD_NOT_BUILT: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export function httpStatusOf(code: ErrorCode): number {
  return ERROR_CATALOGUE[code];
}

export class VisionLoopError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VisionLoopError';
    this.code = code;
  }

  get httpStatus(): number {
    return httpStatusOf(this.code);
  }
}

export function isVisionLoopError(value: unknown): value is VisionLoopError {
  return value instanceof VisionLoopError;
}

/** Whether a code (from a server's error body, say) is one of the catalogue's. */
export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CATALOGUE, code);
}

/**
 * The message of anything thrown, for logs and answers: an Error's message (its name when the
 * message is empty), each inner message of an AggregateError (Node's dual-stack connection
 * failures), anything else as a string.
 */
export function messageOf(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(messageOf).join('; ');
  }
  return error instanceof Error ? error.message || error.name : String(error);
}
