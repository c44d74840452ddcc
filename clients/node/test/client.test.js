'use strict';
// The Node client against a live server started on a fresh SQLite file.

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { connect, call, errorDetails, grpc } = require('../client');

const { findBinary } = require('../binary');

const binary = findBinary(path.resolve(__dirname, '..', '..', '..'));
let server;
let clients;
let address;
const tokens = {};

/** A token from `partnership token new`, its entry appended to `callers`. */
function mint(name, scopes, callers) {
  const out = execFileSync(binary, ['token', 'new', name, '--scopes', scopes], {
    stdio: ['ignore', 'pipe', fs.openSync(callers, 'a')],
  });
  return out.toString().trim();
}

before(async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'partnership-node-'));
  const callers = path.join(dir, 'callers.toml');
  tokens.suite = mint('node-suite', 'read,write,admin', callers);
  tokens.reader = mint('node-reader', 'read', callers);
  server = spawn(
    binary,
    [
      'serve',
      '--listen',
      '127.0.0.1:0',
      '--metrics-listen',
      'off',
      '--auth-config',
      callers,
      '--database-url',
      `sqlite://${dir}/node.db?mode=rwc`,
    ],
    { env: { ...process.env, PARTNERSHIP_LOG_FORMAT: 'text', RUST_LOG: 'info' }, stdio: ['ignore', 'pipe', 'ignore'] },
  );
  address = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server did not report its address')), 60000);
    const lines = readline.createInterface({ input: server.stdout });
    lines.on('line', (line) => {
      const m = line.match(/listening.*addr=(\S+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    server.on('exit', () => reject(new Error('server exited')));
  });
  clients = connect(address, grpc.credentials.createInsecure(), tokens.suite);
});

test('no token is UNAUTHENTICATED; a read token may not write', async () => {
  const anonymous = connect(address, grpc.credentials.createInsecure(), '');
  const reader = connect(address, grpc.credentials.createInsecure(), tokens.reader);
  try {
    await assert.rejects(call(anonymous.companies, 'GetCompany', { name: 'companies/nope' }), (err) => {
      assert.equal(err.code, grpc.status.UNAUTHENTICATED);
      return true;
    });
    await call(reader.companies, 'ListCompanies', {});
    await assert.rejects(
      call(reader.companies, 'CreateCompany', { company: { display_name: 'Nope' }, company_id: 'nope' }),
      (err) => {
        assert.equal(err.code, grpc.status.PERMISSION_DENIED);
        const info = errorDetails(err).ErrorInfo;
        assert.equal(info.reason, 'SCOPE_MISSING');
        assert.equal(info.metadata.scope, 'write');
        assert.equal(info.metadata.caller, 'node-reader');
        return true;
      },
    );
  } finally {
    for (const c of [...Object.values(anonymous), ...Object.values(reader)]) c.close();
  }
});

after(() => {
  for (const c of Object.values(clients || {})) c.close();
  if (server) server.kill('SIGTERM');
});

test('create, get, list, update, delete and undelete a company', async () => {
  const { companies } = clients;
  const created = await call(companies, 'CreateCompany', {
    company: { display_name: ' Hanwha Ocean ', business_number: '1208147521', size: 'ENTERPRISE_SIZE_LARGE' },
    company_id: 'hanwha-ocean',
  });
  assert.equal(created.name, 'companies/hanwha-ocean');
  assert.equal(created.display_name, 'Hanwha Ocean');
  assert.equal(created.business_number, '120-81-47521');

  const got = await call(companies, 'GetCompany', { name: created.name });
  assert.deepEqual(got, created);

  const page = await call(companies, 'ListCompanies', { page_size: 1 });
  assert.ok(page.total_size >= 1);
  assert.equal(page.companies.length, 1);

  const updated = await call(companies, 'UpdateCompany', {
    company: { name: created.name, region: 'REGION_GYEONGNAM', etag: created.etag },
    update_mask: { paths: ['region'] },
  });
  assert.equal(updated.region, 'REGION_GYEONGNAM');
  await assert.rejects(
    call(companies, 'UpdateCompany', { company: { name: created.name, display_name: 'x', etag: created.etag } }),
    (err) => err.code === grpc.status.ABORTED,
  );

  const deleted = await call(companies, 'DeleteCompany', { name: created.name, etag: updated.etag });
  assert.ok(deleted.delete_time);
  const restored = await call(companies, 'UndeleteCompany', { name: created.name });
  assert.equal(restored.delete_time, null);
});

test('programs and participations, with int64 won amounts as strings', async () => {
  const { companies, smes, programs } = clients;
  const host = await call(companies, 'CreateCompany', {
    company: { display_name: 'Korea Aerospace Industries', size: 'ENTERPRISE_SIZE_LARGE' },
  });
  const sme = await call(smes, 'CreateSme', { sme: { display_name: 'Mirae Aerospace', size: 'ENTERPRISE_SIZE_SMALL' } });
  const program = await call(programs, 'CreateProgram', {
    program: {
      display_name: 'Low-interest equipment loans',
      host_company: host.name,
      kind: 'PROGRAM_KIND_FINANCIAL_SUPPORT',
      budget_krw: '9007199254740993', // above 2^53: must survive exactly
    },
  });
  assert.equal(program.budget_krw, '9007199254740993');
  const part = await call(programs, 'CreateParticipation', {
    parent: program.name,
    participation: { sme: sme.name, support_amount_krw: '1500000000', joined_date: { year: 2026, month: 3, day: 10 } },
  });
  const listed = await call(programs, 'ListParticipations', { parent: 'programs/-' });
  assert.ok(listed.participations.some((p) => p.name === part.name));
});

test('bad input carries BadRequest details naming the fields', async () => {
  const { companies } = clients;
  await assert.rejects(
    call(companies, 'CreateCompany', {
      company: { display_name: 'Bad', business_number: '124-81-00997', size: 'ENTERPRISE_SIZE_MICRO' },
    }),
    (err) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      const details = errorDetails(err);
      assert.equal(details.ErrorInfo.domain, 'partnership.gov.kr');
      const fields = details.BadRequest.field_violations.map((v) => v.field).sort();
      assert.deepEqual(fields, ['company.business_number', 'company.size']);
      return true;
    },
  );
  await assert.rejects(
    call(companies, 'GetCompany', { name: 'companies/nobody' }),
    (err) => err.code === grpc.status.NOT_FOUND,
  );
});
