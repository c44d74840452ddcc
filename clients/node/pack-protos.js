'use strict';
// `npm pack` runs this before and after packing: `copy` puts ../../proto (the
// partnership/ and vendored google/ files client.js loads) into ./proto, so
// the package carries them; `remove` deletes the copy, so that in the
// repository client.js reads ../../proto again.

const fs = require('node:fs');
const path = require('node:path');

const source = path.resolve(__dirname, '..', '..', 'proto');
const copy = path.join(__dirname, 'proto');

function protos(dir) {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? protos(path.join(dir, e.name)) : e.name.endsWith('.proto') ? [path.join(dir, e.name)] : []));
}

const what = process.argv[2];
fs.rmSync(copy, { recursive: true, force: true });
if (what === 'copy') {
  const files = protos(source);
  if (!files.some((f) => f.includes(`${path.sep}partnership${path.sep}`))) {
    throw new Error(`no partnership .proto files under ${source}`);
  }
  for (const file of files) {
    const target = path.join(copy, path.relative(source, file));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.copyFileSync(file, target);
  }
  console.error(`pack-protos: ${files.length} .proto files copied into ${copy}`);
} else if (what !== 'remove') {
  throw new Error('usage: node pack-protos.js copy|remove');
}
