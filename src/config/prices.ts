// The price table cost estimates use. The default is AWS Lambda's x86 list price in us-east-1, so a
// Nimbus bill reads next to a Lambda one; `nimbus serve --prices prices.json` replaces it (any field
// left out keeps its default).
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { NimbusError } from '../errors.ts';

export interface Prices {
  currency: string;
  /** Per million requests. */
  requestsPerMillion: number;
  /** Per GB-second of on-demand duration (billed ms × memory, init included). */
  gbSecond: number;
  /** Per GB-second an instance is kept provisioned. */
  provisionedGbSecond: number;
  /** Per GB-second of duration on a provisioned instance. */
  provisionedDurationGbSecond: number;
  /** Where the numbers come from (shown with every report). */
  source: string;
}

export const DEFAULT_PRICES: Prices = {
  currency: 'USD',
  requestsPerMillion: 0.2,
  gbSecond: 0.0000166667,
  provisionedGbSecond: 0.0000041667,
  provisionedDurationGbSecond: 0.0000097222,
  source: 'AWS Lambda x86 list price, us-east-1',
};

const price = z.number({ error: (i) => `must be a number, got ${JSON.stringify(i.input) ?? 'nothing'}` }).nonnegative({ error: 'must not be negative' });
const PricesSchema = z.strictObject({
  currency: z.string().min(1).max(8).optional(),
  requestsPerMillion: price.optional(),
  gbSecond: price.optional(),
  provisionedGbSecond: price.optional(),
  provisionedDurationGbSecond: price.optional(),
  source: z.string().max(200).optional(),
});

/** A price table file (JSON): the defaults with the fields it gives. */
export function loadPrices(path: string): Prices {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new NimbusError('BAD_REQUEST', `--prices ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `not valid JSON (${(err as Error).message})`}`);
  }
  const r = PricesSchema.safeParse(raw);
  if (!r.success) throw new NimbusError('BAD_REQUEST', `--prices ${path}: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`);
  return { ...DEFAULT_PRICES, source: `${path}`, ...Object.fromEntries(Object.entries(r.data).filter(([, v]) => v !== undefined)) };
}
