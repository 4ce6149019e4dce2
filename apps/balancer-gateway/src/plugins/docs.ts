import type { FastifyPluginAsync } from 'fastify';
import { docsPage, openApiDocument } from '../openapi.js';

/** `/docs` (a page) and `/docs/json` (OpenAPI 3.1 built from the zod schemas), open whatever the API keys say. */
export const docsPlugin: FastifyPluginAsync<{ hashHeader: string; apiKeys: boolean; rateLimited: boolean }> = async (app, opts) => {
  const doc = openApiDocument(opts);
  const page = docsPage(doc);
  app.get('/docs/json', async () => doc);
  app.get('/docs', async (_req, reply) => reply.type('text/html; charset=utf-8').send(page));
};
