/**
 * Enough of the NATS server configuration format to read infra/nats/auth.conf as data: maps
 * (`key: value`, `key = value`, `key { ... }`), arrays, quoted and bare strings, numbers, `#` and
 * `//` comments, and `$NAME` variable references (resolved from `vars`, as the server resolves
 * them from its environment). Used to check the permissions table without starting a server.
 */
export type ConfValue = string | number | boolean | ConfValue[] | { [key: string]: ConfValue };

type Token = { kind: 'punct'; value: '{' | '}' | '[' | ']' | ':' | '=' | ',' } | { kind: 'word'; value: string; quoted: boolean } | { kind: 'nl' };

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '\n') {
      tokens.push({ kind: 'nl' });
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r' || c === ';') {
      i++;
    } else if (c === '#' || (c === '/' && text[i + 1] === '/')) {
      while (i < text.length && text[i] !== '\n') i++;
    } else if ('{}[]=,'.includes(c) || (c === ':' && /\s/.test(text[i + 1] ?? ' '))) {
      tokens.push({ kind: 'punct', value: c as '{' });
      i++;
    } else if (c === '"' || c === "'") {
      const end = text.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unterminated string at offset ${i}`);
      tokens.push({ kind: 'word', value: text.slice(i + 1, end), quoted: true });
      i = end + 1;
    } else {
      // A colon ends a bare word only before white space (`port: 4222`), so URLs stay whole.
      let j = i;
      while (j < text.length && !' \t\r\n{}[]=,#;'.includes(text[j]!) && !(text[j] === ':' && /[\s]/.test(text[j + 1] ?? ' '))) j++;
      tokens.push({ kind: 'word', value: text.slice(i, j), quoted: false });
      i = j;
    }
  }
  return tokens;
}

export function parseNatsConf(text: string, vars: Record<string, string> = {}): Record<string, ConfValue> {
  const tokens = tokenize(text);
  let pos = 0;
  const peek = () => tokens[pos];
  const skipSeparators = () => {
    while (pos < tokens.length) {
      const t = tokens[pos]!;
      if (t.kind === 'nl' || (t.kind === 'punct' && t.value === ',')) pos++;
      else break;
    }
  };
  const scalar = (t: { value: string; quoted: boolean }): ConfValue => {
    if (t.quoted) return t.value;
    if (t.value.startsWith('$')) {
      const name = t.value.slice(1);
      const v = vars[name];
      if (v === undefined) throw new Error(`variable reference for '${name}' can not be found`);
      return v;
    }
    if (/^-?\d+$/.test(t.value)) return Number(t.value);
    if (t.value === 'true' || t.value === 'false') return t.value === 'true';
    return t.value;
  };
  const value = (): ConfValue => {
    const t = tokens[pos++];
    if (!t || t.kind === 'nl') throw new Error('expected a value');
    if (t.kind === 'punct' && t.value === '{') return map('}');
    if (t.kind === 'punct' && t.value === '[') {
      const items: ConfValue[] = [];
      for (;;) {
        skipSeparators();
        const n = peek();
        if (!n) throw new Error('unterminated array');
        if (n.kind === 'punct' && n.value === ']') {
          pos++;
          return items;
        }
        items.push(value());
      }
    }
    if (t.kind === 'word') return scalar(t);
    throw new Error(`unexpected ${t.value}`);
  };
  const map = (close: '}' | undefined): Record<string, ConfValue> => {
    const out: Record<string, ConfValue> = {};
    for (;;) {
      skipSeparators();
      const t = peek();
      if (!t) {
        if (close) throw new Error('unterminated map');
        return out;
      }
      if (t.kind === 'punct' && t.value === close) {
        pos++;
        return out;
      }
      if (t.kind !== 'word') throw new Error(`expected a key, got ${t.kind === 'punct' ? t.value : 'newline'}`);
      pos++;
      const sep = peek();
      if (sep?.kind === 'punct' && (sep.value === ':' || sep.value === '=')) pos++;
      out[t.value] = value();
    }
  };
  return map(undefined);
}

/** NATS subject matching: `*` matches one token, `>` one or more trailing tokens. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}

export interface NatsUser {
  /** The user as the server names it: a certificate subject (`CN=consensus,O=Synod`) or a plain name. */
  user: string;
  /** The short name: a subject's common name (`consensus`), else the user itself. */
  name: string;
  publish: string[];
  subscribe: string[];
}

/** The users of an `authorization { users: [...] }` block, with allow lists. */
export function natsUsers(conf: Record<string, ConfValue>): NatsUser[] {
  const auth = conf.authorization as { users?: ConfValue[] } | undefined;
  return (auth?.users ?? []).map((raw) => {
    const u = raw as { user: string; permissions?: { publish?: { allow?: string[] }; subscribe?: { allow?: string[] } } };
    const name = /(?:^|,)CN=([^,]+)/.exec(u.user)?.[1] ?? u.user;
    return {
      user: u.user,
      name,
      publish: u.permissions?.publish?.allow ?? [],
      subscribe: u.permissions?.subscribe?.allow ?? [],
    };
  });
}

export function mayPublish(user: NatsUser, subject: string): boolean {
  return user.publish.some((p) => subjectMatches(p, subject));
}

export function maySubscribe(user: NatsUser, subject: string): boolean {
  return user.subscribe.some((p) => subjectMatches(p, subject));
}
