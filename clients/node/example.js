'use strict';
// node example.js [ADDRESS]: creates a company and a program, lists programs,
// prints the details of a rejected request, and deletes what it created (a
// soft delete, so nothing it made stays live).

const crypto = require('node:crypto');
const { connect, call, errorDetails, grpc } = require('./client');

async function main(address) {
  const { companies, programs } = connect(address);
  const company = await call(companies, 'CreateCompany', {
    company: { display_name: 'Example Motors', size: 'ENTERPRISE_SIZE_LARGE', region: 'REGION_ULSAN' },
    request_id: crypto.randomUUID(), // a retry with the same id never creates twice
  });
  console.log('created', company.name, 'etag', company.etag);

  const program = await call(programs, 'CreateProgram', {
    program: {
      display_name: 'Carbon reduction equipment for suppliers',
      host_company: company.name,
      kind: 'PROGRAM_KIND_ESG_SUPPLY_CHAIN',
      budget_krw: '3000000000',
    },
  });
  console.log('created', program.name);

  const page = await call(programs, 'ListPrograms', { page_size: 10 });
  console.log(`${page.total_size} programs; first page:`);
  for (const p of page.programs) console.log(' ', p.name, p.display_name);

  try {
    await call(companies, 'CreateCompany', {
      company: { display_name: 'Bad number', business_number: '124-81-00997', size: 'ENTERPRISE_SIZE_LARGE' },
    });
  } catch (err) {
    // The code's name, as the other clients print it (INVALID_ARGUMENT).
    const code = Object.keys(grpc.status).find((k) => grpc.status[k] === err.code) || err.code;
    console.log('rejected:', code, err.details);
    const { BadRequest } = errorDetails(err);
    for (const v of BadRequest ? BadRequest.field_violations : []) {
      console.log(`  ${v.field}: ${v.description}`);
    }
  }
  // Clean up: the company and, with force, its program.
  await call(companies, 'DeleteCompany', { name: company.name, force: true });
  console.log('deleted', company.name, 'and its program');
  companies.close();
  programs.close();
}

main(process.argv[2] || '127.0.0.1:50051').catch((err) => {
  console.error(err);
  process.exit(1);
});
