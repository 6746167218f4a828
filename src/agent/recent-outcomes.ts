/**
 * The agent's recent window of frame outcomes for the live summary: of the frames produced in
 * the last `windowMs` (default 60 s, like `/api/metrics?window=60`), how many the model failed
 * (a defect found) and how many it was uncertain about. Rates since start hide a change on the
 * line (night's collapse never shows in an hour-long average); a recent window shows it within
 * a minute. Divides by the frames actually seen, never by the whole window.
 */
export const RECENT_WINDOW_MS = 60_000;

export interface RecentOutcomeStats {
  /** The window, seconds. */
  windowS: number;
  /** Frames in the window (at most the window's length of frames). */
  frames: number;
  /** Seconds the window covers: windowS, or the time since the first frame when shorter. */
  coveredS: number;
  /** Share of the window's frames with a FAIL decision, 0..1 (0 without frames). */
  defectRate: number;
  /** Share of the window's frames flagged uncertain, 0..1. */
  uncertainRate: number;
}

export class RecentOutcomes {
  private at: number[] = [];
  private flags: number[] = [];
  private head = 0;
  private failed = 0;
  private uncertain = 0;
  private firstAt: number | null = null;

  constructor(private readonly windowMs = RECENT_WINDOW_MS) {}

  /** Records one frame's outcome at `now`. */
  add(outcome: { decision: 'PASS' | 'FAIL'; uncertain: boolean }, now = Date.now()): void {
    this.firstAt ??= now;
    const flag = (outcome.decision === 'FAIL' ? 1 : 0) | (outcome.uncertain ? 2 : 0);
    this.at.push(now);
    this.flags.push(flag);
    if (flag & 1) this.failed++;
    if (flag & 2) this.uncertain++;
    this.trim(now);
  }

  stats(now = Date.now()): RecentOutcomeStats {
    this.trim(now);
    const frames = this.at.length - this.head;
    const windowS = this.windowMs / 1000;
    return {
      windowS,
      frames,
      coveredS:
        this.firstAt === null ? 0 : Math.min(windowS, Math.round((now - this.firstAt) / 100) / 10),
      defectRate: frames > 0 ? this.failed / frames : 0,
      uncertainRate: frames > 0 ? this.uncertain / frames : 0,
    };
  }

  private trim(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.at.length && this.at[this.head]! <= cutoff) {
      const flag = this.flags[this.head]!;
      if (flag & 1) this.failed--;
      if (flag & 2) this.uncertain--;
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.flags = this.flags.slice(this.head);
      this.head = 0;
    }
  }
}
