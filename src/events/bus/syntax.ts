// Shape checks shared by the validator and the reference matcher: what counts as a JSON object, and
// when a "$or" key is the OR of sub-patterns rather than a field that happens to be named "$or".

/** The operator names of the pattern language; a `$or` branch that uses one as a key is no branch. */
export const OPERATORS: ReadonlySet<string> = new Set([
  'prefix', 'suffix', 'equals-ignore-case', 'wildcard', 'anything-but', 'numeric', 'cidr', 'exists',
]);

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/**
 * EventBridge reads `"$or": [...]` as an OR only when the array holds at least two objects and none of
 * them uses an operator name as a key; otherwise "$or" is an ordinary field name (kept for patterns
 * written before $or existed).
 */
export function isOrRelationship(v: unknown): v is Record<string, unknown>[] {
  return Array.isArray(v) && v.length >= 2 && v.every((b) => isPlainObject(b) && !Object.keys(b).some((k) => OPERATORS.has(k)));
}
