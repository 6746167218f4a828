/**
 * A registered version's files from the blob store: model.onnx and weights.pt as streams
 * (downloads) or bytes (evaluation, serving, warm starts), and the training log. A blob the
 * database names but the store lacks is INTERNAL; it never writes.
 */
import type { BlobStore } from '../../repositories/blob-store.js';
import { VisionLoopError } from '../../shared/errors.js';
import type { ModelCatalog } from './model-catalog.js';
import type { OpenedBlob } from './registry-types.js';

function missingBlob(version: string, what: string): VisionLoopError {
  return new VisionLoopError(
    'INTERNAL',
    `the ${what} of version ${version} is missing from the blob store`,
  );
}

export class ModelArtifacts {
  constructor(
    private readonly catalog: ModelCatalog,
    private readonly blobs: BlobStore,
  ) {}

  /** model.onnx of a version, as a stream. Throws MODEL_NOT_FOUND. */
  async openArtifact(version: string): Promise<OpenedBlob> {
    const row = await this.catalog.row(version);
    return this.open(row.artifact_blob, `${row.version}.onnx`, version, 'model.onnx');
  }

  /** weights.pt of a version. MODEL_NOT_FOUND when the version or its weights are missing. */
  async openWeights(version: string): Promise<OpenedBlob> {
    const row = await this.catalog.row(version);
    if (row.weights_blob === null) {
      throw new VisionLoopError(
        'MODEL_NOT_FOUND',
        `version ${version} has no weights.pt (an uploaded ONNX-only model)`,
      );
    }
    return this.open(row.weights_blob, `${row.version}.pt`, version, 'weights.pt');
  }

  /** model.onnx bytes (evaluation, serving). */
  async readArtifact(version: string): Promise<Buffer> {
    const row = await this.catalog.row(version);
    const bytes = await this.blobs.get(row.artifact_blob);
    if (bytes === null) throw missingBlob(version, 'model.onnx');
    return bytes;
  }

  /** weights.pt bytes for a warm start, or null when the version has none. */
  async readWeights(version: string): Promise<Buffer | null> {
    const row = await this.catalog.row(version);
    if (row.weights_blob === null) return null;
    const bytes = await this.blobs.get(row.weights_blob);
    if (bytes === null) throw missingBlob(version, 'weights.pt');
    return bytes;
  }

  /** The training log text, or null when none was stored. */
  async readTrainingLog(version: string): Promise<string | null> {
    const row = await this.catalog.row(version);
    if (row.training_log_blob === null) return null;
    const bytes = await this.blobs.get(row.training_log_blob);
    return bytes === null ? null : bytes.toString('utf8');
  }

  private async open(
    key: string,
    fileName: string,
    version: string,
    what: string,
  ): Promise<OpenedBlob> {
    const stream = await this.blobs.stream(key);
    const stat = await this.blobs.stat(key);
    if (stream === null || stat === null) throw missingBlob(version, what);
    return { stream, bytes: stat.bytes, sha256: key, fileName };
  }
}
