import { STRATEGY_NAMES } from '@synod/balancing';
import { ErrorEnvelope, RouteParams, ServiceName, ServiceView, WorkerId, WorkersResponse } from '@synod/protocol';
import { z } from 'zod';

/** Schemas of the gateway's own HTTP API beside the shared ones in @synod/protocol (the OpenAPI document is built from all of them). */
export const StrategyNameSchema = z.enum(STRATEGY_NAMES).describe('a balancing strategy');

export const WeightBody = z.object({ weight: z.number().int().min(0).max(1000).describe('relative share under weighted strategies; 0 takes no traffic') });
export const StrategyBody = z.object({ strategy: StrategyNameSchema });
export const WorkerParams = z.object({ id: WorkerId });
export const ServiceParams = z.object({ service: ServiceName });

export const ServicesResponse = z.object({
  services: z.array(ServiceView),
  pending: z.number().describe('requests waiting for a free worker right now'),
  pendingPeak: z.number().describe('most requests that ever waited at once'),
});

export { ErrorEnvelope, RouteParams, WorkersResponse };
