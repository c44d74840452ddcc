'use strict';
// A ministry's program using the npm package: scripts/client-packages.sh
// installs the `npm pack` tarball into a fresh directory, copies this file
// there and runs it against a server it started with auth on, the token in
// PARTNERSHIP_TOKEN (which `connect` sends). Exits non-zero on the first
// check that fails.
//
//   node check-installed.js ADDRESS

const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const path = require('node:path');

const here = path.resolve(__dirname);
const entry = require.resolve('partnership-client');
const { connect, call, errorDetails, grpc, PROTO_DIR } = require('partnership-client');

async function rejected(promise, code) {
  try {
    await promise;
  } catch (err) {
    assert.equal(err.code, code, `expected ${code}, got ${err.code}: ${err.details}`);
    return err;
  }
  throw new assert.AssertionError({ message: `expected code ${code}, the call succeeded` });
}

(async () => {
  const address = process.argv[2];
  assert.ok(address, 'usage: node check-installed.js ADDRESS');
  assert.ok(process.env.PARTNERSHIP_TOKEN, 'PARTNERSHIP_TOKEN is not set');
  // The client and the .proto files it loads come from the installed package.
  const installed = path.join(here, 'node_modules', 'partnership-client');
  assert.equal(path.dirname(entry), installed);
  assert.equal(PROTO_DIR, path.join(installed, 'proto'));

  const anonymous = connect(address, grpc.credentials.createInsecure(), '');
  await rejected(call(anonymous.smes, 'ListSmes', {}), grpc.status.UNAUTHENTICATED);
  anonymous.smes.close();

  const { smes } = connect(address);
  const id = `node-pkg-${crypto.randomBytes(4).toString('hex')}`;
  const displayName = `Node package check ${id}`;
  const created = await call(smes, 'CreateSme', {
    sme: { display_name: displayName, size: 'ENTERPRISE_SIZE_SMALL', employee_count: 12 },
    sme_id: id,
    request_id: crypto.randomUUID(),
  });
  assert.equal(created.name, `smes/${id}`);
  assert.ok(created.etag);

  const got = await call(smes, 'GetSme', { name: created.name });
  assert.equal(got.display_name, displayName);
  assert.equal(got.employee_count, 12);

  const page = await call(smes, 'ListSmes', { filter: `display_name = "${displayName}"` });
  assert.deepEqual(page.smes.map((s) => s.name), [created.name]);

  const bad = await rejected(call(smes, 'GetSme', { name: 'not a name' }), grpc.status.INVALID_ARGUMENT);
  assert.deepEqual(errorDetails(bad).BadRequest.field_violations.map((v) => v.field), ['name']);
  const missing = await rejected(call(smes, 'GetSme', { name: `smes/no-such-${id}` }), grpc.status.NOT_FOUND);
  assert.equal(errorDetails(missing).ErrorInfo.reason, 'RESOURCE_NOT_FOUND');

  const deleted = await call(smes, 'DeleteSme', { name: created.name });
  assert.ok(deleted.delete_time);
  smes.close();
  console.log(
    `node package: created, got, listed and deleted ${created.name}; UNAUTHENTICATED, ` +
      `INVALID_ARGUMENT (name) and NOT_FOUND (RESOURCE_NOT_FOUND) decoded; protos from ${PROTO_DIR}`,
  );
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
