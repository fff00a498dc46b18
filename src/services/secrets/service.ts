// Secrets: values sealed with the master key (vault.ts) before they reach the store, opened only to
// hand them to the instances of functions granted them (as environment variables, and through the
// SDK's secrets.get), and redacted from everything those instances print. The admin API and the CLI
// can set, list (names only) and delete them; nothing returns a value.
import { NimbusError } from '../../errors.ts';
import type { FunctionRecord, Store } from '../../store/types.ts';
import type { Clock } from '../../util/clock.ts';
import { Redactor } from './redact.ts';
import { loadMasterKey, open, seal, validateSecretName, validateSecretValue } from './vault.ts';

export class SecretService {
  readonly #store: Store;
  readonly #dataDir: string;
  readonly #clock: Clock;
  #key: ReturnType<typeof loadMasterKey> | undefined;

  constructor(store: Store, dataDir: string, clock: Clock) {
    this.#store = store;
    this.#dataDir = dataDir;
    this.#clock = clock;
  }

  /** The master key, loaded (or created) on first use. */
  #master(): ReturnType<typeof loadMasterKey> {
    this.#key ??= loadMasterKey(this.#dataDir);
    return this.#key;
  }

  async set(name: string, value: unknown): Promise<{ name: string; updatedAt: string }> {
    validateSecretName(name);
    if (typeof value !== 'string') throw new NimbusError('BAD_REQUEST', 'value: the secret value must be a string');
    validateSecretValue(value);
    const k = this.#master();
    const now = this.#clock.now();
    await this.#store.putSecret(name, seal(k.key, k.keyId, name, value), now);
    return { name, updatedAt: new Date(now).toISOString() };
  }

  async list(): Promise<{ name: string; updatedAt: string; grantedTo: string[] }[]> {
    return (await this.#store.listSecrets()).map((s) => ({ name: s.name, updatedAt: new Date(s.updatedAt).toISOString(), grantedTo: s.grantedTo }));
  }

  async delete(name: string): Promise<void> {
    if (!(await this.#store.deleteSecret(name))) throw new NimbusError('SECRET_NOT_FOUND', `no secret named "${name}"; \`nimbus secrets ls\` lists them`);
  }

  /** Throws SECRET_NOT_FOUND naming the first granted secret that is not set (a deploy checks this). */
  async checkGranted(fnName: string, names: string[]): Promise<void> {
    for (const name of names) {
      if (!(await this.#store.getSecret(name))) {
        throw new NimbusError('SECRET_NOT_FOUND', `functions.${fnName}.secrets: no secret named "${name}"; set it first with \`nimbus secrets set ${name}\``);
      }
    }
  }

  /** The values of the secrets `fn` is granted, by name. */
  async valuesFor(fn: FunctionRecord): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    if (fn.secrets.length === 0) return out;
    const k = this.#master();
    for (const name of fn.secrets) {
      const s = await this.#store.getSecret(name);
      if (!s) throw new NimbusError('SECRET_NOT_FOUND', `function "${fn.name}" is granted secret "${name}", which is not set; set it with \`nimbus secrets set ${name}\``);
      out[name] = open(k.key, k.keyId, name, s.sealed);
    }
    return out;
  }

  /** One secret for the SDK's secrets.get: only one the calling function is granted. */
  async get(fn: FunctionRecord, name: unknown): Promise<string> {
    if (typeof name !== 'string' || !fn.secrets.includes(name)) {
      throw new NimbusError('ACCESS_DENIED', `function "${fn.name}" is not granted secret ${JSON.stringify(name)}; grant it under functions.${fn.name}.secrets`);
    }
    return (await this.valuesFor({ ...fn, secrets: [name] }))[name]!;
  }

  static redactor(values: Record<string, string>): Redactor | undefined {
    const list = Object.values(values);
    return list.length ? new Redactor(list) : undefined;
  }
}
