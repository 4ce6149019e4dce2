import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { StatefulSet, Deployment } from 'kubernetes-models/apps/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { IDENTITIES, repoRoot } from '../src/index.js';

/**
 * infra/k8s validated offline: every object against the Kubernetes object schemas that the
 * `kubernetes-models` package ships (types, required fields, formats), then the relations no
 * schema sees: selectors, the headless service, claims, secrets, probes and the apps' env.
 */

const dir = join(repoRoot, 'infra', 'k8s');
/** Not Kubernetes objects: Helm values and the kustomize file (checked separately below). */
const NOT_OBJECTS = new Set(['nats-values.yaml', 'kustomization.yaml']);

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const models: Record<string, new (data: never) => { validate(): void }> = {
  'apps/v1/StatefulSet': StatefulSet,
  'apps/v1/Deployment': Deployment,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'v1/Service': Service,
};

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && !NOT_OBJECTS.has(f));
const objects: (K8sObject & { file: string })[] = files.flatMap((file) =>
  parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((doc) => {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]!.message}`);
    return { ...(doc.toJS() as K8sObject), file };
  }),
);
const find = <T = K8sObject>(kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name) as T | undefined;

interface Container {
  name: string;
  image: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface Workload extends K8sObject {
  spec: {
    replicas: number;
    serviceName?: string;
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string> };
      spec: {
        containers: Container[];
        securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; fsGroup?: number };
        volumes?: { name: string; secret?: { secretName: string; defaultMode?: number } }[];
      };
    };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { accessModes: string[]; resources: { requests: { storage: string } } } }[];
  };
}
const workloads = objects.filter((o) => o.kind === 'Deployment' || o.kind === 'StatefulSet') as unknown as (Workload & { file: string })[];
const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e]));

describe('infra/k8s', () => {
  it.each(objects.map((o) => [`${o.file}: ${o.kind}/${o.metadata.name}`, o] as const))('%s is a valid Kubernetes object', (_name, o) => {
    const Model = models[`${o.apiVersion}/${o.kind}`];
    expect(Model, `no schema for ${o.apiVersion} ${o.kind}`).toBeDefined();
    const { file: _file, ...data } = o;
    expect(() => new Model!(data as never).validate()).not.toThrow();
  });

  it('rejects what the schemas forbid (the validation is not vacuous)', () => {
    const broken = structuredClone(find<Workload>('StatefulSet', 'synod-consensus')!) as Workload & { file?: string };
    delete broken.file;
    (broken.spec.template.spec.containers[0]!.ports![0] as { containerPort: unknown }).containerPort = 'ninety';
    expect(() => new StatefulSet(broken as never).validate()).toThrow(/containerPort/);
    const noSelector = structuredClone(find<Workload>('Deployment', 'synod-lock-manager')!) as Partial<Workload> & { file?: string };
    delete noSelector.file;
    delete (noSelector.spec as Partial<Workload['spec']>).selector;
    expect(() => new Deployment(noSelector as never).validate()).toThrow(/selector/);
  });

  it('runs consensus as a StatefulSet of an odd number of replicas, a claim each, behind a headless service', () => {
    const sts = find<Workload>('StatefulSet', 'synod-consensus')!;
    expect(sts.spec.replicas % 2).toBe(1);
    expect(sts.spec.replicas).toBeGreaterThanOrEqual(3);
    const svc = find<{ spec: { clusterIP: string; selector: Record<string, string> } }>('Service', sts.spec.serviceName!)!;
    expect(svc.spec.clusterIP).toBe('None');
    expect(svc.spec.selector).toEqual(sts.spec.selector.matchLabels);
    const claim = sts.spec.volumeClaimTemplates![0]!;
    expect(claim.spec.accessModes).toEqual(['ReadWriteOnce']);
    const c = sts.spec.template.spec.containers[0]!;
    const env = envOf(c);
    expect(c.volumeMounts).toContainEqual({ name: claim.metadata.name, mountPath: env.DATA_DIR!.value });
    // NODE_ID is the pod name; PEERS lists exactly the pod names of the replicas.
    expect(env.NODE_ID!.valueFrom!.fieldRef!.fieldPath).toBe('metadata.name');
    expect(env.PEERS!.value).toBe(Array.from({ length: sts.spec.replicas }, (_, i) => `${sts.metadata.name}-${i}`).join(','));
    expect(env.ENGINE!.value).toBe('raft');
    // The volume is writable by the image's non-root user.
    expect(sts.spec.template.spec.securityContext).toMatchObject({ runAsUser: 1000, fsGroup: 1000 });
    const pdb = find<{ spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } }>('PodDisruptionBudget', 'synod-consensus')!;
    expect(pdb.spec.maxUnavailable).toBe(Math.floor(sts.spec.replicas / 2));
    expect(pdb.spec.selector.matchLabels).toEqual(sts.spec.selector.matchLabels);
  });

  it('runs the stateless pieces as Deployments', () => {
    expect(workloads.filter((w) => w.kind === 'Deployment').map((w) => w.metadata.name).sort()).toEqual([
      'synod-balancer-gateway',
      'synod-console',
      'synod-lock-manager',
      'synod-sample-worker',
    ]);
    const gateway = find<Workload>('Deployment', 'synod-balancer-gateway')!;
    const svc = find<{ spec: { selector: Record<string, string>; ports: { port: number; targetPort: string }[] } }>('Service', 'synod-balancer-gateway')!;
    expect(svc.spec.selector).toEqual(gateway.spec.selector.matchLabels);
    expect(gateway.spec.template.spec.containers[0]!.ports).toContainEqual({ name: svc.spec.ports[0]!.targetPort, containerPort: Number(envOf(gateway.spec.template.spec.containers[0]!).PORT!.value) });
  });

  it.each(workloads.map((w) => [w.metadata.name, w] as const))('%s: selector, probes on HTTP_PORT, non-root, its own NATS identity from its own Secret', (_name, w) => {
    expect(w.spec.template.metadata.labels).toMatchObject(w.spec.selector.matchLabels);
    expect(w.spec.template.spec.securityContext?.runAsNonRoot).toBe(true);
    const c = w.spec.template.spec.containers[0]!;
    const env = envOf(c);
    const ops = c.ports!.find((p) => p.name === 'ops')!;
    expect(ops.containerPort).toBe(Number(env.HTTP_PORT!.value));
    expect(c.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'ops' });
    expect(c.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'ops' });
    expect(env.NATS_URL!.value).toBe('nats://nats:4222');
    expect(env.SYNOD_NAMESPACE!.value).toBe('synod');
    const user = env.NATS_USER!.value!;
    expect(Object.keys(IDENTITIES)).toContain(user);
    // The client certificate of that identity, from the Secret of that service only, read-only,
    // readable by the pod's group and nobody else.
    expect(env.NATS_PASSWORD).toBeUndefined();
    const mount = c.volumeMounts!.find((m) => m.name === 'nats-tls')!;
    expect(mount.readOnly).toBe(true);
    expect(Object.fromEntries(['NATS_TLS_CA', 'NATS_TLS_CERT', 'NATS_TLS_KEY'].map((v) => [v, env[v]?.value]))).toEqual({
      NATS_TLS_CA: `${mount.mountPath}/ca.crt`,
      NATS_TLS_CERT: `${mount.mountPath}/tls.crt`,
      NATS_TLS_KEY: `${mount.mountPath}/tls.key`,
    });
    const volume = w.spec.template.spec.volumes!.find((v) => v.name === 'nats-tls')!;
    expect(volume.secret).toEqual({ secretName: `synod-nats-tls-${user}`, defaultMode: 0o440 });
    expect(w.spec.template.spec.securityContext?.fsGroup).toBe(1000);
    expect(c.image).toMatch(/^synod\/[a-z-]+:latest$/);
  });

  it('ships no secret (certificates are made per cluster), and kustomize lists every manifest', () => {
    expect(objects.filter((o) => o.kind === 'Secret')).toEqual([]);
    expect(readdirSync(dir).join(' ')).not.toMatch(/\.pem|\.key|\.crt/);
    const kustomization = parseAllDocuments(readFileSync(join(dir, 'kustomization.yaml'), 'utf8'))[0]!.toJS() as { resources: string[]; images: { name: string }[] };
    expect([...kustomization.resources].sort()).toEqual([...files].sort());
    expect(kustomization.images.map((i) => i.name).sort()).toEqual(workloads.map((w) => w.spec.template.spec.containers[0]!.image.split(':')[0]).sort());
  });
});
