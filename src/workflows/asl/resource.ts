// Task resources Nimbus can run, resolved into what an executor needs to invoke a function:
//   fn-name | fn-name:alias | arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
//   arn:aws:states:::lambda:invoke[.waitForTaskToken]   (function from Parameters.FunctionName)
// The partition (`aws`, `aws-cn`, ...) and region/account are accepted and ignored: Nimbus has one.

export interface ResolvedResource {
  integration: 'direct' | 'lambda:invoke';
  /** The function; null for lambda:invoke, where Parameters.FunctionName names it at run time. */
  functionName: string | null;
  qualifier: string | null;
  waitForTaskToken: boolean;
}

const NAME = /^[A-Za-z0-9_-]{1,140}$/;
const QUALIFIER = /^(\$LATEST|[A-Za-z0-9_-]{1,128})$/;
const INTEGRATION = /^arn:aws[a-z-]*:states:[a-z0-9-]*:\d*:lambda:invoke(\.waitForTaskToken)?$/;
const LAMBDA_ARN = /^arn:aws[a-z-]*:lambda:([a-z0-9-]*):(\d*):function:([^:]*)(?::([^:]*))?$/;

/** A function reference: a name, `name:qualifier`, a full or partial Lambda ARN. */
export function parseFunctionRef(ref: string): { functionName: string; qualifier: string | null } | null {
  const arn = LAMBDA_ARN.exec(ref) ?? /^()(\d+):function:([^:]*)(?::([^:]*))?$/.exec(ref);
  let name: string, qualifier: string | undefined;
  if (arn) { name = arn[3]; qualifier = arn[4]; }
  else { [name, qualifier] = ref.split(':', 3) as [string, string | undefined]; if (ref.split(':').length > 2) return null; }
  if (!NAME.test(name)) return null;
  if (qualifier !== undefined && !QUALIFIER.test(qualifier)) return null;
  return { functionName: name, qualifier: qualifier ?? null };
}

/** Resolve a Task's Resource, or say why Nimbus cannot run it. */
export function resolveResource(resource: string): { ok: true; resource: ResolvedResource } | { ok: false; message: string } {
  const integ = INTEGRATION.exec(resource);
  if (integ) return { ok: true, resource: { integration: 'lambda:invoke', functionName: null, qualifier: null, waitForTaskToken: !!integ[1] } };
  const fn = parseFunctionRef(resource);
  if (fn) return { ok: true, resource: { integration: 'direct', ...fn, waitForTaskToken: false } };
  if (resource.startsWith('arn:') && !LAMBDA_ARN.test(resource)) {
    return { ok: false, message: `Resource '${resource}' is not supported: Nimbus runs functions (a name, name:alias, a Lambda function ARN) and arn:aws:states:::lambda:invoke[.waitForTaskToken]` };
  }
  return { ok: false, message: `Resource '${resource}' is not a function name (letters, digits, - and _, optionally :alias or :version) or a Lambda function ARN` };
}
