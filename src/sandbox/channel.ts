// The host's end of an instance's IPC channel. The runtime talks through Node's own channel
// (`process.send`, `process.on('message')`, serialization "json"); its other end is a socket the
// server holds (see spawner.ts), so the server speaks that wire format itself: one message per
// line, as JSON. (JSON, not Node's "advanced" V8 serialization: encoding an invoke frame takes a
// third of the time. Bytes cross the channel as base64 where an SDK call carries them.)

/**
 * The longest line the host reads: a response or SDK call carries at most 6 MB of body (8 MB as
 * base64), which fits several times over. A longer line can only come from a runtime that lost its
 * mind (or user code writing to the channel), and ends that instance instead of filling the
 * server's memory.
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const NEWLINE = 0x0a;

export class FrameTooLarge extends Error {}

/** One message as the text that goes on the channel. */
export function encodeFrame(message: unknown): string {
  return JSON.stringify(message) + '\n';
}

/** Splits what a channel reads into messages; a line can arrive in pieces, or several in one read. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #size = 0;

  /** Feeds bytes read from the channel; returns the messages they complete. Throws on a malformed line. */
  push(chunk: Buffer): unknown[] {
    const out: unknown[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(NEWLINE); nl !== -1; nl = chunk.indexOf(NEWLINE, start)) {
      let line: Buffer;
      if (this.#size > 0) {
        this.#chunks.push(chunk.subarray(start, nl));
        line = Buffer.concat(this.#chunks, this.#size + nl - start);
        this.#chunks = [];
        this.#size = 0;
      } else line = chunk.subarray(start, nl);
      out.push(JSON.parse(line.toString('utf8')));
      start = nl + 1;
    }
    if (start < chunk.length) {
      this.#chunks.push(chunk.subarray(start));
      this.#size += chunk.length - start;
      if (this.#size > MAX_FRAME_BYTES) throw new FrameTooLarge(`a frame of more than ${MAX_FRAME_BYTES} bytes is over the channel's limit`);
    }
    return out;
  }
}
