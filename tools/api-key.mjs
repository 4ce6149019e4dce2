#!/usr/bin/env node
// `node tools/api-key.mjs <name> [file]`: makes a new API key for the gateway's API_KEYS_FILE.
// Prints the key once (give it to the client; it is not stored) and the file entry, which holds
// only the key's SHA-256. With a file, adds the entry to it (creating the file if need be).
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [name, file] = process.argv.slice(2);
if (!name || !/^[\w.@-]{1,64}$/.test(name)) {
  process.stderr.write('usage: node tools/api-key.mjs <name> [API_KEYS_FILE]  (name: 1-64 letters, digits, _, ., @ or -)\n');
  process.exit(2);
}
const key = `sk_${randomBytes(24).toString('base64url')}`;
const entry = { name, sha256: createHash('sha256').update(key).digest('hex') };
if (file) {
  let doc = { keys: [] };
  if (existsSync(file)) {
    try {
      doc = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      process.stderr.write(`${file} is not JSON: ${err.message}\n`);
      process.exit(2);
    }
    if (!Array.isArray(doc.keys)) {
      process.stderr.write(`${file} has no "keys" array\n`);
      process.exit(2);
    }
    if (doc.keys.some((k) => k.name === name)) {
      process.stderr.write(`${file} already has a key named ${name}\n`);
      process.exit(2);
    }
  }
  doc.keys.push(entry);
  writeFileSync(file, `${JSON.stringify(doc, null, 2)}\n`, { mode: 0o600 });
  process.stderr.write(`added ${name} to ${file}\n`);
} else {
  process.stderr.write(`entry for API_KEYS_FILE's "keys": ${JSON.stringify(entry)}\n`);
}
process.stdout.write(`${key}\n`);
