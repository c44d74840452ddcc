'use strict';
// The suite finds a server binary the way the README says, or says how to
// build one.

const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { findBinary, HOW } = require('../binary');

function touch(file, seconds) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '');
  fs.utimesSync(file, seconds, seconds);
}

test('the newest build is used and the variable wins', () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'partnership-bin-'));
  const release = path.join(repo, 'target', 'release', 'partnership');
  const debug = path.join(repo, 'target', 'debug', 'partnership');
  touch(release, 2000000000);
  assert.equal(findBinary(repo, {}), release);
  touch(debug, 2000000100);
  assert.equal(findBinary(repo, {}), debug);
  assert.equal(findBinary(repo, { PARTNERSHIP_BIN: '/opt/p' }), '/opt/p');
});

test('without a build the error says how to make one', () => {
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'partnership-bin-'));
  assert.throws(() => findBinary(repo, {}), { message: HOW });
  assert.match(HOW, /cargo build --release/);
  assert.match(HOW, /PARTNERSHIP_BIN/);
});
