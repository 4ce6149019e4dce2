import type { AnyEngineModule } from '@synod/replog';
import { paxosEngine } from '@synod/paxos';
import { raftEngine } from '@synod/raft';

/**
 * The consensus engines Synod runs, by name: the replica's `ENGINE` and `restore --engine`, the
 * simulator's `--engine` and the store's process tests all read this table. An engine is one module
 * (libs/replog's EngineModule); adding one is its lib and one line here.
 */
export const ENGINES: ReadonlyMap<string, AnyEngineModule> = new Map<string, AnyEngineModule>([
  [raftEngine.name, raftEngine],
  [paxosEngine.name, paxosEngine],
]);

/** The names of the table, in its order. */
export const ENGINE_NAMES: readonly string[] = [...ENGINES.keys()];

/** What a replica runs when `ENGINE` is not set: the first engine of the table. */
export const DEFAULT_ENGINE: string = ENGINE_NAMES[0] ?? '';

/** `expected one of ...`, for messages about a bad engine name. */
export const KNOWN_ENGINES = `expected one of ${ENGINE_NAMES.join(', ')}`;

/** The engine named `name`; throws for a name not in the table (callers check names at their boundary first). */
export function engineNamed(name: string): AnyEngineModule {
  const engine = ENGINES.get(name);
  if (!engine) throw new Error(`unknown engine ${JSON.stringify(name)}: ${KNOWN_ENGINES}`);
  return engine;
}
