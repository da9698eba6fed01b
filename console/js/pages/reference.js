// API reference: a readable rendering of GET /openapi.json — operations grouped by tag, with
// their parameters, bodies and answers, then the schemas.
import { api } from '../api.js';
import { clear, field, fmt, h, page, problemNotice, section, table } from '../ui.js';

const methods = ['get', 'post', 'put', 'patch', 'delete'];

export async function render(container) {
  container.append(...page('API reference', 'Every route of the service, from its OpenAPI description.'));
  const body = h('div');
  container.append(body);
  let doc;
  try {
    doc = await api('/openapi.json');
  } catch (error) {
    body.append(problemNotice(error, 'The OpenAPI description'));
    return;
  }
  const info = doc.info || {};
  const filter = h('input', { type: 'search', name: 'filter', autocomplete: 'off', placeholder: '/v1/members' });
  const list = h('div');
  body.append(h('p', {}, `${fmt.text(info.title)} ${info.version ? `version ${info.version}` : ''} · OpenAPI ${fmt.text(doc.openapi)}`),
    info.description ? h('p', { class: 'muted', text: info.description }) : null,
    h('form', { class: 'inline', role: 'search', 'aria-label': 'Filter routes' }, field('Filter by path or summary', filter)),
    list);
  const draw = () => renderOperations(list, doc, filter.value.trim().toLowerCase());
  filter.addEventListener('input', draw);
  filter.form.addEventListener('submit', (event) => event.preventDefault());
  draw();
  body.append(schemasSection(doc));
}

function resolveName(ref) {
  return ref && ref.startsWith('#/') ? ref.split('/').pop() : ref;
}

function typeOf(schema) {
  if (!schema) return '—';
  if (schema.$ref) return resolveName(schema.$ref);
  if (schema.type === 'array') return `array of ${typeOf(schema.items)}`;
  if (schema.type === 'object' && schema.additionalProperties) return `map of ${typeOf(schema.additionalProperties)}`;
  const type = Array.isArray(schema.type) ? schema.type.join(' | ') : schema.type;
  if (schema.enum) return `${type || 'string'}: ${schema.enum.join(', ')}`;
  if (schema.oneOf || schema.anyOf) return (schema.oneOf || schema.anyOf).map(typeOf).join(' | ');
  return [type, schema.format].filter(Boolean).join(' ') || 'any';
}

function renderOperations(list, doc, filter) {
  clear(list);
  const groups = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of methods) {
      const operation = item[method];
      if (!operation) continue;
      const text = `${method} ${path} ${operation.summary || ''}`.toLowerCase();
      if (filter && !text.includes(filter)) continue;
      const tag = (operation.tags && operation.tags[0]) || 'other';
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push({ path, method, operation, shared: item.parameters || [] });
    }
  }
  if (groups.size === 0) { list.append(h('p', { class: 'muted', text: 'No route matches.' })); return; }
  for (const [tag, operations] of [...groups.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    list.append(section(tag, operations.map(operationView)));
  }
}

function operationView({ path, method, operation, shared }) {
  const parameters = [...shared, ...(operation.parameters || [])];
  const requestSchema = operation.requestBody && operation.requestBody.content
    && (operation.requestBody.content['application/json'] || Object.values(operation.requestBody.content)[0]);
  const responses = Object.entries(operation.responses || {});
  return h('details', { class: 'endpoint' },
    h('summary', {}, h('span', { class: `method ${method}`, text: method.toUpperCase() }), ' ', h('code', { text: path }),
      operation.summary ? ` — ${operation.summary}` : ''),
    operation.description ? h('p', { text: operation.description }) : null,
    operation.security && operation.security.length === 0 ? h('p', { class: 'muted', text: 'No authentication.' }) : null,
    operation['x-roles'] ? h('p', {}, 'Roles: ', operation['x-roles'].join(', ')) : null,
    parameters.length ? table([
      { label: 'Parameter', value: (p) => h('code', { text: p.name || resolveName(p.$ref) }), header: true },
      { label: 'In', value: (p) => fmt.text(p.in) },
      { label: 'Type', value: (p) => typeOf(p.schema) },
      { label: 'Required', value: (p) => (p.required ? 'yes' : 'no') },
      { label: 'Description', value: (p) => fmt.text(p.description) },
    ], parameters, { caption: 'Parameters' }) : null,
    requestSchema ? h('p', {}, 'Request body: ', h('code', { text: typeOf(requestSchema.schema) })) : null,
    responses.length ? table([
      { label: 'Status', value: ([status]) => status, header: true },
      { label: 'Description', value: ([, r]) => fmt.text(r.description || resolveName(r.$ref)) },
      { label: 'Body', value: ([, r]) => {
        const content = r.content && (r.content['application/json'] || r.content['application/problem+json'] || Object.values(r.content)[0]);
        return content ? typeOf(content.schema) : '—';
      } },
    ], responses, { caption: 'Responses' }) : null);
}

function schemasSection(doc) {
  const schemas = Object.entries((doc.components && doc.components.schemas) || {}).sort(([a], [b]) => a.localeCompare(b));
  return section(`Schemas (${schemas.length})`, schemas.map(([name, schema]) => {
    const required = new Set(schema.required || []);
    const properties = Object.entries(schema.properties || {});
    return h('details', { class: 'endpoint', id: `schema-${name}` },
      h('summary', {}, h('code', { text: name }), schema.description ? ` — ${schema.description}` : ''),
      properties.length ? table([
        { label: 'Field', value: ([field]) => h('code', { text: field }), header: true },
        { label: 'Type', value: ([, p]) => typeOf(p) },
        { label: 'Required', value: ([field]) => (required.has(field) ? 'yes' : 'no') },
        { label: 'Description', value: ([, p]) => fmt.text(p.description) },
      ], properties, { caption: `Fields of ${name}` }) : h('p', { class: 'muted', text: typeOf(schema) }));
  }));
}
