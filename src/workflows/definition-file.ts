// Client side of `workflows:` in the manifest: a definition given as a path (relative to the app
// dir, .json/.yaml/.yml) is read here and replaced by its content, so the deploy body carries every
// definition inline and the server never reads the user's files.
import { readFile, realpath } from 'node:fs/promises';
import { extname, isAbsolute, relative, resolve, sep } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { NimbusError } from '../errors.ts';

const EXTENSIONS = ['.json', '.yaml', '.yml'];

/** Returns the manifest with each workflow's definition inline (the manifest itself is not changed). */
export async function inlineWorkflowDefinitions<M extends { workflows?: Record<string, { definition: unknown }> }>(appDir: string, manifest: M): Promise<M> {
  if (!manifest.workflows) return manifest;
  const workflows: Record<string, { definition: unknown }> = {};
  for (const [name, w] of Object.entries(manifest.workflows)) {
    workflows[name] = typeof w.definition === 'string' ? { ...w, definition: await readDefinition(appDir, name, w.definition) } : w;
  }
  return { ...manifest, workflows };
}

async function readDefinition(appDir: string, name: string, file: string): Promise<unknown> {
  const field = `workflows.${name}.definition`;
  if (!EXTENSIONS.includes(extname(file).toLowerCase())) throw new NimbusError('MANIFEST_INVALID', `${field}: "${file}" must be a .json, .yaml or .yml file`);
  const base = await realpath(resolve(appDir));
  let real: string;
  try {
    real = await realpath(resolve(base, file));
  } catch {
    throw new NimbusError('MANIFEST_INVALID', `${field}: no file "${file}" in ${appDir}`);
  }
  const rel = relative(base, real);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) throw new NimbusError('MANIFEST_INVALID', `${field}: "${file}" leads outside the app folder`);
  const text = await readFile(real, 'utf8');
  try {
    return extname(file).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new NimbusError('MANIFEST_INVALID', `${field}: ${file} does not parse: ${(err as Error).message.split('\n')[0]}`);
  }
}
