// Route identity shared by every store: two routes collide when their paths are the same after
// parameter names are erased and their methods overlap (ANY overlaps every method).

export function normalizeRoutePath(path: string): string {
  return path.replace(/\{[^}/]+\+\}/g, '{+}').replace(/\{[^}/+]+\}/g, '{}');
}

export function methodsOverlap(a: string, b: string): boolean {
  return a === b || a === 'ANY' || b === 'ANY';
}
