/**
 * When this client may next say it is typing in a room: at most once per
 * interval, as the server forwards no more often anyway (LIMITS.typingEveryMs).
 * A room is either quiet (no entry, or the interval has passed) or throttled
 * until `sentAt + intervalMs`.
 */
export class TypingThrottle {
  private readonly sentAt = new Map<string, number>();

  constructor(private readonly intervalMs: number) {}

  /** True when a typing frame for `room` may go now, which then counts as sent. */
  take(room: string, now: number = Date.now()): boolean {
    if (now - (this.sentAt.get(room) ?? -Infinity) < this.intervalMs) return false;
    this.sentAt.set(room, now);
    return true;
  }

  /** Our message landed, which ends our typing for others: the next keystroke may say so at once. */
  reset(room: string): void {
    this.sentAt.delete(room);
  }
}
