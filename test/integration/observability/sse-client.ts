/**
 * A small server-sent-events reader over fetch for tests: yields each message (fields `id`,
 * `event`, `data`) or comment, in order. Test-only.
 */
export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
  retry?: string;
  /** Comment lines (`: …`), without the colon. */
  comments: string[];
}

export class SseReader {
  private buffer = '';
  private readonly decoder = new TextDecoder();
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private ended = false;

  constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    if (response.body === null) throw new Error('no body');
    this.reader = response.body.getReader();
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseReader> {
    const controller = new AbortController();
    const response = await fetch(url, { headers, signal: controller.signal });
    return new SseReader(response, controller);
  }

  /** The next message or comment block; null when the stream ended. */
  async next(): Promise<SseMessage | null> {
    for (;;) {
      const end = this.buffer.indexOf('\n\n');
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return parseBlock(block);
      }
      if (this.ended) return null;
      const { value, done } = await this.reader.read();
      if (done) {
        this.ended = true;
        continue;
      }
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** The next message that carries an event (skips comments and the retry hint). */
  async nextEvent(): Promise<SseMessage | null> {
    for (;;) {
      const message = await this.next();
      if (message === null || message.event !== undefined) return message;
    }
  }

  close(): void {
    this.controller.abort();
  }
}

function parseBlock(block: string): SseMessage {
  const message: SseMessage = { comments: [] };
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) {
      message.comments.push(line.slice(1).trim());
      continue;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'id' || field === 'event' || field === 'retry') message[field] = value;
    if (field === 'data')
      message.data = message.data === undefined ? value : `${message.data}\n${value}`;
  }
  return message;
}
