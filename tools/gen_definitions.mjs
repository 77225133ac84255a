#!/usr/bin/env node
// Generates the constant tables behind src/fhir/definitions.h from the hl7.fhir.r4.examples npm
// package: the types (non-profile StructureDefinitions) with their snapshot elements, the
// non-experimental SearchParameters, and the CompartmentDefinitions.
//
// Usage: node tools/gen_definitions.mjs <package dir> <output .cc> [--stats]
//
// The layout of the output is described in src/fhir/definitions_tables.h; the field order of each
// row follows the structs in src/fhir/definitions.h. Every string goes into one pool and is
// referenced by id, so the tables are plain integer aggregates that compile in seconds and need no
// relocations. The output depends only on the package contents (everything is sorted), and the
// script fails on data it cannot represent faithfully rather than guessing.
// Node 20, no dependencies.

import fs from 'node:fs';
import path from 'node:path';

const kCorePrefix = 'http://hl7.org/fhir/StructureDefinition/';
const kRegexExtension = 'http://hl7.org/fhir/StructureDefinition/regex';
const kFhirTypeExtension = 'http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type';

// Enum values: must match the enum classes in definitions.h.
const kTypeKinds = ['primitive-type', 'complex-type', 'resource', 'logical'];
const kBindingStrengths = ['', 'required', 'extensible', 'preferred', 'example'];
const kSearchParamTypes = [
  'number', 'date', 'string', 'token', 'reference', 'composite', 'quantity', 'uri', 'special',
];
const kXPathUsages = ['normal', 'phonetic', 'nearby', 'distance', 'other', ''];

function Fail(message) {
  console.error(`gen_definitions: ${message}`);
  process.exit(1);
}

function EnumValue(table, value, what) {
  const i = table.indexOf(value ?? '');
  if (i < 0) Fail(`unknown ${what} '${value}'`);
  return i;
}

// Byte-wise order, the same as std::string_view comparison in definitions.cc.
function CompareBytes(a, b) {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

function CheckRange(value, bits, what) {
  if (!Number.isInteger(value) || value < 0 || value >= 2 ** bits) {
    Fail(`${what} = ${value} does not fit in ${bits} bits`);
  }
  return value;
}

// ---- Reading the package ----

function ReadPackage(dir) {
  const byPrefix = {StructureDefinition: [], SearchParameter: [], CompartmentDefinition: []};
  for (const file of fs.readdirSync(dir).sort()) {
    const prefix = file.split('-')[0];
    if (!file.endsWith('.json') || !(prefix in byPrefix)) continue;
    const resource = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    if (resource.resourceType !== prefix) continue;
    byPrefix[prefix].push(resource);
  }
  const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  return {manifest, ...byPrefix};
}

// ---- Output tables ----

class Tables {
  constructor() {
    this.strings = [''];
    this.stringIds = new Map([['', 0]]);
    this.poolSize = 0;
    this.nameItems = [];
    this.nameLists = new Map();  // key -> first index, so equal lists are stored once
    this.elementTypes = [];
    this.typeLists = new Map();
  }

  String(text) {
    const value = text ?? '';
    let id = this.stringIds.get(value);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(value);
      this.stringIds.set(value, id);
    }
    return id;
  }

  // Returns [first, count] of a list of strings in nameItems.
  NameList(names) {
    const list = names ?? [];
    if (list.length === 0) return [0, 0];
    const key = JSON.stringify(list);
    let first = this.nameLists.get(key);
    if (first === undefined) {
      first = this.nameItems.length;
      for (const name of list) this.nameItems.push(this.String(name));
      this.nameLists.set(key, first);
    }
    return [first, list.length];
  }

  // Returns [first, count] of a list of ElementType rows (arrays of field values).
  TypeList(rows) {
    if (rows.length === 0) return [0, 0];
    const key = JSON.stringify(rows);
    let first = this.typeLists.get(key);
    if (first === undefined) {
      first = this.elementTypes.length;
      this.elementTypes.push(...rows);
      this.typeLists.set(key, first);
    }
    return [first, rows.length];
  }
}

// ---- Types and elements ----

function TypeNameFromUrl(url) {
  return url.startsWith(kCorePrefix) ? url.slice(kCorePrefix.length) : url;
}

function ExtensionValue(extensions, url, key) {
  const found = (extensions ?? []).filter((e) => e.url === url);
  if (found.length > 1) Fail(`several ${url} extensions`);
  return found.length === 1 ? found[0][key] : undefined;
}

function ElementTypeRow(tables, type, elementPath) {
  if (typeof type.code !== 'string') Fail(`${elementPath}: type without code`);
  const profiles = tables.NameList(type.profile);
  const targets = tables.NameList((type.targetProfile ?? []).map(TypeNameFromUrl));
  return [
    tables.String(type.code),
    tables.String(ExtensionValue(type.extension, kFhirTypeExtension, 'valueUrl')),
    tables.String(ExtensionValue(type.extension, kRegexExtension, 'valueString')),
    profiles[0],
    targets[0],
    CheckRange(profiles[1], 16, `${elementPath} profile count`),
    CheckRange(targets[1], 16, `${elementPath} target count`),
  ];
}

function ElementRow(tables, element, typeName) {
  const where = element.path;
  if (element.path !== typeName && !element.path.startsWith(`${typeName}.`)) {
    Fail(`${where}: element outside its type ${typeName}`);
  }
  if (!Number.isInteger(element.min) || typeof element.max !== 'string') {
    Fail(`${where}: snapshot element without min/max`);
  }
  const max = element.max === '*' ? -1 : Number(element.max);
  if (!Number.isInteger(max)) Fail(`${where}: bad max '${element.max}'`);
  const types = tables.TypeList((element.type ?? []).map((t) => ElementTypeRow(tables, t, where)));
  const binding = element.binding;
  const valueSet = binding?.valueSet ? binding.valueSet.split('|')[0] : '';
  const flags = (element.isSummary ? 1 : 0) | (element.isModifier ? 2 : 0);
  return [
    tables.String(element.path),
    tables.String(element.contentReference),
    tables.String(valueSet),
    types[0],
    max,
    CheckRange(element.min, 16, `${where} min`),
    CheckRange(types[1], 8, `${where} type count`),
    flags,
    binding ? EnumValue(kBindingStrengths, binding.strength, `${where} binding strength`) : 0,
  ];
}

// Types: every StructureDefinition that is not a profile. Concrete resources first.
function SelectTypes(structureDefinitions) {
  const types = new Map();
  for (const sd of structureDefinitions) {
    if (sd.derivation === 'constraint') continue;
    if (sd.url !== kCorePrefix + sd.type && sd.kind !== 'logical') {
      Fail(`${sd.url}: a specialization whose url does not match its type ${sd.type}`);
    }
    if (types.has(sd.type)) Fail(`type ${sd.type} defined twice`);
    if (!sd.snapshot?.element?.length) Fail(`${sd.url}: no snapshot`);
    types.set(sd.type, sd);
  }
  const isConcreteResource = (sd) => sd.kind === 'resource' && !sd.abstract;
  const byName = (a, b) => CompareBytes(a.type, b.type);
  const all = [...types.values()];
  return [
    ...all.filter(isConcreteResource).sort(byName),
    ...all.filter((sd) => !isConcreteResource(sd)).sort(byName),
  ];
}

// ---- Search parameters ----

function SelectSearchParams(searchParameters, typeNames) {
  const selected = [];
  const skipped = [];
  const urls = new Set();
  for (const sp of searchParameters) {
    // The package's examples and the extension-based parameters are all experimental; several
    // of them lack a base or duplicate core codes (e.g. Condition "subject").
    if (sp.experimental) {
      skipped.push(sp.url);
      continue;
    }
    if (urls.has(sp.url)) Fail(`search parameter ${sp.url} defined twice`);
    urls.add(sp.url);
    if (!sp.base?.length) Fail(`${sp.url}: no base`);
    for (const base of sp.base) {
      if (!typeNames.has(base)) Fail(`${sp.url}: unknown base ${base}`);
    }
    EnumValue(kSearchParamTypes, sp.type, `${sp.url} type`);
    selected.push(sp);
  }
  selected.sort((a, b) => CompareBytes(a.url, b.url));
  for (const sp of selected) {
    for (const component of sp.component ?? []) {
      if (!urls.has(component.definition)) {
        Fail(`${sp.url}: component ${component.definition} is not a known search parameter`);
      }
    }
  }
  return {selected, skipped};
}

function OptionalBool(value) {
  return value === undefined ? 0 : value ? 2 : 1;
}

// ---- Emitting C++ ----

// A C++ string literal for `text` (UTF-8). Octal escapes, because hex escapes would swallow
// following hex digits; '?' escaped so no trigraph can form.
function CppLiteral(text) {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (c === '"' || c === '\\' || c === '?') {
      out += `\\${c}`;
    } else if (byte >= 0x20 && byte < 0x7f) {
      out += c;
    } else {
      out += `\\${byte.toString(8).padStart(3, '0')}`;
    }
  }
  return `${out}"`;
}

function Rows(rows) {
  if (rows.length === 0) return '{}';
  return rows.map((row) => `{${row.join(',')}},`).join('\n');
}

function Numbers(values) {
  if (values.length === 0) return '0';  // C++ has no zero-length arrays
  const lines = [];
  for (let i = 0; i < values.length; i += 24) lines.push(values.slice(i, i + 24).join(','));
  return lines.join(',\n');
}

function Generate(pkg) {
  const tables = new Tables();

  // Types and their elements.
  const sds = SelectTypes(pkg.StructureDefinition);
  const typeNames = new Set(sds.map((sd) => sd.type));
  const resourceTypeCount = sds.filter((sd) => sd.kind === 'resource' && !sd.abstract).length;
  const elements = [];
  const elementOrder = [];
  const typeRows = [];
  for (const sd of sds) {
    const first = elements.length;
    const snapshot = sd.snapshot.element;
    const paths = new Set();
    for (const element of snapshot) {
      if (paths.has(element.path)) Fail(`${sd.type}: element ${element.path} twice`);
      paths.add(element.path);
      elements.push(ElementRow(tables, element, sd.type));
    }
    const order = snapshot.map((_, i) => i);
    order.sort((a, b) => CompareBytes(snapshot[a].path, snapshot[b].path));
    elementOrder.push(...order);
    const base = sd.baseDefinition ? TypeNameFromUrl(sd.baseDefinition) : '';
    if (base && !typeNames.has(base)) Fail(`${sd.type}: unknown base ${sd.baseDefinition}`);
    typeRows.push({
      sd,
      base,
      fields: [
        tables.String(sd.type),
        tables.String(sd.url),
        tables.String(base),
        first,
        /* search params: filled below */ 0,
        CheckRange(snapshot.length, 16, `${sd.type} element count`),
        0,
        EnumValue(kTypeKinds, sd.kind, `${sd.type} kind`),
        sd.abstract ? 'true' : 'false',
      ],
    });
  }

  // Search parameters.
  const {selected: params, skipped} = SelectSearchParams(pkg.SearchParameter, typeNames);
  const components = [];
  const paramRows = params.map((sp) => {
    const where = sp.url;
    const bases = tables.NameList(sp.base);
    const targets = tables.NameList(sp.target);
    const modifiers = tables.NameList(sp.modifier);
    const comparators = tables.NameList(sp.comparator);
    const chains = tables.NameList(sp.chain);
    const firstComponent = components.length;
    for (const c of sp.component ?? []) {
      components.push([tables.String(c.definition), tables.String(c.expression)]);
    }
    return [
      tables.String(sp.code),
      tables.String(sp.url),
      tables.String(sp.expression),
      bases[0],
      targets[0],
      modifiers[0],
      comparators[0],
      chains[0],
      firstComponent,
      CheckRange(bases[1], 16, `${where} base count`),
      CheckRange(targets[1], 16, `${where} target count`),
      CheckRange(modifiers[1], 8, `${where} modifier count`),
      CheckRange(comparators[1], 8, `${where} comparator count`),
      CheckRange(chains[1], 8, `${where} chain count`),
      CheckRange((sp.component ?? []).length, 8, `${where} component count`),
      EnumValue(kSearchParamTypes, sp.type, `${where} type`),
      EnumValue(kXPathUsages, sp.xpathUsage, `${where} xpathUsage`),
      OptionalBool(sp.multipleOr),
      OptionalBool(sp.multipleAnd),
    ];
  });
  CheckRange(params.length, 16, 'search parameter count');

  // Each resource type's parameters: its own and its ancestors', sorted by code.
  const ownParams = new Map();
  params.forEach((sp, i) => {
    for (const base of sp.base) {
      if (!ownParams.has(base)) ownParams.set(base, []);
      ownParams.get(base).push(i);
    }
  });
  const typeByName = new Map(typeRows.map((row) => [row.sd.type, row]));
  const searchIndex = [];
  let typeParamLinks = 0;
  for (const row of typeRows) {
    if (row.sd.kind !== 'resource') {
      if (ownParams.has(row.sd.type)) Fail(`search parameters on non-resource ${row.sd.type}`);
      continue;
    }
    const list = [];
    for (let t = row; t; t = t.base ? typeByName.get(t.base) : undefined) {
      list.push(...(ownParams.get(t.sd.type) ?? []));
    }
    list.sort((a, b) => CompareBytes(params[a].code, params[b].code));
    for (let i = 1; i < list.length; ++i) {
      if (params[list[i]].code === params[list[i - 1]].code) {
        Fail(`${row.sd.type}: two search parameters with code ${params[list[i]].code}`);
      }
    }
    row.fields[4] = searchIndex.length;
    row.fields[6] = CheckRange(list.length, 16, `${row.sd.type} search parameter count`);
    searchIndex.push(...list);
    typeParamLinks += list.length;
  }

  // Compartments. The package also holds an example CompartmentDefinition (a second "Device").
  const compartmentDefs = pkg.CompartmentDefinition.filter((cd) => !cd.id.startsWith('example'));
  compartmentDefs.sort((a, b) => CompareBytes(a.code, b.code));
  const members = [];
  const compartmentRows = [];
  for (const cd of compartmentDefs) {
    if (compartmentRows.some((row) => row.code === cd.code)) Fail(`compartment ${cd.code} twice`);
    const first = members.length;
    const inCompartment = cd.resource.filter((r) => r.param?.length);
    inCompartment.sort((a, b) => CompareBytes(a.code, b.code));
    for (const r of inCompartment) {
      const type = typeByName.get(r.code);
      if (!type || type.sd.kind !== 'resource') Fail(`${cd.url}: unknown resource type ${r.code}`);
      for (const code of r.param) {
        const known = code === '{def}' ||
            searchIndex.slice(type.fields[4], type.fields[4] + type.fields[6])
                .some((i) => params[i].code === code);
        if (!known) Fail(`${cd.url}: ${r.code} has no search parameter ${code}`);
      }
      const list = tables.NameList(r.param);
      members.push([tables.String(r.code), list[0], CheckRange(list[1], 16, 'param count')]);
    }
    compartmentRows.push({
      code: cd.code,
      fields: [tables.String(cd.code), tables.String(cd.url), first, members.length - first],
    });
  }

  // The string pool.
  const refs = [];
  const poolLines = [];
  let offset = 0;
  for (const text of tables.strings) {
    const size = Buffer.byteLength(text, 'utf8');
    refs.push([offset, size]);
    if (size > 0) poolLines.push(CppLiteral(text));
    offset += size;
  }

  const version = pkg.manifest.fhirVersions?.[0] ?? pkg.manifest.version;
  const stats = {
    types: sds.length,
    resourceTypes: resourceTypeCount,
    elements: elements.length,
    elementTypes: tables.elementTypes.length,
    searchParams: params.length,
    skippedSearchParams: skipped.length,
    typeParamLinks,
    compositeComponents: components.length,
    compartments: compartmentRows.length,
    compartmentMembers: members.length,
    strings: tables.strings.length,
    poolBytes: offset,
  };

  const out = `// Generated by tools/gen_definitions.mjs from ${pkg.manifest.name}@${pkg.manifest.version}.
// Do not edit. Layout: src/fhir/definitions_tables.h.
// ${JSON.stringify(stats)}
// NOLINTBEGIN
#include "fhir/definitions_tables.h"

namespace kiln::fhir::internal {

const char kFhirVersion[] = ${CppLiteral(version)};

const char kStringPool[] =
${poolLines.join('\n')};

const StringRef kStrings[] = {
${Rows(refs)}
};

const uint32_t kNameItems[] = {
${Numbers(tables.nameItems)}
};

const ElementType kElementTypes[] = {
${Rows(tables.elementTypes)}
};

const ElementDef kElements[] = {
${Rows(elements)}
};

const uint16_t kElementOrder[] = {
${Numbers(elementOrder)}
};

const TypeDef kTypes[] = {
${Rows(typeRows.map((row) => row.fields))}
};
const uint32_t kTypeCount = ${typeRows.length};
const uint32_t kResourceTypeCount = ${resourceTypeCount};

const SearchParamComponent kSearchParamComponents[] = {
${Rows(components)}
};

const SearchParamDef kSearchParams[] = {
${Rows(paramRows)}
};
const uint32_t kSearchParamCount = ${paramRows.length};

const uint16_t kSearchParamIndex[] = {
${Numbers(searchIndex)}
};

const CompartmentMember kCompartmentMembers[] = {
${Rows(members)}
};

const CompartmentDef kCompartments[] = {
${Rows(compartmentRows.map((row) => row.fields))}
};
const uint32_t kCompartmentCount = ${compartmentRows.length};

}  // namespace kiln::fhir::internal
// NOLINTEND
`;
  return {out, stats, skipped};
}

function Main(argv) {
  const args = argv.filter((a) => !a.startsWith('--'));
  if (args.length !== 2) Fail('usage: gen_definitions.mjs <package dir> <output .cc> [--stats]');
  const [packageDir, outputPath] = args;
  const {out, stats, skipped} = Generate(ReadPackage(packageDir));
  fs.mkdirSync(path.dirname(outputPath), {recursive: true});
  // Write then rename, so an interrupted run never leaves a truncated file that looks current.
  const temp = `${outputPath}.tmp`;
  fs.writeFileSync(temp, out);
  fs.renameSync(temp, outputPath);
  if (argv.includes('--stats')) {
    console.log(JSON.stringify(stats, null, 2));
    console.log(`skipped experimental search parameters:\n  ${skipped.join('\n  ')}`);
  }
}

Main(process.argv.slice(2));
