'use strict';
// Which partnership server binary the suite starts.

const fs = require('node:fs');
const path = require('node:path');

const HOW =
  'no partnership binary found: build one at the repository root with ' +
  '`cargo build --release` (or `cargo build`), or set PARTNERSHIP_BIN to its path';

/**
 * PARTNERSHIP_BIN when set; else the most recently built of
 * target/release/partnership and target/debug/partnership under `repo`.
 * Throws an error saying how to get one when there is none.
 */
function findBinary(repo, env = process.env) {
  if (env.PARTNERSHIP_BIN) return env.PARTNERSHIP_BIN;
  const built = ['release', 'debug']
    .map((profile) => path.join(repo, 'target', profile, 'partnership'))
    .filter((p) => fs.existsSync(p) && fs.statSync(p).isFile());
  if (built.length === 0) throw new Error(HOW);
  built.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs);
  return built[0];
}

module.exports = { findBinary, HOW };
