// The image's HEALTHCHECK: node itself probes the ops server, so the image needs no shell or curl.
// Healthy when GET http://127.0.0.1:$HTTP_PORT<path> answers 2xx within 2 s; the path is the first
// argument (default /readyz: connected and serving). Exit 0 healthy, 1 not.
/* global fetch, AbortSignal -- Node 18+ globals */
const port = process.env.HTTP_PORT;
const path = process.argv[2] ?? '/readyz';
if (!port) process.exit(0);
try {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
  process.exit(res.ok ? 0 : 1);
} catch {
  process.exit(1);
}
