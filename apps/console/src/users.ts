import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';

/** A console user's role: viewers read, admins also change things. */
export const ConsoleRole = z.enum(['viewer', 'admin']);
export type ConsoleRole = z.infer<typeof ConsoleRole>;

export const UserName = z.string().regex(/^[\w.@-]{1,64}$/, 'expected a user name: 1-64 letters, digits, _ . @ or -');

/** `scrypt$<N>$<r>$<p>$<salt, base64>$<hash, base64>`, as `tools/console-user.mjs` writes it. */
const SCRYPT = /^scrypt\$(\d{1,7})\$(\d{1,3})\$(\d{1,3})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/;

export const ConsoleUser = z.object({
  name: UserName,
  role: ConsoleRole,
  scrypt: z.string().regex(SCRYPT, 'expected scrypt$N$r$p$salt$hash (tools/console-user.mjs makes one)'),
});
export type ConsoleUser = z.infer<typeof ConsoleUser>;

export const UsersFileSchema = z
  .object({ users: z.array(ConsoleUser).min(1, 'expected at least one user').max(1000) })
  .refine((f) => new Set(f.users.map((u) => u.name)).size === f.users.length, 'expected each user name once');

/** `CONSOLE_USERS_FILE`: read and checked at start; a bad file fails the configuration, naming the variable. */
export const UsersFile = z
  .string()
  .max(4096)
  .transform((path, ctx): ConsoleUser[] => {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      ctx.addIssue({ code: 'custom', message: `expected a readable JSON file of console users (${e.code ?? e.message}: ${path})` });
      return z.NEVER;
    }
    const parsed = UsersFileSchema.safeParse(json);
    if (!parsed.success) {
      ctx.addIssue({ code: 'custom', message: `expected { "users": [{ "name", "role", "scrypt" }] } in ${path}: ${z.prettifyError(parsed.error)}` });
      return z.NEVER;
    }
    return parsed.data.users;
  })
  .optional();

const scrypt = (password: string, salt: Buffer, keylen: number, options: ScryptOptions): Promise<Buffer> =>
  new Promise((resolve, reject) => scryptCb(password, salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key))));

/** Default cost: N=2^15, r=8, p=1 (OWASP's floor for scrypt), 32 MiB of memory per check. */
export const SCRYPT_COST = { N: 32768, r: 8, p: 1 } as const;

export async function hashPassword(password: string, cost: { N: number; r: number; p: number } = SCRYPT_COST): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, 32, { ...cost, maxmem: 256 * cost.N * cost.r });
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, encoded: string): Promise<boolean> {
  const m = SCRYPT.exec(encoded);
  if (!m) return false;
  const [, n, r, p, salt, hash] = m;
  const want = Buffer.from(hash!, 'base64');
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  const got = await scrypt(password, Buffer.from(salt!, 'base64'), want.length, { ...cost, maxmem: 256 * cost.N * cost.r });
  return got.length === want.length && timingSafeEqual(got, want);
}

/** A dummy entry checked for unknown users, so the answer takes as long as for a known one. */
let decoy: string | undefined;

/** The user whose name and password match, or undefined (in about the same time either way). */
export async function authenticate(users: readonly ConsoleUser[], name: string, password: string): Promise<ConsoleUser | undefined> {
  const user = users.find((u) => u.name === name);
  decoy ??= await hashPassword(randomBytes(16).toString('hex'));
  const ok = await verifyPassword(password, user?.scrypt ?? decoy);
  return ok && user ? user : undefined;
}

/** `CONSOLE_DEV=true`: one admin with a password made now, printed once in the ready line. */
export async function developmentAdmin(): Promise<{ user: ConsoleUser; password: string }> {
  const password = randomBytes(18).toString('base64url');
  return { user: { name: 'admin', role: 'admin', scrypt: await hashPassword(password) }, password };
}
