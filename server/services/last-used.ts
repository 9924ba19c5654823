/** Remembers when credentials were last used and hands the batch over on flush: no write per request. */
export class LastUsedBatch {
  private pending = new Map<string, number>();

  constructor(private readonly write: (batch: Map<string, number>) => Promise<void>) {}

  mark(id: string, at: number): void {
    this.pending.set(id, at);
  }

  async flush(): Promise<void> {
    if (!this.pending.size) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      await this.write(batch);
    } catch (err) {
      // Keep the newest time per id for the next attempt.
      for (const [id, at] of batch) if ((this.pending.get(id) ?? 0) < at) this.pending.set(id, at);
      throw err;
    }
  }
}
