/**
 * Which seqs of one room have been handed to the app. Rooms number their
 * messages 1, 2, 3… with no gaps, so "everything up to n" is one number; the
 * few that arrive early, past a hole, wait in a set until the hole fills.
 */
export class SeqTracker {
  /** Every seq ≤ this has been delivered; undefined until a first page fixes a starting point. */
  contiguous: number | undefined;
  /** Highest seq known to exist: from joins, history, acks and live messages. */
  known = 0;
  private above = new Set<number>();

  /** Records a delivered seq; false when it was delivered before. */
  accept(seq: number): boolean {
    if ((this.contiguous !== undefined && seq <= this.contiguous) || this.above.has(seq)) return false;
    this.above.add(seq);
    this.noteExists(seq);
    this.compact();
    return true;
  }

  noteExists(seq: number): void {
    if (seq > this.known) this.known = seq;
  }

  /** Declares everything up to `seq` delivered: the newest page was loaded and older ones are fetched on demand. */
  setBase(seq: number): void {
    if (this.contiguous === undefined || seq > this.contiguous) this.contiguous = seq;
    this.noteExists(seq);
    this.compact();
  }

  /** True when messages are known to exist that have not been delivered. */
  get behind(): boolean {
    return this.contiguous !== undefined && this.known > this.contiguous;
  }

  reset(): void {
    this.contiguous = undefined;
    this.known = 0;
    this.above.clear();
  }

  private compact(): void {
    if (this.contiguous === undefined) return;
    for (const s of this.above) if (s <= this.contiguous) this.above.delete(s);
    while (this.above.delete(this.contiguous + 1)) this.contiguous++;
  }
}
