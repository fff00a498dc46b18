// Byte ranges of an object: the HTTP `Range: bytes=...` header as S3 reads it (one range; a list of
// several is ignored and the whole object served, which RFC 9110 allows), and the checks the blob
// store applies to a range before streaming. Ends are inclusive, as in HTTP and createReadStream.
import { NimbusError } from '../../errors.ts';

export interface ByteRange { start: number; end?: number }
/** A range resolved against an object's size: both ends inclusive and inside the object. */
export interface ResolvedRange { start: number; end: number }

function notSatisfiable(range: string, size: number): NimbusError {
  // S3 answers 416 InvalidRange.
  return new NimbusError('INVALID_RANGE', `the range ${range} is not satisfiable: the object is ${size} bytes`, { details: { rule: 'range/not-satisfiable', size } });
}

/**
 * Checks `range` against an object of `size` bytes: an end past the object is cut to its last byte
 * (as HTTP does); a start at or past the end of the object (every range of an empty object) fails.
 */
export function resolveRange(range: ByteRange, size: number): ResolvedRange {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) {
    throw new NimbusError('BAD_REQUEST', `a byte range needs whole numbers 0 <= start <= end, got start ${start} and end ${end}`, { details: { rule: 'range/invalid' } });
  }
  if (start >= size) throw notSatisfiable(`${start}-${end ?? ''}`, size);
  return { start, end: Math.min(end ?? size - 1, size - 1) };
}

/**
 * Reads a `Range` header for an object of `size` bytes: `bytes=0-99`, `bytes=100-` or `bytes=-500`
 * (the last 500). Undefined when there is no header or it is to be ignored (another unit, several
 * ranges, bad syntax: RFC 9110 lets a server ignore those and send the whole object); throws
 * (INVALID_RANGE, 416) when the one range lies outside the object.
 */
export function parseRangeHeader(header: string | undefined, size: number): ResolvedRange | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (!Number.isSafeInteger(suffix)) return undefined;
    if (suffix === 0 || size === 0) throw notSatisfiable(header.trim(), size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? undefined : Number(m[2]);
  if (!Number.isSafeInteger(start) || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) return undefined;
  return resolveRange({ start, end }, size);
}
