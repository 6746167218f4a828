/**
 * Which cameras a rollout covers (docs/rollouts.md): the listed cameras, or — when the rollout
 * names a share instead — the cameras whose stable hash of the name falls below the share, so
 * a camera stays in (or out of) a canary across restarts and on every server replica. Pure.
 */

/** FNV-1a of the camera name, mapped to [0, 1). */
export function cameraHashUnit(camera: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < camera.length; i++) {
    hash ^= camera.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash / 0x1_0000_0000;
}

export interface RolloutScope {
  /** The cameras it covers; null when `share` chooses them. */
  cameras: readonly string[] | null;
  /** Share of the cameras, 0..1, when `cameras` is null. */
  share: number | null;
}

/** Whether `camera` is in the rollout's canary (or shadow) group. */
export function rolloutCovers(scope: RolloutScope, camera: string): boolean {
  if (scope.cameras !== null) return scope.cameras.includes(camera);
  if (scope.share === null) return true;
  return cameraHashUnit(camera) < scope.share;
}
