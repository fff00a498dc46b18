// Server side of `workflows:` in a deploy: each definition must be inline (the CLI reads files),
// valid States Language (the error names `workflows.<name>.definition.<path>`), and its Task
// resources must name functions that exist — this app's, or any deployed app's (grants may cross
// apps; the admin token holder deploys both).
import { NimbusError } from '../errors.ts';
import type { DesiredWorkflow } from '../store/workflows.ts';
import { type Machine, validateDefinition } from './asl/index.ts';
import { parseFunctionRef, resolveResource } from './asl/resource.ts';

/** `$.States.Pay.Retry[0]` → `workflows.checkout.definition.States.Pay.Retry[0]`. */
const fieldOf = (name: string, path: string) => `workflows.${name}.definition${path.replace(/^\$/, '').replace(/^(?=[^.[])/, '.')}`;

export async function desiredWorkflows(
  workflows: Record<string, { definition: unknown }>, appFunctions: string[], allFunctions: () => Promise<string[]>,
): Promise<DesiredWorkflow[]> {
  const out: DesiredWorkflow[] = [];
  let known: Set<string> | undefined;
  for (const [name, w] of Object.entries(workflows)) {
    if (typeof w.definition === 'string') {
      throw new NimbusError('MANIFEST_INVALID', `workflows.${name}.definition: "${w.definition}" is a file path; the CLI reads it and sends the definition inline — send the definition itself`);
    }
    const v = validateDefinition(w.definition);
    if (!v.ok) {
      const lines = v.errors.slice(0, 20).map((e) => `${fieldOf(name, e.path)}: ${e.message}`);
      throw new NimbusError('MANIFEST_INVALID', `workflow "${name}" is not valid States Language:\n  ${lines.join('\n  ')}`);
    }
    for (const { path, fn } of taskFunctions(v.machine, '$')) {
      if (appFunctions.includes(fn)) continue;
      known ??= new Set(await allFunctions());
      if (!known.has(fn)) throw new NimbusError('MANIFEST_INVALID', `${fieldOf(name, path)}: no function "${fn}" in this manifest or in any deployed app`);
    }
    out.push({ name, definition: JSON.stringify(w.definition) });
  }
  return out;
}

/** Every function a Task names, statically: a direct resource, or lambda:invoke's literal Parameters.FunctionName. */
function* taskFunctions(m: Machine, at: string): Generator<{ path: string; fn: string }> {
  for (const [stateName, s] of Object.entries(m.States)) {
    const base = `${at}.States.${stateName}`;
    if (s.Type === 'Task' && s.Resource) {
      const r = resolveResource(s.Resource);
      if (r.ok && r.resource.functionName) yield { path: `${base}.Resource`, fn: r.resource.functionName };
      const p = s.Parameters as Record<string, unknown> | undefined;
      if (r.ok && r.resource.integration === 'lambda:invoke' && p && typeof p.FunctionName === 'string') {
        const ref = parseFunctionRef(p.FunctionName);
        if (ref) yield { path: `${base}.Parameters.FunctionName`, fn: ref.functionName };
      }
    }
    for (const [i, b] of (s.Branches ?? []).entries()) yield* taskFunctions(b, `${base}.Branches[${i}]`);
    const proc = s.ItemProcessor ?? s.Iterator;
    if (proc) yield* taskFunctions(proc, `${base}.${s.ItemProcessor ? 'ItemProcessor' : 'Iterator'}`);
  }
}
