import { randomBytes } from 'node:crypto';
import { GatewayAdminApplied, ReplyEnvelope, SynodError, subjects, type GatewayAdminCommand } from '@synod/protocol';
import { connectionInboxPrefix, type Logger, type NatsConnection } from '@synod/service-kit';
import type { AdminAnswer, AdminChange } from './plugins/admin.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface AdminRelayOptions {
  nc: NatsConnection;
  namespace: string;
  /** This gateway instance's id and its number of processes: the answers the relay waits for. */
  gateway: string;
  processes: number;
  /** How long to wait for them. */
  timeoutMs: number;
  log: Logger;
}

/**
 * The admin routes' way to the processes: a change is published as a request on
 * `<ns>.gateway.admin`, which every process of every gateway instance of the namespace applies
 * and answers; the relay resolves once all of this instance's own processes have answered. If one
 * refused the change (an unknown worker or service) its refusal is the answer; if some did not
 * answer in time, TIMEOUT says how many did.
 */
export class AdminRelay {
  constructor(private readonly opts: AdminRelayOptions) {}

  apply(change: AdminChange): Promise<AdminAnswer> {
    const { nc, namespace, gateway, processes, timeoutMs } = this.opts;
    const id = randomBytes(8).toString('hex');
    const command: GatewayAdminCommand = { type: 'admin', v: 1, from: `gateway/${gateway}`, id, ...change };
    // Under the connection's own inbox prefix (`_INBOX.<user>`), the only one its user may subscribe to.
    const inbox = `${connectionInboxPrefix(nc)}.admin-${id}`;
    const answers = new Map<number, GatewayAdminApplied>();
    return new Promise<AdminAnswer>((resolve) => {
      const finish = (answer: AdminAnswer): void => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(answer);
      };
      const timer = setTimeout(() => {
        this.opts.log.warn({ id, change, answered: [...answers.keys()], processes }, 'admin change not applied by every process of this gateway in time');
        finish({ ok: false, error: new SynodError('TIMEOUT', `${answers.size} of the ${processes} processes of this gateway applied the change within ${timeoutMs} ms`) });
      }, timeoutMs);
      const sub = nc.subscribe(inbox, {
        callback: (err, msg) => {
          if (err) return;
          const applied = appliedIn(msg.data);
          // Other gateway instances answer too: only this instance's processes count here.
          if (applied === undefined || applied.gateway !== gateway || applied.process > processes) return;
          answers.set(applied.process, applied);
          if (answers.size === processes) finish(combine(answers));
        },
      });
      try {
        // The subscription goes out first on the same connection, so no answer can arrive before it.
        nc.publish(subjects.gatewayAdmin(namespace), encoder.encode(JSON.stringify(command)), { reply: inbox });
      } catch (err) {
        finish({ ok: false, error: new SynodError('UNAVAILABLE', `could not publish the change: ${err instanceof Error ? err.message : String(err)}`, { cause: err }) });
      }
    });
  }
}

function appliedIn(data: Uint8Array): GatewayAdminApplied | undefined {
  try {
    const reply = ReplyEnvelope.safeParse(JSON.parse(decoder.decode(data)));
    if (!reply.success || !('result' in reply.data)) return undefined;
    const applied = GatewayAdminApplied.safeParse(reply.data.result);
    return applied.success ? applied.data : undefined;
  } catch {
    return undefined;
  }
}

/** The first refusal (by process number), else what process 1 left in force. */
function combine(answers: Map<number, GatewayAdminApplied>): AdminAnswer {
  const ordered = [...answers.values()].sort((a, b) => a.process - b.process);
  const refused = ordered.find((a) => !a.ok);
  if (refused) return { ok: false, error: refused.error ? SynodError.fromBody(refused.error) : new SynodError('INTERNAL', `process ${refused.process} refused the change`) };
  return { ok: true, state: ordered[0]!.state ?? {} };
}
