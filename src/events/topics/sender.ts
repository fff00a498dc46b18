// Webhook deliveries: claims due deliveries from the store (leased, so one that is in the air when
// the server dies goes out again after the restart), POSTs each signed (webhook.ts), and settles it:
// delivered → gone; a retryable failure → tried again later (the documented schedule); exhausted or
// refused → to the subscription's dead-letter queue (in the same transaction as its removal), or
// dropped with a log line when it has none.
import type { Logger } from '../../observability/logger.ts';
import { traceHeaders } from '../../observability/trace-context.ts';
import type { Delivery, Store, WebhookDelivery } from '../../store/types.ts';
import type { Clock } from '../../util/clock.ts';
import { Waker } from '../../util/waker.ts';
import { classifyResponse, type RetryPolicy, retryDelayMs, signDelivery, WEBHOOK_RETRY } from './webhook.ts';

const MAX_IN_FLIGHT = 32;
const REQUEST_TIMEOUT_MS = 15_000;
const LEASE_MS = REQUEST_TIMEOUT_MS + 60_000;
const IDLE_WAIT_MS = 30_000;

/** Where a webhook delivery goes, and what to do when it keeps failing. */
export interface Endpoint {
  url: string;
  secret: string;
  deadLetterQueue: string | null;
  /** The subscription's or rule's ARN, for the dead-letter message. */
  arn: string;
  /** For logs: `topic orders` or `rule big-orders`. */
  owner: string;
  /** Retries after the first attempt; undefined: the documented webhook schedule's. */
  retries?: number;
  /** A delivery older than this is not tried again. */
  maxAgeMs?: number;
}

export interface SenderDeps {
  store: Store;
  /** Finds a delivery's endpoint: a topic's webhook subscription or a rule's HTTP target. */
  endpoint: (id: string) => Promise<Endpoint | undefined>;
  clock: Clock;
  logger: Logger;
  onDelivered: (d: Delivery) => void;
  retry?: Partial<RetryPolicy>;
}

export class WebhookSender {
  readonly #deps: SenderDeps;
  readonly #policy: RetryPolicy;
  readonly #inFlight = new Set<Promise<void>>();
  readonly #waker: Waker;
  #stopped = false;
  #loop: Promise<void> | undefined;

  constructor(deps: SenderDeps) {
    this.#deps = deps;
    this.#policy = { ...WEBHOOK_RETRY, ...deps.retry };
    this.#waker = new Waker(deps.clock);
  }

  async start(): Promise<void> {
    await this.#deps.store.releaseWebhookLeases(this.#deps.clock.now());
    this.#loop = this.#run();
  }

  kick(): void {
    this.#waker.kick();
  }

  async #run(): Promise<void> {
    const { store, clock, logger } = this.#deps;
    while (!this.#stopped) {
      this.#waker.reset();
      const room = MAX_IN_FLIGHT - this.#inFlight.size;
      let claimed: WebhookDelivery[] = [];
      if (room > 0) {
        try {
          const now = clock.now();
          claimed = await store.claimWebhooks(room, now, now + LEASE_MS);
        } catch (err) {
          if (this.#stopped) return;
          logger.error({ err }, 'could not claim webhook deliveries');
        }
      }
      for (const d of claimed) {
        const p: Promise<void> = this.#send(d).catch((err: unknown) => logger.error({ err, subscription: d.subscriptionId }, 'webhook delivery could not be settled; it goes out again when its lease ends'))
          .finally(() => { this.#inFlight.delete(p); this.kick(); });
        this.#inFlight.add(p);
      }
      if ((claimed.length > 0 && claimed.length === room) || this.#waker.kicked) continue;
      const next = await store.nextWebhookDue().catch(() => undefined);
      const waitMs = next === undefined ? IDLE_WAIT_MS : Math.min(IDLE_WAIT_MS, Math.max(1, next - clock.now()));
      if (this.#stopped) return;
      // Full: a finished send kicks; no need to look again before that.
      await this.#waker.wait(room > 0 ? waitMs : IDLE_WAIT_MS);
    }
  }

  /** Sees each attempt's outcome, by the endpoint's owner ("topic t", "rule r") (the metrics). */
  onOutcome: ((owner: string, outcome: 'delivered' | 'retried' | 'failed') => void) | undefined;

  async #send(d: WebhookDelivery): Promise<void> {
    const { store, clock, logger } = this.#deps;
    const sub = await this.#deps.endpoint(d.subscriptionId);
    if (!sub) {
      // The subscription or rule target was removed since: its pending deliveries go with it.
      await store.settleWebhook(d, [], clock.now());
      return;
    }
    let status: number | undefined;
    let detail: string;
    try {
      const res = await fetch(sub.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', 'user-agent': 'Nimbus-Webhook/1', ...signDelivery(sub.secret, d.body, clock.now(), d.messageId), ...(d.trace ? traceHeaders(d.trace) : {}) },
        body: d.body,
        redirect: 'manual',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      status = res.status;
      detail = `HTTP ${res.status}`;
      await res.body?.cancel();
    } catch (err) {
      detail = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    }
    const verdict = classifyResponse(status);
    if (verdict === 'delivered') {
      await store.settleWebhook(d, [], clock.now());
      this.onOutcome?.(sub.owner, 'delivered');
      return;
    }
    const young = sub.maxAgeMs === undefined || clock.now() - d.createdAt < sub.maxAgeMs;
    if (verdict === 'retry' && d.attempts <= (sub.retries ?? this.#policy.retries) && young) {
      await store.retryWebhook(d, clock.now() + retryDelayMs(d.attempts, Math.random, this.#policy));
      this.onOutcome?.(sub.owner, 'retried');
      this.kick();
      return;
    }
    const dead: Delivery[] = sub.deadLetterQueue ? [{
      to: { kind: 'queue', name: sub.deadLetterQueue }, body: d.body,
      attributes: {
        SubscriptionArn: { DataType: 'String', StringValue: sub.arn },
        Endpoint: { DataType: 'String', StringValue: sub.url },
        ErrorMessage: { DataType: 'String', StringValue: `${detail} after ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}` },
      },
    }] : [];
    await store.settleWebhook(d, dead, clock.now());
    this.onOutcome?.(sub.owner, 'failed');
    for (const x of dead) this.#deps.onDelivered(x);
    logger.warn({ endpoint: sub.owner, url: sub.url, attempts: d.attempts, detail, deadLetterQueue: sub.deadLetterQueue }, 'webhook delivery failed for good');
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.kick();
    await this.#loop;
    while (this.#inFlight.size) await Promise.all(this.#inFlight);
  }
}
