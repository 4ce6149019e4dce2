import { z } from 'zod';

/** Schemas of the sample worker's endpoints (the reference service, `sample` by default). */
export const EchoInput = z.object({ message: z.string().max(64 * 1024) });
export const EchoOutput = z.object({ message: z.string(), worker: z.string() });

/** CPU work of a requested size: `rounds` iterations of SHA-256 over `data`. */
export const HashInput = z.object({
  data: z.string().max(64 * 1024).default(''),
  rounds: z.number().int().min(1).max(1_000_000),
});
export const HashOutput = z.object({ digest: z.string(), rounds: z.number(), worker: z.string() });

export const SleepInput = z.object({ ms: z.number().int().min(0).max(60_000) });
export const SleepOutput = z.object({ sleptMs: z.number(), worker: z.string() });

export type EchoInput = z.infer<typeof EchoInput>;
export type EchoOutput = z.infer<typeof EchoOutput>;
export type HashInput = z.infer<typeof HashInput>;
export type HashOutput = z.infer<typeof HashOutput>;
export type SleepInput = z.infer<typeof SleepInput>;
export type SleepOutput = z.infer<typeof SleepOutput>;
