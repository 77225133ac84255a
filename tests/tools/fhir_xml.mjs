// FHIR XML -> FHIR JSON for tests whose official fixtures are XML (Kiln itself is JSON-only).
//
// A small XML parser (elements, attributes, text, comments, CDATA, the five named entities and
// numeric character references; CRLF normalised as XML requires) and a converter that follows the
// R4 StructureDefinitions of the hl7.fhir.r4.examples package to know which elements repeat
// (max != "1" -> JSON array), which primitives are booleans or numbers, the type of a choice
// element (`valueDate` -> date), where `id`/extensions of a primitive go (`_name`), and that
// Narrative.div is XHTML kept as a string. Numbers keep their text (see JsonText).
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

// ---- XML ----

const kEntities = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

function decodeEntities(text) {
  return text.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (m, e) => {
    if (e[0] === '#') {
      const cp = e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10);
      return String.fromCodePoint(cp);
    }
    if (e in kEntities) return kEntities[e];
    throw new Error(`unknown XML entity ${m}`);
  });
}

// Parses an XML document into {name, attrs: [[name, value]...], children: [node | string]}.
export function parseXml(source) {
  const text = source.replace(/\r\n?/g, '\n');
  let pos = 0;
  const root = { name: '#document', attrs: [], children: [] };
  const stack = [root];
  const top = () => stack[stack.length - 1];
  while (pos < text.length) {
    if (text.startsWith('<!--', pos)) {
      const end = text.indexOf('-->', pos);
      if (end < 0) throw new Error('unterminated comment');
      pos = end + 3;
    } else if (text.startsWith('<![CDATA[', pos)) {
      const end = text.indexOf(']]>', pos);
      top().children.push(text.slice(pos + 9, end));
      pos = end + 3;
    } else if (text.startsWith('<?', pos) || text.startsWith('<!', pos)) {
      pos = text.indexOf('>', pos) + 1;
    } else if (text.startsWith('</', pos)) {
      const end = text.indexOf('>', pos);
      const name = text.slice(pos + 2, end).trim();
      const open = stack.pop();
      if (open.name !== name) throw new Error(`</${name}> closes <${open.name}>`);
      pos = end + 1;
    } else if (text[pos] === '<') {
      const m = /^<([A-Za-z_][\w.:-]*)/.exec(text.slice(pos, pos + 200));
      if (!m) throw new Error(`bad tag at ${pos}`);
      const node = { name: m[1], attrs: [], children: [] };
      pos += m[0].length;
      const attr = /\s*([A-Za-z_][\w.:-]*)\s*=\s*("([^"]*)"|'([^']*)')/y;
      for (;;) {
        attr.lastIndex = pos;
        const a = attr.exec(text);
        if (!a) break;
        node.attrs.push([a[1], decodeEntities(a[3] ?? a[4])]);
        pos = attr.lastIndex;
      }
      while (/\s/.test(text[pos])) pos++;
      top().children.push(node);
      if (text.startsWith('/>', pos)) {
        pos += 2;
      } else if (text[pos] === '>') {
        pos += 1;
        stack.push(node);
      } else {
        throw new Error(`bad tag <${node.name}> at ${pos}`);
      }
    } else {
      const end = text.indexOf('<', pos);
      const chunk = text.slice(pos, end < 0 ? text.length : end);
      top().children.push(decodeEntities(chunk));
      pos = end < 0 ? text.length : end;
    }
  }
  if (stack.length !== 1) throw new Error(`<${top().name}> is not closed`);
  return root;
}

export const elements = (node) => node.children.filter((c) => typeof c !== 'string');
export const attr = (node, name) => node.attrs.find(([n]) => n === name)?.[1];

function escapeText(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

// XHTML back to text, as FHIR JSON carries Narrative.div.
export function serializeXml(node) {
  if (typeof node === 'string') return escapeText(node);
  let out = `<${node.name}`;
  for (const [n, v] of node.attrs) out += ` ${n}="${escapeText(v).replace(/"/g, '&quot;')}"`;
  if (node.children.length === 0) return `${out}/>`;
  return `${out}>${node.children.map(serializeXml).join('')}</${node.name}>`;
}

// ---- JSON with exact numbers ----

// A number written with its own text (a decimal keeps 1.50).
export class JsonNumber {
  constructor(text) { this.text = text; }
}

export function jsonText(value) {
  if (value instanceof JsonNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

// ---- FHIR XML -> JSON ----

// An ElementDefinition.type's FHIR type: Resource.id and the like say System.String, with the
// FHIR type in the structuredefinition-fhir-type extension.
function fhirType(t) {
  if (!t) return undefined;
  if (!t.code.startsWith('http://hl7.org/fhirpath/System.')) return t.code;
  const ext = t.extension?.find((e) => e.url.endsWith('structuredefinition-fhir-type'));
  return ext?.valueUrl ?? ext?.valueUri ?? 'string';
}

const kNumberTypes = new Set(['integer', 'positiveInt', 'unsignedInt', 'decimal']);

export class FhirXmlConverter {
  constructor(packageDir) {
    this.packageDir = packageDir;
    this.defs = new Map();
  }

  def(type) {
    if (!this.defs.has(type)) {
      const file = join(this.packageDir, `StructureDefinition-${type}.json`);
      if (!existsSync(file)) throw new Error(`no StructureDefinition for ${type}`);
      const sd = JSON.parse(readFileSync(file, 'utf8'));
      const byPath = new Map(sd.snapshot.element.map((e) => [e.path, e]));
      this.defs.set(type, { sd, byPath });
    }
    return this.defs.get(type);
  }

  isPrimitive(type) {
    return /^[a-z]/.test(type) && this.def(type).sd.kind === 'primitive-type';
  }

  // The definition of child `name` in context {type, path}: {el, type, key}.
  child(ctx, name) {
    const { byPath } = this.def(ctx.type);
    let el = byPath.get(`${ctx.path}.${name}`);
    if (el) return { el, type: fhirType(el.type?.[0]), key: name };
    for (let i = 1; i < name.length; i++) {
      if (!/[A-Z]/.test(name[i])) continue;
      el = byPath.get(`${ctx.path}.${name.slice(0, i)}[x]`);
      if (!el) continue;
      const suffix = name.slice(i);
      const t = el.type.find((x) => x.code[0].toUpperCase() + x.code.slice(1) === suffix);
      if (t) return { el, type: t.code, key: name };
    }
    throw new Error(`${name} is not an element of ${ctx.path}`);
  }

  // The context in which the children of a value of element `el` (type `type`) are defined.
  childCtx(ctx, el, type) {
    if (el.contentReference) {
      const path = el.contentReference.slice(1);
      return { type: path.split('.')[0], path };
    }
    if (type === 'BackboneElement' || type === 'Element') return { type: ctx.type, path: el.path };
    return { type, path: type };
  }

  resource(node) {
    const out = { resourceType: node.name };
    this.fill(out, node, { type: node.name, path: node.name });
    return out;
  }

  // Adds the children of XML element `node` to JSON object `out`.
  fill(out, node, ctx) {
    const id = attr(node, 'id');
    if (id !== undefined) out.id = id;
    const url = attr(node, 'url');
    if (url !== undefined) out.url = url;
    const pending = new Map();  // key -> [{value, extras}] in order
    const info = new Map();
    for (const c of elements(node)) {
      const { el, type, key } = this.child(ctx, c.name);
      if (!pending.has(key)) { pending.set(key, []); info.set(key, { el, type }); }
      pending.get(key).push(this.value(c, el, type, ctx));
    }
    for (const [key, entries] of pending) {
      const { el } = info.get(key);
      const repeats = el.max !== '1' && el.base?.max !== '1';
      const values = entries.map((e) => e.value);
      const extras = entries.map((e) => e.extras ?? null);
      const anyValue = values.some((v) => v !== undefined);
      const anyExtras = extras.some((x) => x !== null);
      if (repeats) {
        if (anyValue) out[key] = values.map((v) => (v === undefined ? null : v));
        if (anyExtras) out[`_${key}`] = extras;
      } else {
        if (entries.length > 1) throw new Error(`${key} repeats but max is 1`);
        if (anyValue) out[key] = values[0];
        if (anyExtras) out[`_${key}`] = extras[0];
      }
    }
  }

  // {value, extras} of element `node` whose definition is `el` and type `type`.
  value(node, el, type, ctx) {
    if (type === 'xhtml') return { value: serializeXml(node) };
    if (type === 'Resource' || type === 'DomainResource') {
      const inner = elements(node);
      if (inner.length !== 1) throw new Error(`${node.name} must hold one resource`);
      return { value: this.resource(inner[0]) };
    }
    if (type && this.isPrimitive(type)) {
      const text = attr(node, 'value');
      let value;
      if (text !== undefined) {
        if (type === 'boolean') value = text === 'true';
        else if (kNumberTypes.has(type)) value = new JsonNumber(text);
        else value = text;
      }
      let extras = null;
      if (attr(node, 'id') !== undefined || elements(node).length > 0) {
        extras = {};
        this.fill(extras, { ...node, attrs: node.attrs.filter(([n]) => n === 'id') },
                  { type, path: type });
      }
      return { value, extras };
    }
    const obj = {};
    this.fill(obj, node, this.childCtx(ctx, el, type));
    return { value: obj };
  }
}
