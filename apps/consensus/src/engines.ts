import type { AnyEngineModule } from '@synod/replog';
import { paxosEngine } from '@synod/paxos';
import { raftEngine } from '@synod/raft';

/**
 * The consensus engines a replica can run, by the name `ENGINE` (and `restore --engine`) takes. An
 * engine is one module (libs/replog's EngineModule); adding one is its lib and one line here.
 */
export const ENGINES: ReadonlyMap<string, AnyEngineModule> = new Map<string, AnyEngineModule>([
  [raftEngine.name, raftEngine],
  [paxosEngine.name, paxosEngine],
]);

/** What a replica runs when `ENGINE` is not set: the first engine of the table. */
export const DEFAULT_ENGINE: string = ENGINES.keys().next().value ?? '';

/** `expected one of ...`, for messages about a bad engine name. */
export const KNOWN_ENGINES = `expected one of ${[...ENGINES.keys()].join(', ')}`;

/** The engine named `name`; throws for a name not in the table (config.ts refuses those at start). */
export function engineNamed(name: string): AnyEngineModule {
  const engine = ENGINES.get(name);
  if (!engine) throw new Error(`unknown engine ${JSON.stringify(name)}: ${KNOWN_ENGINES}`);
  return engine;
}
