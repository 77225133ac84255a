#!/usr/bin/env node
// Generates the constant tables behind src/fhir/definitions.h and src/fhir/terminology.h from the
// hl7.fhir.r4.examples npm package: the types (non-profile StructureDefinitions) with their
// snapshot elements, the non-experimental SearchParameters, the CompartmentDefinitions, and the
// expansions of the value sets of required bindings (from the ValueSets and CodeSystems).
//
// Usage: node tools/gen_definitions.mjs <package dir> <output .cc> [--stats] [--docs=<file.md>]
//   --stats  prints counts, the value sets that cannot be expanded and why, and the run time.
//   --docs   also writes that list for users (docs/terminology.md; refreshed by hand, not by the
//            build, which never writes into the source tree).
//
// The layout of the output is described in src/fhir/definitions_tables.h and
// src/fhir/terminology_tables.h; the field order of each row follows the structs there and in
// src/fhir/definitions.h. Every string goes into one pool and is
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
  const byPrefix = {
    StructureDefinition: [],
    SearchParameter: [],
    CompartmentDefinition: [],
    ValueSet: [],
    CodeSystem: [],
  };
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

// ---- Terminology: the value sets of required bindings ----
//
// Every value set bound with strength "required" by an element of the selected types is expanded
// from the package's ValueSets and CodeSystems with the R4 ValueSet.compose rules: an include is
// the intersection of its system part (listed concepts, or a whole or filtered code system) and of
// the value sets it imports; the value set is the union of its includes minus its excludes. Codes
// a CodeSystem marks notSelectable/abstract or retired stay in the hierarchy (filters walk through
// them) but are left out of the expansion, since data may not use them (e.g. Questionnaire item
// type "question"); the publisher's expansion in the package's "inactive" example value set also
// leaves retired codes out. Anything
// that cannot be expanded exactly from the package (a code system it does not hold in full, such
// as UCUM or MIME types; a filter not implemented here) makes the value set "not expandable" with
// a reason, rather than a guess: Kiln then says it cannot check the code instead of rejecting
// valid ones. Filters run: concept is-a, descendent-of, is-not-a, =, in, not-in; parent and child
// =; any other property = or in. Bindings and imports pinned to a version the package does not
// hold are not expandable either.

// Names of well-known external code systems, for the reasons given to users.
const kExternalSystemNames = new Map([
  ['urn:ietf:bcp:13', 'MIME types, BCP 13'],
  ['urn:ietf:bcp:47', 'languages, BCP 47'],
  ['http://unitsofmeasure.org', 'UCUM units'],
  ['urn:iso:std:iso:4217', 'currencies, ISO 4217'],
  ['urn:iso:std:iso:3166', 'countries, ISO 3166'],
  ['http://snomed.info/sct', 'SNOMED CT'],
  ['http://loinc.org', 'LOINC'],
  ['http://www.nlm.nih.gov/research/umls/rxnorm', 'RxNorm'],
]);

// Thrown (and caught in Terminology.Expand) when a value set cannot be expanded; `message` is the
// reason shown to users, phrased to follow the value set's URL.
class NotExpandable extends Error {}

function SplitCanonical(canonical) {
  const bar = canonical.indexOf('|');
  return bar < 0 ? [canonical, undefined] : [canonical.slice(0, bar), canonical.slice(bar + 1)];
}

function CodeKey(system, code) {
  return `${system}\u0000${code}`;
}

function Intersect(sets) {
  const [first, ...rest] = [...sets].sort((a, b) => a.size - b.size);
  return new Map([...first].filter(([key]) => rest.every((set) => set.has(key))));
}

// The concepts of one complete CodeSystem with their hierarchy: nesting, plus the child, parent
// and subsumedBy properties (v3 code systems state a second parent that way).
class CodeSystemIndex {
  constructor(cs) {
    this.system = cs.url;
    this.concepts = new Map();  // code -> {usable, parents, children, properties}
    const links = [];
    const walk = (concepts, parent) => {
      for (const concept of concepts ?? []) {
        if (typeof concept.code !== 'string') Fail(`${cs.url}: concept without code`);
        if (this.concepts.has(concept.code)) {
          throw new NotExpandable(`needs ${cs.url}, which defines the code ${concept.code} twice`);
        }
        const properties = concept.property ?? [];
        const isAbstract = (p) => p.code === 'notSelectable' || p.code === 'abstract';
        const abstract = properties.some((p) => isAbstract(p) && p.valueBoolean === true);
        const retired = properties.some((p) => p.code === 'status' && p.valueCode === 'retired');
        this.concepts.set(concept.code, {
          usable: !abstract && !retired,
          parents: new Set(),
          children: new Set(),
          properties,
        });
        if (parent !== undefined) links.push([parent, concept.code]);
        for (const p of properties) {
          if (p.code === 'child' && p.valueCode) links.push([concept.code, p.valueCode]);
          if ((p.code === 'parent' || p.code === 'subsumedBy') && p.valueCode) {
            links.push([p.valueCode, concept.code]);
          }
        }
        walk(concept.concept, concept.code);
      }
    };
    walk(cs.concept, undefined);
    for (const [parent, child] of links) {
      if (!this.concepts.has(parent) || !this.concepts.has(child)) {
        throw new NotExpandable(`needs ${cs.url}, whose hierarchy names an undefined code`);
      }
      this.concepts.get(parent).children.add(child);
      this.concepts.get(child).parents.add(parent);
    }
  }

  Require(code) {
    if (!this.concepts.has(code)) {
      throw new NotExpandable(`refers to the code ${code}, which ${this.system} does not define`);
    }
    return code;
  }

  Descendants(code) {
    const out = new Set();
    const pending = [this.Require(code)];
    while (pending.length) {
      for (const child of this.concepts.get(pending.pop()).children) {
        if (!out.has(child)) {
          out.add(child);
          pending.push(child);
        }
      }
    }
    return out;
  }

  // The codes (a Set) that pass one ValueSet.compose.include.filter.
  Filter({property, op, value}) {
    const all = [...this.concepts.keys()];
    const values = () => (value ?? '').split(',').map((v) => this.Require(v.trim()));
    if (property === 'concept') {
      switch (op) {
        case 'is-a':
          return new Set([this.Require(value), ...this.Descendants(value)]);
        case 'descendent-of':
          return this.Descendants(value);
        case 'is-not-a': {
          const excluded = new Set([this.Require(value), ...this.Descendants(value)]);
          return new Set(all.filter((code) => !excluded.has(code)));
        }
        case '=':
          return new Set([this.Require(value)]);
        case 'in':
          return new Set(values());
        case 'not-in': {
          const excluded = new Set(values());
          return new Set(all.filter((code) => !excluded.has(code)));
        }
      }
    } else if (property === 'parent' && op === '=') {
      return new Set(this.concepts.get(this.Require(value)).children);
    } else if (property === 'child' && op === '=') {
      return new Set(this.concepts.get(this.Require(value)).parents);
    } else if (op === '=' || op === 'in') {
      // Any other property: concepts that carry it with one of the given values.
      const wanted = new Set(op === '=' ? [value] : value.split(',').map((v) => v.trim()));
      const valueOf = (p) => p.valueCode ?? p.valueString ?? p.valueCoding?.code ??
          (p.valueBoolean ?? p.valueInteger ?? p.valueDecimal)?.toString();
      return new Set(all.filter((code) => this.concepts.get(code).properties.some(
          (p) => p.code === property && wanted.has(valueOf(p)))));
    }
    throw new NotExpandable(
        `uses the filter "${property} ${op} ${value}", which Kiln does not run`);
  }
}

class Terminology {
  constructor(valueSets, codeSystems) {
    this.valueSets = Terminology.ByUrl(valueSets);
    this.codeSystems = Terminology.ByUrl(codeSystems);
    this.indexes = new Map();    // system -> CodeSystemIndex
    this.expansions = new Map();  // url -> {codes: Map key -> [system, code]} | {reason}
    this.expanding = new Set();  // urls being expanded, to catch import cycles
    this.unusableLeftOut = 0;  // abstract or retired codes
  }

  // url -> resource; several resources with one URL are kept as an array, an error if used.
  static ByUrl(resources) {
    const byUrl = new Map();
    for (const r of resources) {
      const old = byUrl.get(r.url);
      byUrl.set(r.url, old === undefined ? r : [].concat(old, r));
    }
    return byUrl;
  }

  // The expansion of `url` (no |version): {codes} or {reason}. Memoized.
  Expand(url) {
    let result = this.expansions.get(url);
    if (result) return result;
    if (this.expanding.has(url)) throw new NotExpandable(`imports itself (through ${url})`);
    const vs = this.valueSets.get(url);
    if (vs === undefined) {
      result = {reason: 'is not defined in the package'};
    } else if (Array.isArray(vs)) {
      Fail(`${url}: defined by ${vs.length} ValueSets`);
    } else {
      this.expanding.add(url);
      try {
        result = {codes: this.Compose(vs)};
      } catch (e) {
        if (!(e instanceof NotExpandable)) throw e;
        result = this.ReadyExpansion(vs) ?? {reason: e.message};
      } finally {
        this.expanding.delete(url);
      }
    }
    this.expansions.set(url, result);
    return result;
  }

  // Like Expand, for an import: throws when the imported value set is not expandable.
  Import(canonical) {
    const [url, version] = SplitCanonical(canonical);
    const vs = this.valueSets.get(url);
    if (version !== undefined && vs !== undefined && !Array.isArray(vs) && vs.version !== version) {
      throw new NotExpandable(
          `imports version ${version} of ${url}; the package has ${vs.version}`);
    }
    const result = this.Expand(url);
    if (result.reason) throw new NotExpandable(`imports ${url}, which ${result.reason}`);
    return result.codes;
  }

  Compose(vs) {
    if (!vs.compose?.include?.length) throw new NotExpandable('has no compose.include');
    if (vs.compose.inactive === false) {
      throw new NotExpandable('asks to leave out inactive codes, which Kiln does not track');
    }
    const codes = new Map();
    for (const include of vs.compose.include) {
      for (const [key, entry] of this.Include(include)) codes.set(key, entry);
    }
    for (const exclude of vs.compose.exclude ?? []) {
      for (const key of this.Include(exclude).keys()) codes.delete(key);
    }
    return codes;
  }

  // The codes of one include (or exclude): the intersection of its parts.
  Include(include) {
    const parts = [];
    if (include.system !== undefined) parts.push(this.SystemPart(include));
    for (const canonical of include.valueSet ?? []) parts.push(this.Import(canonical));
    if (parts.length === 0) throw new NotExpandable('has an include with no system or valueSet');
    return Intersect(parts);
  }

  SystemPart(include) {
    const {system, version} = include;
    const cs = this.codeSystems.get(system);
    if (Array.isArray(cs)) Fail(`${system}: defined by ${cs.length} CodeSystems`);
    if (version !== undefined && cs !== undefined && cs.version !== version) {
      throw new NotExpandable(
          `needs version ${version} of ${system}; the package has ${cs.version}`);
    }
    const codes = new Map();
    if (include.concept) {
      if (include.filter) throw new NotExpandable('has an include with both concept and filter');
      // An explicit list defines the codes even for a code system the package lacks (e.g. the
      // UCUM units of units-of-time); when the package has it in full, the list is checked.
      const index = cs?.content === 'complete' ? this.Index(cs) : undefined;
      for (const {code} of include.concept) {
        if (index && !index.concepts.get(index.Require(code)).usable) {
          ++this.unusableLeftOut;
          continue;
        }
        codes.set(CodeKey(system, code), [system, code]);
      }
      return codes;
    }
    if (cs === undefined) {
      const name = kExternalSystemNames.get(system);
      throw new NotExpandable(`needs the code system ${system}${name ? ` (${name})` : ''}, ` +
                              'which the package does not define');
    }
    if (cs.content !== 'complete') {
      throw new NotExpandable(`needs the code system ${system}, which the package holds only ` +
                              `as "${cs.content}"`);
    }
    const index = this.Index(cs);
    let selected = new Set(index.concepts.keys());
    for (const filter of include.filter ?? []) {
      const passing = index.Filter(filter);
      selected = new Set([...selected].filter((code) => passing.has(code)));
    }
    for (const code of selected) {
      if (!index.concepts.get(code).usable) {
        ++this.unusableLeftOut;
        continue;
      }
      codes.set(CodeKey(system, code), [system, code]);
    }
    return codes;
  }

  Index(cs) {
    let index = this.indexes.get(cs.url);
    if (index === undefined) {
      index = new CodeSystemIndex(cs);
      this.indexes.set(cs.url, index);
    }
    return index;
  }

  // A value set's own expansion.contains, when compose cannot be expanded here and the expansion
  // is complete (not paged); abstract entries left out. undefined if unusable.
  ReadyExpansion(vs) {
    const expansion = vs.expansion;
    if (!expansion?.contains || expansion.offset) return undefined;
    const codes = new Map();
    let count = 0;
    const walk = (contains) => {
      for (const c of contains ?? []) {
        ++count;
        if (c.system && c.code && !c.abstract) {
          codes.set(CodeKey(c.system, c.code), [c.system, c.code]);
        }
        walk(c.contains);
      }
    };
    walk(expansion.contains);
    if (expansion.total !== undefined && expansion.total > count) return undefined;
    return {codes, fromExpansion: true};
  }
}

// The required bindings of the selected types: url -> {versions: Set, paths: [element paths]}.
function RequiredBindings(sds) {
  const bindings = new Map();
  for (const sd of sds) {
    for (const element of sd.snapshot.element) {
      const binding = element.binding;
      if (binding?.strength !== 'required') continue;
      if (!binding.valueSet) Fail(`${element.path}: required binding without a value set`);
      const [url, version] = SplitCanonical(binding.valueSet);
      if (!bindings.has(url)) bindings.set(url, {versions: new Set(), paths: []});
      const entry = bindings.get(url);
      if (version !== undefined) entry.versions.add(version);
      entry.paths.push(element.path);
    }
  }
  return bindings;
}

// [system, code, parent] for every parent link of the complete CodeSystems of the package (nesting
// and the child/parent/subsumedBy properties, as CodeSystemIndex reads them), sorted. A code system
// whose hierarchy is inconsistent is left out (Kiln then cannot answer :above/:below on it).
function CodeSystemLinks(pkg) {
  const out = [];
  const byUrl = Terminology.ByUrl(pkg.CodeSystem);
  for (const [url, cs] of byUrl) {
    if (Array.isArray(cs) || cs.content !== 'complete') continue;
    let index;
    try {
      index = new CodeSystemIndex(cs);
    } catch (e) {
      if (e instanceof NotExpandable) continue;
      throw e;
    }
    for (const [code, concept] of index.concepts) {
      for (const parent of concept.parents) out.push([url, code, parent]);
    }
  }
  out.sort((a, b) => CompareBytes(a[0], b[0]) || CompareBytes(a[1], b[1]) || CompareBytes(a[2], b[2]));
  return out;
}

// Expands the value set of every required binding. Returns rows sorted by URL:
// {url, paths, codes: [[system, code]] sorted by code then system, reason ('' when expanded)}.
function ExpandRequiredValueSets(pkg, sds) {
  const terminology = new Terminology(pkg.ValueSet, pkg.CodeSystem);
  const rows = [];
  for (const [url, {versions, paths}] of RequiredBindings(sds)) {
    const vs = terminology.valueSets.get(url);
    const wrongVersion = [...versions].filter((v) => vs && !Array.isArray(vs) && v !== vs.version);
    let result = terminology.Expand(url);
    if (wrongVersion.length) {
      result = {reason: `is bound as version ${wrongVersion.join(', ')}; the package has ` +
                        `${vs.version}`};
    }
    const codes = result.codes ? [...result.codes.values()] : [];
    codes.sort((a, b) => CompareBytes(a[1], b[1]) || CompareBytes(a[0], b[0]));
    rows.push({
      url,
      paths,
      codes,
      reason: result.reason ?? '',
      fromExpansion: Boolean(result.fromExpansion),
    });
  }
  rows.sort((a, b) => CompareBytes(a.url, b.url));
  return {rows, unusableLeftOut: terminology.unusableLeftOut};
}

// docs/terminology.md: what users need to know about required-binding checks.
function TerminologyDoc(pkg, rows) {
  const notExpandable = rows.filter((row) => row.reason);
  const expanded = rows.length - notExpandable.length;
  const codes = rows.reduce((n, row) => n + row.codes.length, 0);
  const cell = (text) => text.replaceAll('|', '\\|');
  const fhirVersion = pkg.manifest.fhirVersions?.[0] ?? pkg.manifest.version;
  const lines = [
    '# Terminology: which required bindings Kiln checks',
    '',
    '<!-- Generated by `node tools/gen_definitions.mjs <package dir> <output .cc> ' +
        '--docs=docs/terminology.md`; do not edit. A unit test (terminology_test.cc) fails when ' +
        'a value set Kiln cannot expand is missing here. -->',
    '',
    `Kiln checks coded values against the value sets of **required** bindings without a ` +
        `terminology server: at build time, \`tools/gen_definitions.mjs\` expands those value ` +
        `sets from the ValueSets and CodeSystems of ${pkg.manifest.name}@${pkg.manifest.version} ` +
        `and compiles the codes in (\`fhir::CheckCode\`, \`src/fhir/terminology.h\`).`,
    '',
    `- ${rows.length} value sets are bound as required by the core resources and data types; ` +
        `**${expanded}** are expanded (${codes} codes in all) and ` +
        `**${notExpandable.length}** cannot be expanded from the package (below).`,
    '- Codes a code system marks `notSelectable` (abstract) or retired are not accepted, e.g. ' +
        '`question` for `Questionnaire.item.type`; deprecated codes are.',
    '- A bare `code` element matches the code in any system of the value set; a `Coding` must ' +
        'also match its `system`. Codes are compared exactly (case-sensitive).',
    `- The value sets are the versions in the package (FHIR ${fhirVersion}); \`CheckCode\` ` +
        'takes their URL without `|version`.',
    '- Only required bindings are expanded; extensible, preferred and example bindings are not.',
    '',
    '## Required value sets Kiln cannot check',
    '',
    'Codes bound to these value sets cannot be checked (`CheckCode` answers `kNotExpandable`): ' +
        'they need code systems the package does not define in full, or value sets it does not ' +
        'contain.',
    '',
    '| Value set | Why it cannot be expanded | Bound by |',
    '| --- | --- | --- |',
  ];
  for (const row of notExpandable) {
    const paths = [...new Set(row.paths)].sort(CompareBytes).map((p) => `\`${p}\``).join(', ');
    lines.push(`| ${cell(row.url)} | ${cell(`It ${row.reason}.`)} | ${paths} |`);
  }
  return `${lines.join('\n')}\n`;
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

  // The value sets of required bindings; equal code lists are stored once.
  const {rows: valueSets, unusableLeftOut} = ExpandRequiredValueSets(pkg, sds);
  const valueSetCodes = [];
  const codeLists = new Map();
  const valueSetFields = valueSets.map((row) => {
    let first = 0;
    if (row.codes.length) {
      const key = JSON.stringify(row.codes);
      first = codeLists.get(key);
      if (first === undefined) {
        first = valueSetCodes.length;
        codeLists.set(key, first);
        for (const [system, code] of row.codes) {
          valueSetCodes.push([tables.String(code), tables.String(system)]);
        }
      }
    }
    return [tables.String(row.url), first, row.codes.length, tables.String(row.reason)];
  });

  // Code system hierarchies (token :above/:below): every parent link of every complete CodeSystem
  // in the package whose hierarchy is consistent, sorted by (system, code, parent).
  const codeLinks = CodeSystemLinks(pkg).map(([system, code, parent]) =>
    [tables.String(system), tables.String(code), tables.String(parent)]);

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
    requiredValueSets: valueSets.length,
    expandedValueSets: valueSets.filter((row) => !row.reason).length,
    notExpandableValueSets: valueSets.filter((row) => row.reason).length,
    valueSetCodes: valueSets.reduce((n, row) => n + row.codes.length, 0),
    valueSetCodeRows: valueSetCodes.length,
    codeSystemLinks: codeLinks.length,
    unusableCodesLeftOut: unusableLeftOut,
    strings: tables.strings.length,
    poolBytes: offset,
  };

  const out = `// Generated by tools/gen_definitions.mjs from ${pkg.manifest.name}@${pkg.manifest.version}.
// Do not edit. Layout: src/fhir/definitions_tables.h, src/fhir/terminology_tables.h.
// ${JSON.stringify(stats)}
// NOLINTBEGIN
#include "fhir/definitions_tables.h"
#include "fhir/terminology_tables.h"

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

const ValueSetDef kValueSets[] = {
${Rows(valueSetFields)}
};
const uint32_t kValueSetCount = ${valueSetFields.length};

const ValueSetCode kValueSetCodes[] = {
${Rows(valueSetCodes)}
};

const CodeLink kCodeLinks[] = {
${Rows(codeLinks)}
};
const uint32_t kCodeLinkCount = ${codeLinks.length};

}  // namespace kiln::fhir::internal
// NOLINTEND
`;
  return {out, stats, skipped, valueSets};
}

// Write then rename, so an interrupted run never leaves a truncated file that looks current.
function WriteFile(filePath, text) {
  fs.mkdirSync(path.dirname(filePath), {recursive: true});
  const temp = `${filePath}.tmp`;
  fs.writeFileSync(temp, text);
  fs.renameSync(temp, filePath);
}

function Main(argv) {
  const start = process.hrtime.bigint();
  const usage =
      'usage: gen_definitions.mjs <package dir> <output .cc> [--stats] [--docs=<file.md>]';
  const args = argv.filter((a) => !a.startsWith('--'));
  const options = argv.filter((a) => a.startsWith('--'));
  const docsPath = options.find((a) => a.startsWith('--docs='))?.slice('--docs='.length);
  if (args.length !== 2 || options.some((a) => a !== '--stats' && !a.startsWith('--docs='))) {
    Fail(usage);
  }
  const [packageDir, outputPath] = args;
  const pkg = ReadPackage(packageDir);
  const {out, stats, skipped, valueSets} = Generate(pkg);
  WriteFile(outputPath, out);
  // The build never writes into the source tree; docs/terminology.md is refreshed by hand with
  // --docs (terminology_test.cc checks that it lists every value set Kiln cannot expand).
  if (docsPath) WriteFile(docsPath, TerminologyDoc(pkg, valueSets));
  if (options.includes('--stats')) {
    console.log(JSON.stringify(stats, null, 2));
    console.log(`skipped experimental search parameters:\n  ${skipped.join('\n  ')}`);
    const notExpandable = valueSets.filter((row) => row.reason);
    console.log(`required value sets: ${valueSets.length - notExpandable.length} expanded ` +
                `(${stats.valueSetCodes} codes), ${notExpandable.length} not expandable:`);
    for (const row of notExpandable) console.log(`  ${row.url} ${row.reason}`);
    const fromExpansion = valueSets.filter((row) => row.fromExpansion).map((row) => row.url);
    if (fromExpansion.length) {
      console.log(`taken from a ready expansion:\n  ${fromExpansion.join('\n  ')}`);
    }
    const ms = Number(process.hrtime.bigint() - start) / 1e6;
    console.log(`generated ${Buffer.byteLength(out)} bytes in ${ms.toFixed(0)} ms`);
  }
}

Main(process.argv.slice(2));
