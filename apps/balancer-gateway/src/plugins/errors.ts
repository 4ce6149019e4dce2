import type { FastifyError } from 'fastify';
import fp from 'fastify-plugin';
import { HTTP_HEADERS, SynodError, toSynodError } from '@synod/protocol';
import type { Logger } from '@synod/service-kit';

/** Seconds a client should wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Body reading and the error envelope for the whole app (not encapsulated: fastify-plugin). A JSON
 * body (`application/json`, `application/*+json`) is read as bytes and not parsed: it goes to the
 * worker as the client sent it and the worker's schema judges it (its envelope answers malformed
 * JSON as BAD_REQUEST); only an empty body is refused here. Every error is the catalog's envelope
 * with the catalog's status, and every 503 carries `retry-after`.
 */
export const errorsPlugin = fp<{ log: Logger }>(async (app, { log }) => {
  app.removeAllContentTypeParsers();
  const bytes = (_req: unknown, body: string | Buffer, done: (err: Error | null, body?: unknown) => void): void => {
    const raw = typeof body === 'string' ? Buffer.from(body) : body;
    if (raw.length === 0) done(new SynodError('BAD_REQUEST', 'the JSON body is empty'));
    else done(null, raw);
  };
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, bytes);
  app.addContentTypeParser(/^application\/[\w.+-]*\+json$/, { parseAs: 'buffer' }, bytes);
  app.setErrorHandler((err, req, reply) => {
    const e = fromFastifyError(err);
    if (e.code === 'INTERNAL') log.error({ err, reqId: req.id }, 'request failed');
    if (e.httpStatus === 503) void reply.header('retry-after', String(RETRY_AFTER_SECONDS));
    void reply.code(e.httpStatus).header(HTTP_HEADERS.requestId, req.id).send(e.toEnvelope());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new SynodError('NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}`);
    void reply.code(404).send(e.toEnvelope());
  });
});

/** A fastify error (body limit, media type, bad url...) as the catalog's error. */
export function fromFastifyError(err: unknown): SynodError {
  if (err instanceof SynodError) return err;
  const fe = err as Partial<FastifyError>;
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SynodError('PAYLOAD_TOO_LARGE', fe.message ?? 'body too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SynodError('UNSUPPORTED_MEDIA_TYPE', 'the body must be JSON (content-type: application/json)');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new SynodError('BAD_REQUEST', 'the JSON body is empty');
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new SynodError('BAD_REQUEST', 'content-length does not match the body');
    default:
      if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
        return new SynodError('BAD_REQUEST', fe.message ?? 'bad request');
      }
      return toSynodError(err);
  }
}
