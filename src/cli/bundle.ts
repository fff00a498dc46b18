// Bundles one function with esbuild: its TypeScript or JavaScript and npm dependencies become one
// ES module. The export the manifest names is checked here, so a typo fails the deploy, not a request.
import { fileURLToPath } from 'node:url';
import { build, type Message, type Plugin } from 'esbuild';
import { parseHandler, resolveHandlerFile } from '../config/manifest.ts';
import { NimbusError } from '../errors.ts';

// CommonJS dependencies call require() at run time; give the ES module bundle one.
const BANNER = "import { createRequire as __nimbusCreateRequire } from 'node:module'; const require = __nimbusCreateRequire(import.meta.url);";

const SDK_PATH = fileURLToPath(new URL('../../runtime/sdk.mjs', import.meta.url));

/** `import ... from 'nimbus/sdk'` resolves to the runtime SDK whether or not the app installed nimbus. */
const sdkPlugin: Plugin = {
  name: 'nimbus-sdk',
  setup(b) {
    b.onResolve({ filter: /^(nimbus|@nimbus)\/sdk$/ }, () => ({ path: SDK_PATH }));
  },
};

export interface Bundle { code: Uint8Array; sizeBytes: number }

export async function bundleFunction(appDir: string, fnName: string, handler: string): Promise<Bundle> {
  const { file, exportName } = parseHandler(handler);
  const entry = await resolveHandlerFile(appDir, file, fnName);
  let result;
  try {
    result = await build({
      entryPoints: [entry], absWorkingDir: appDir, bundle: true, platform: 'node', format: 'esm', target: 'node24',
      write: false, metafile: true, logLevel: 'silent', banner: { js: BANNER }, outfile: 'index.mjs', legalComments: 'none', plugins: [sdkPlugin],
    });
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors ?? [];
    const lines = errors.map((m) => (m.location ? `${m.location.file}:${m.location.line}:${m.location.column}: ${m.text}` : m.text));
    throw new NimbusError('BUNDLE_FAILED', `functions.${fnName}: esbuild could not bundle ${handler}:\n  ${lines.join('\n  ') || (err as Error).message}`);
  }
  const out = result.outputFiles[0]!;
  const exports = Object.values(result.metafile.outputs)[0]?.exports ?? [];
  // A CommonJS entry only has a default export; its named exports are checked when it loads.
  const commonJs = exports.length === 1 && exports[0] === 'default';
  if (!commonJs && !exports.includes(exportName)) {
    throw new NimbusError('HANDLER_NOT_FOUND', `functions.${fnName}.handler: ${entry.slice(appDir.length + 1)} has no export named "${exportName}" (it exports: ${exports.join(', ') || 'nothing'})`);
  }
  return { code: out.contents, sizeBytes: out.contents.length };
}
