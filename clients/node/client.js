'use strict';
// Loads the partnership API from its .proto files and returns service
// clients, plus a decoder for the google.rpc error details the service
// attaches. The .proto files: ./proto in the npm package (`npm pack` copies
// them in), else ../../proto in the repository.

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PACKED_PROTO_DIR = path.join(__dirname, 'proto');
const PROTO_DIR = fs.existsSync(PACKED_PROTO_DIR) ? PACKED_PROTO_DIR : path.resolve(__dirname, '..', '..', 'proto');

const definition = protoLoader.loadSync(
  [
    'partnership/v1/company.proto',
    'partnership/v1/sme.proto',
    'partnership/v1/program.proto',
    'partnership/v1/insight.proto',
    'partnership/v1/journal.proto',
  ],
  {
    includeDirs: [PROTO_DIR],
    keepCase: true, // field names as in the .proto: display_name, not displayName
    longs: String, // int64 won amounts arrive as strings: no precision lost
    enums: String,
    defaults: true,
    oneofs: true,
  },
);
const api = grpc.loadPackageDefinition(definition).partnership.v1;

/**
 * An interceptor sending `authorization: Bearer <token>` on every call: how
 * a server started with --auth-config knows the caller. (Over TLS,
 * `grpc.credentials.combineChannelCredentials(createSsl(ca),
 * createFromMetadataGenerator(...))` does the same; grpc-js refuses call
 * credentials on a plaintext channel, hence the interceptor.)
 */
function bearer(token) {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/**
 * Clients of the six services at `address` (e.g. "127.0.0.1:50051"),
 * sending `token` (default: $PARTNERSHIP_TOKEN) when there is one.
 */
function connect(address, credentials = grpc.credentials.createInsecure(), token = process.env.PARTNERSHIP_TOKEN) {
  const options = token ? { interceptors: [bearer(token)] } : {};
  return {
    companies: new api.CompanyService(address, credentials, options),
    smes: new api.SmeService(address, credentials, options),
    programs: new api.ProgramService(address, credentials, options),
    insight: new api.InsightService(address, credentials, options),
    audit: new api.AuditService(address, credentials, options),
    changeFeed: new api.ChangeFeedService(address, credentials, options),
  };
}

const rpcRoot = new protobuf.Root();
rpcRoot.resolvePath = (_origin, target) =>
  target.startsWith('google/protobuf/') ? target : path.join(PROTO_DIR, target);
rpcRoot.loadSync(['google/rpc/status.proto', 'google/rpc/error_details.proto'], { keepCase: true });
rpcRoot.resolveAll();
const Status = rpcRoot.lookupType('google.rpc.Status');

/**
 * The details of a failed call: `{ErrorInfo, BadRequest, ...}` keyed by type
 * name, decoded from the `grpc-status-details-bin` trailer.
 */
function errorDetails(err) {
  const raw = err.metadata && err.metadata.get('grpc-status-details-bin')[0];
  if (!raw) return {};
  const status = Status.decode(raw);
  const out = {};
  for (const any of status.details) {
    const typeName = any.type_url.split('/').pop();
    const type = rpcRoot.lookupType(typeName);
    out[typeName.replace('google.rpc.', '')] = type.toObject(type.decode(any.value), {
      defaults: true,
    });
  }
  return out;
}

/** Promise wrapper: `call(client.companies, 'GetCompany', {name})`. */
function call(client, method, request) {
  return new Promise((resolve, reject) => {
    client[method](request, (err, response) => (err ? reject(err) : resolve(response)));
  });
}

module.exports = { connect, bearer, call, errorDetails, grpc, PROTO_DIR };
