// Input and output processing of one state: InputPath → Parameters → (the state's work) →
// ResultSelector → ResultPath → OutputPath, with the error names AWS uses when a step fails.
// Payload templates (Parameters, ResultSelector, ItemSelector, Credentials) replace each `key.$`
// field by the value of its path (`$...` on the data, `$$...` on the context object) or intrinsic call.
import { StatesError } from './errors.ts';
import { evalIntrinsic, type IntrinsicEnv } from './intrinsics.ts';
import { readPath, writeReferencePath } from './jsonpath.ts';
import type { Json, JsonObject } from './types.ts';

const show = (v: Json) => {
  const s = JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 200)}...` : s;
};

/** InputPath / OutputPath / ItemsPath: a missing path is States.Runtime; null means `{}`. */
export function applyPath(field: string, path: string | null | undefined, data: Json, context: Json): Json {
  if (path === undefined) return data;
  if (path === null) return {};
  const r = readPath(path, data, context);
  if (!r.found) throw new StatesError('States.Runtime', `Invalid path '${path}' : No results for path: ${field} '${path}' in input ${show(data)}`);
  return r.value;
}

/**
 * Fill in a payload template. `errorName` is the error for a `.$` path that is absent
 * (States.ParameterPathFailure for Parameters/ItemSelector/Credentials, States.Runtime for ResultSelector).
 */
export function evalTemplate(tpl: Json, data: Json, context: Json, env: IntrinsicEnv, errorName = 'States.ParameterPathFailure'): Json {
  if (Array.isArray(tpl)) return tpl.map((x) => evalTemplate(x, data, context, env, errorName));
  if (tpl === null || typeof tpl !== 'object') return tpl;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(tpl)) {
    if (key.endsWith('.$') && typeof value === 'string') {
      const name = key.slice(0, -2);
      if (value.startsWith('$')) {
        const r = readPath(value, data, context);
        if (!r.found) throw new StatesError(errorName, `The JSONPath '${value}' specified for the field '${key}' could not be found in the input ${show(value.startsWith('$$') ? context : data)}`);
        out[name] = r.value;
      } else {
        out[name] = evalIntrinsic(value, data, context, env);
      }
    } else {
      out[key] = evalTemplate(value, data, context, env, errorName);
    }
  }
  return out;
}

/** ResultPath: where the result goes in the state's raw input (null: discard the result). */
export function applyResultPath(path: string | null | undefined, input: Json, result: Json): Json {
  if (path === null) return input;
  if (path === undefined || path === '$') return result;
  const w = writeReferencePath(path, input, result);
  if (!w.ok) throw new StatesError('States.ResultPathMatchFailure', `Unable to apply ResultPath '${path}' to input ${show(input)}`);
  return w.value;
}

export interface IoFields {
  InputPath?: string | null;
  Parameters?: Json;
  ResultSelector?: JsonObject;
  ResultPath?: string | null;
  OutputPath?: string | null;
}

/** The effective input a state works on: InputPath, then Parameters. */
export function effectiveInput(def: IoFields, raw: Json, context: Json, env: IntrinsicEnv): Json {
  const input = applyPath('InputPath', def.InputPath, raw, context);
  return def.Parameters === undefined ? input : evalTemplate(def.Parameters, input, context, env);
}

/** The state output from its raw input and its result: ResultSelector, ResultPath, OutputPath. */
export function stateOutput(def: IoFields, raw: Json, result: Json, context: Json, env: IntrinsicEnv): Json {
  const selected = def.ResultSelector === undefined ? result : evalTemplate(def.ResultSelector, result, context, env, 'States.Runtime');
  const combined = applyResultPath(def.ResultPath, raw, selected);
  return applyPath('OutputPath', def.OutputPath, combined, context);
}
