// The host side of the runtime SDK: calls a function's code makes (`import { queues } from
// 'nimbus/sdk'`) arrive here over the instance's IPC channel, named by operation, with the calling
// function's record. Every call is authorised here, on the host, against the caller — the sandbox
// is never trusted to say what it may touch. Today a function may use the queues of its own app;
// the grants model of the services issue replaces #queue's check with the manifest's bindings.
import { NimbusError } from '../errors.ts';
import type { QueueService } from '../events/queues/service.ts';
import type { EventBus } from '../events/bus/service.ts';
import type { SecretService } from '../services/secrets/service.ts';
import type { TopicService } from '../events/topics/service.ts';
import type { FunctionRecord, QueueRecord } from '../store/types.ts';

export interface SdkDeps {
  queues: QueueService;
  topics: () => TopicService;
  bus: () => EventBus;
  secrets: SecretService;
}

export class SdkHost {
  #deps: SdkDeps | undefined;

  bind(deps: SdkDeps): void {
    this.#deps = deps;
  }

  async call(fn: FunctionRecord, op: string, args: unknown): Promise<unknown> {
    const deps = this.#deps;
    if (!deps) throw new NimbusError('INTERNAL', 'the SDK is not ready');
    const a = (typeof args === 'object' && args !== null ? args : {}) as Record<string, unknown>;
    switch (op) {
      case 'queues.send': {
        const q = await this.#queue(fn, a.queue);
        const { id: _id, ...sent } = await deps.queues.send(q.name, (typeof a.message === 'object' && a.message !== null ? a.message : {}) as Record<string, unknown>);
        return sent;
      }
      case 'queues.sendBatch': {
        const q = await this.#queue(fn, a.queue);
        return deps.queues.sendBatch(q.name, a.entries);
      }
      case 'topics.publish': {
        const t = await this.#topic(fn, a.topic);
        return deps.topics().publish(t, (typeof a.message === 'object' && a.message !== null ? a.message : {}) as Record<string, unknown>);
      }
      case 'topics.publishBatch': {
        const t = await this.#topic(fn, a.topic);
        return deps.topics().publishBatch(t, a.entries);
      }
      case 'secrets.get':
        return deps.secrets.get(fn, a.name);
      case 'events.put':
        // The bus is shared by every app: any function may put events; rules decide who gets them.
        return deps.bus().put(a.entries);
      default:
        throw new NimbusError('BAD_REQUEST', `unknown SDK operation "${op}"`);
    }
  }

  async #topic(fn: FunctionRecord, name: unknown): Promise<string> {
    if (typeof name !== 'string' || name === '') throw new NimbusError('BAD_REQUEST', 'topic: a topic name is required');
    const t = await this.#deps!.topics().topic(name);
    if (t.app !== fn.app) throw new NimbusError('ACCESS_DENIED', `function "${fn.name}" may only publish to the topics of its app "${fn.app}"; topic "${name}" belongs to app "${t.app}"`);
    return t.name;
  }

  async #queue(fn: FunctionRecord, name: unknown): Promise<QueueRecord> {
    if (typeof name !== 'string' || name === '') throw new NimbusError('BAD_REQUEST', 'queue: a queue name is required');
    const q = await this.#deps!.queues.queue(name);
    if (q.app !== fn.app) throw new NimbusError('ACCESS_DENIED', `function "${fn.name}" may only use the queues of its app "${fn.app}"; queue "${name}" belongs to app "${q.app}"`);
    return q;
  }
}
