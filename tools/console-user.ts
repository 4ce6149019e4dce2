// `npx tsx --conditions=@synod/source tools/console-user.ts <name> <viewer|admin> [CONSOLE_USERS_FILE]`: a console user entry.
// The password comes from standard input (typed without echo at a terminal, or piped:
// `printf %s "$PW" | npx tsx --conditions=@synod/source tools/console-user.ts alice admin users.json`); only its scrypt hash is
// written. With a file, the entry is added to it (created if need be, mode 0600), replacing a user
// of the same name; without, the entry is printed.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { ConsoleRole, UserName, UsersFileSchema, hashPassword, type ConsoleUser } from '../apps/console/src/users.js';

function fail(message: string): never {
  process.stderr.write(`console-user: ${message}\nusage: npx tsx --conditions=@synod/source tools/console-user.ts <name> <viewer|admin> [CONSOLE_USERS_FILE]  (password on standard input)\n`);
  process.exit(2);
}

async function readPassword(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  process.stderr.write('password: ');
  // Typed characters are not echoed.
  (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => undefined;
  const answer = await new Promise<string>((resolve) => rl.question('', resolve));
  rl.close();
  process.stderr.write('\n');
  return answer;
}

const [name, role, file] = process.argv.slice(2);
if (!UserName.safeParse(name).success) fail(`bad user name ${JSON.stringify(name ?? '')}: 1-64 letters, digits, _ . @ or -`);
const r = ConsoleRole.safeParse(role);
if (!r.success) fail(`bad role ${JSON.stringify(role ?? '')}: viewer or admin`);
const password = await readPassword();
if (password.length < 12) fail('the password must have at least 12 characters');
const entry: ConsoleUser = { name: name!, role: r.data, scrypt: await hashPassword(password) };
if (file === undefined) {
  process.stdout.write(`${JSON.stringify(entry)}\n`);
} else {
  let users: ConsoleUser[] = [];
  if (existsSync(file)) {
    const parsed = UsersFileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (!parsed.success) fail(`${file} is not a console users file`);
    users = parsed.data.users.filter((u) => u.name !== entry.name);
  }
  writeFileSync(file, `${JSON.stringify({ users: [...users, entry] }, null, 2)}\n`, { mode: 0o600 });
  process.stderr.write(`console-user: ${entry.name} (${entry.role}) written to ${file}\n`);
}
