// The KV operations of the runtime SDK (runtime/sdk/kv.mjs): each declares the grants it needs on
// its table; the SDK host checks them against the calling function's `permissions:` before run().
// Arguments come from function code over IPC: everything is validated by the service.
import { NimbusError } from '../../errors.ts';
import type { Grant, SdkOp } from '../../invoker/sdk-op.ts';
import type { KvService } from './service.ts';

type Args = Record<string, unknown>;

function tableName(args: Args): string {
  const t = args.table;
  if (typeof t !== 'string' || t === '') throw new NimbusError('BAD_REQUEST', `table: a table name is required, e.g. kv.table("users"); got ${t === undefined ? 'nothing' : typeof t === 'string' ? 'an empty string' : `a ${typeof t}`}`);
  return t;
}

const read = (args: Args): Grant[] => [{ kind: 'tables', name: tableName(args), right: 'read' }];
const write = (args: Args): Grant[] => [{ kind: 'tables', name: tableName(args), right: 'write' }];
/** A write that hands back the item as it was also reads it. */
const writeMaybeRead = (args: Args): Grant[] => {
  const opts = args.options;
  const returnsOld = typeof opts === 'object' && opts !== null && (opts as Args).returnOld === true;
  return returnsOld ? [...write(args), ...read(args)] : write(args);
};

export function kvSdkOps(svc: KvService): Record<string, SdkOp> {
  return {
    'kv.get': { needs: read, run: (a) => svc.get(tableName(a), a.key) },
    'kv.batchGet': { needs: read, run: (a) => svc.batchGet(tableName(a), a.keys) },
    'kv.query': { needs: read, run: (a) => svc.query(tableName(a), a.query) },
    'kv.scan': {
      needs: read,
      run: (a) => {
        const o = (typeof a.options === 'object' && a.options !== null ? a.options : {}) as Args;
        return svc.scan(tableName(a), { limit: o.limit, cursor: o.cursor });
      },
    },
    'kv.put': { needs: writeMaybeRead, run: (a, _fn, call) => svc.put(tableName(a), a.item, a.options, call.trace) },
    'kv.delete': { needs: writeMaybeRead, run: (a, _fn, call) => svc.delete(tableName(a), a.key, a.options, call.trace) },
    // It answers the new value, which tells the old one: a read as well as a write.
    'kv.increment': { needs: (a) => [...write(a), ...read(a)], run: (a, _fn, call) => svc.increment(tableName(a), a.key, a.attribute, a.by, call.trace) },
    'kv.batchWrite': { needs: write, run: (a, _fn, call) => svc.batchWrite(tableName(a), a.entries, call.trace) },
  };
}
