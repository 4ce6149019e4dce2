/* global require, module, __filename */
/* eslint-disable @typescript-eslint/no-require-imports -- nx loads generators with require(): this file is CommonJS */
// The generator is TypeScript; it goes through tsx (a workspace dev dependency) rather than a
// compiled copy that could drift from the source.
const { require: tsxRequire } = require('tsx/cjs/api');

module.exports = tsxRequire('./generator.ts', __filename).default;
