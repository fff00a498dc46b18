// The host's end of an instance's IPC channel. The runtime talks through Node's own channel
// (`process.send`, `process.on('message')`, serialization "advanced"); its other end is a socket the
// server holds (see spawner.ts), so the server speaks that wire format itself: each frame is a
// 4-byte big-endian length, then the message as V8's serializer writes it, with every typed array
// or Buffer written as a host object behind a 0 tag (what Node's child_process serializer does).
import { DefaultDeserializer, DefaultSerializer } from 'node:v8';

/**
 * The biggest frame the host reads: a response or SDK call carries at most 6 MB of body, which
 * fits several times over. A bigger length can only come from a runtime that lost its mind (or
 * user code writing to the channel), and ends that instance instead of filling the server's memory.
 */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const VIEW_TAG = 0;
const OBJECT_TAG = 1;

// The host-object hooks exist on V8's (de)serializer classes but are not in Node's type definitions.
interface HostHooks { _writeHostObject(obj: object): void; _readHostObject(): object }
const baseWrite = (DefaultSerializer.prototype as unknown as HostHooks)._writeHostObject;
const baseRead = (DefaultDeserializer.prototype as unknown as HostHooks)._readHostObject;

class FrameSerializer extends DefaultSerializer {
  _writeHostObject(obj: object): void {
    if (ArrayBuffer.isView(obj)) {
      this.writeUint32(VIEW_TAG);
      baseWrite.call(this, obj);
      return;
    }
    this.writeUint32(OBJECT_TAG);
    this.writeValue({ ...obj });
  }
}

class FrameDeserializer extends DefaultDeserializer {
  _readHostObject(): object {
    const tag = this.readUint32();
    if (tag === VIEW_TAG) return baseRead.call(this);
    if (tag !== OBJECT_TAG) throw new Error(`unknown host object tag ${tag}`);
    return this.readValue() as object;
  }
}

const LENGTH_PLACEHOLDER = Buffer.alloc(4);

/** One message as the bytes that go on the channel. */
export function encodeFrame(message: unknown): Buffer {
  const s = new FrameSerializer();
  s.writeRawBytes(LENGTH_PLACEHOLDER);
  s.writeHeader();
  s.writeValue(message);
  const bytes = s.releaseBuffer();
  bytes.writeUInt32BE(bytes.length - 4, 0);
  return bytes;
}

/** Splits what a channel reads into messages; a frame can arrive in pieces, or several in one read. */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  #size = 0;

  /** Feeds bytes read from the channel; returns the messages they complete. Throws on a malformed frame. */
  push(chunk: Buffer): unknown[] {
    this.#chunks.push(chunk);
    this.#size += chunk.length;
    const out: unknown[] = [];
    while (this.#size >= 4) {
      let head = this.#chunks[0]!;
      if (head.length < 4) head = this.#join();
      const length = head.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES) throw new Error(`a frame of ${length} bytes is over the channel's ${MAX_FRAME_BYTES}`);
      if (this.#size < length + 4) break;
      if (head.length < length + 4) head = this.#join();
      const d = new FrameDeserializer(head.subarray(4, length + 4));
      d.readHeader();
      out.push(d.readValue());
      const rest = head.subarray(length + 4);
      this.#chunks[0] = rest;
      this.#size -= length + 4;
      if (rest.length === 0) this.#chunks.shift();
    }
    return out;
  }

  #join(): Buffer {
    const all = Buffer.concat(this.#chunks, this.#size);
    this.#chunks = [all];
    return all;
  }
}
