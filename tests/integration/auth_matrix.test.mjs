// The authorization matrix: thousands of generated cases, each a real request to a real Kiln
// (--auth smart) with a real token from the test authorization server (oidc-provider), compared
// with what an INDEPENDENT policy table, written here from docs/security.md's rules, says must
// happen. Kiln is never asked what the answer should be.
//
//   scope set (context patient/user/system x permission v1/v2 x type-specific or *, plus mixed
//   and claim-less sets) x interaction x resource type x target (own patient's resource, other
//   patient's resource, shared resource, another tenant's resource)
//
// Kiln runs with --tenancy url+claim (docs/tenants.md): every request goes to the own tenant's
// base, [base]/tenant/a/..., with a token whose tenant claim is 'a'. This is the mode that
// exercises both sources of the tenant: the URL picks the tenant's data, and the claim must agree
// with it. (With `url` alone any token reaches every tenant, by design; with `claim` alone there is
// no other tenant's base to try.) Tenant 'b' holds a copy of the whole dataset under the SAME ids,
// with different values, plus resources that exist only in b; every resource of b carries the
// meta.tag OTHER_TENANT_MARK, and no answer to any case of tenant a may contain it. The
// 'other-tenant' target is sent twice: through the own base (b's resources must not be found,
// joined through chains/_has/_include, or changed) and through b's base with the same token (403:
// the claim is not the URL's tenant). After the writes, b's copies are read with a token of b:
// none may have a new version, and b may hold no new resource.
//
// A "wrong allow" (data returned or written where the table says deny) fails the test; so does a
// "wrong deny" (refused where the table says allow) and any answer that is neither (e.g. a 500).
// The counts are printed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startAuthPair, bearer } from './lib/auth.mjs';

// ---------------------------------------------------------------------------------------------
// The dataset: two patients with their clinical data, and shared data.
// ---------------------------------------------------------------------------------------------
const OWN = 'p1'; // the patient in context of patient/ tokens (and the patient user)
const OTHER = 'p2';
const coding = (system, code) => ({ coding: [{ system, code }], text: code });
const FIXTURES = [
  { resourceType: 'Patient', id: 'p1', name: [{ family: 'One' }] },
  // p2 links to p1, so by R4's CompartmentDefinition p2's record is in p1's compartment: a
  // restricted token must still not reach it (docs/security.md, "Patient context").
  { resourceType: 'Patient', id: 'p2', name: [{ family: 'Two' }],
    link: [{ other: { reference: 'Patient/p1' }, type: 'seealso' }] },
  { resourceType: 'Practitioner', id: 'pr1', name: [{ family: 'Doc' }] },
  { resourceType: 'Organization', id: 'org1', name: 'Clinic' },
  { resourceType: 'Medication', id: 'm1', code: coding('http://www.nlm.nih.gov/research/umls/rxnorm', '1049502') },
  ...[OWN, OTHER].flatMap((p) => [
    { resourceType: 'Encounter', id: `e-${p}`, status: 'finished',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
      subject: { reference: `Patient/${p}` }, serviceProvider: { reference: 'Organization/org1' },
      diagnosis: [{ condition: { reference: `Condition/c-${p}` } }] },
    { resourceType: 'Condition', id: `c-${p}`, subject: { reference: `Patient/${p}` },
      code: coding('http://snomed.info/sct', '195662009'), encounter: { reference: `Encounter/e-${p}` } },
    { resourceType: 'Observation', id: `o-${p}`, status: 'final', code: coding('http://loinc.org', '29463-7'),
      subject: { reference: `Patient/${p}` }, encounter: { reference: `Encounter/e-${p}` },
      performer: [{ reference: 'Practitioner/pr1' }] },
    { resourceType: 'MedicationRequest', id: `mr-${p}`, status: 'active', intent: 'order',
      medicationReference: { reference: 'Medication/m1' }, subject: { reference: `Patient/${p}` },
      requester: { reference: 'Practitioner/pr1' } },
  ]),
];
const byKey = new Map(FIXTURES.map((r) => [`${r.resourceType}/${r.id}`, r]));

// The tenants. The matrix's callers all belong to OWN_TENANT.
const TENANT_CLAIM = 'custom:tenantId';
const OWN_TENANT = 'a';
const OTHER_TENANT = 'b';
const OTHER_TENANT_MARK = 'urn:kiln-test:other-tenant'; // meta.tag system of every resource in b

const COMPARTMENT_TYPES = ['Observation', 'Encounter', 'Condition', 'MedicationRequest'];
const SHARED_TYPES = ['Practitioner', 'Organization', 'Medication'];
const TYPES = ['Patient', ...COMPARTMENT_TYPES, ...SHARED_TYPES];
const SHARED_ID = { Practitioner: 'pr1', Organization: 'org1', Medication: 'm1' };
const PREFIX = { Observation: 'o', Encounter: 'e', Condition: 'c', MedicationRequest: 'mr' };

// The targets of a type, and the fixture each one names. 'other-tenant' names a resource that
// exists only in OTHER_TENANT (reads and searches), or the other tenant's same-id copy of the own
// data (writes, _include, _revinclude, chains, _has); see `run`.
const OTHER_TENANT_PATIENT = 'q1';
const OTHER_TENANT_SHARED_ID = { Practitioner: 'pr-q', Organization: 'org-q', Medication: 'm-q' };
function targetsOf(type) {
  return [...(SHARED_TYPES.includes(type) ? ['shared'] : ['own', 'other']), 'other-tenant'];
}
function targetId(type, target) {
  if (target === 'shared') return SHARED_ID[type];
  if (target === 'other-tenant' && SHARED_TYPES.includes(type)) return OTHER_TENANT_SHARED_ID[type];
  const p = { own: OWN, other: OTHER, 'other-tenant': OTHER_TENANT_PATIENT }[target];
  return type === 'Patient' ? p : `${PREFIX[type]}-${p}`;
}
// Whose compartment a resource is in (null for shared data); the Patient record is its own.
function patientOf(type, target) {
  if (target === 'shared' || SHARED_TYPES.includes(type)) return null;
  return { own: OWN, other: OTHER, 'other-tenant': OTHER_TENANT_PATIENT }[target];
}
// The own tenant's resource of `type` whose same-id copy the other tenant holds.
const sameIdTarget = (type) => targetId(type, SHARED_TYPES.includes(type) ? 'shared' : 'own');

// The other tenant's data: every fixture under the same id but with other values (so a search,
// chain or _has that crossed tenants would match something), and a world of its own (patient q1,
// its clinical data, pr-q, org-q, m-q) with ids the own tenant does not have. All marked.
function inOtherTenant(r) {
  const x = structuredClone(r);
  x.meta = { tag: [{ system: OTHER_TENANT_MARK, code: OTHER_TENANT }] };
  switch (x.resourceType) {
    case 'Patient': x.name[0].family += 'B'; break;
    case 'Practitioner': x.name[0].family = 'DocB'; break;
    case 'Organization': x.name = 'ClinicB'; break;
    case 'Medication': x.code = coding('http://www.nlm.nih.gov/research/umls/rxnorm', '197361'); break;
    case 'Encounter': x.status = 'in-progress'; break;
    case 'Condition': x.code = coding('http://snomed.info/sct', '38341003'); break;
    case 'Observation': x.code = coding('http://loinc.org', '8867-4'); break;
    case 'MedicationRequest': x.status = 'on-hold'; break;
    default: throw new Error(x.resourceType);
  }
  return x;
}
const OTHER_TENANT_ONLY = new Map(TYPES.map((t) => [`${t}/${sameIdTarget(t)}`, `${t}/${targetId(t, 'other-tenant')}`]));
function onlyInOtherTenant(r) {
  let text = JSON.stringify(r);
  for (const [from, to] of OTHER_TENANT_ONLY) text = text.replaceAll(`"${from}"`, `"${to}"`);
  const x = JSON.parse(text);
  x.id = OTHER_TENANT_ONLY.get(`${r.resourceType}/${r.id}`).split('/')[1];
  return inOtherTenant(x);
}
const OTHER_TENANT_FIXTURES = [
  ...FIXTURES.map(inOtherTenant),
  ...FIXTURES.filter((r) => OTHER_TENANT_ONLY.has(`${r.resourceType}/${r.id}`)).map(onlyInOtherTenant),
];

// ---------------------------------------------------------------------------------------------
// The scope sets.
// ---------------------------------------------------------------------------------------------
const PERMISSIONS = ['read', 'write', '*', 'rs', 'r', 's', 'cu', 'cud', 'cruds', 'd'];
const CONTEXTS = {
  patient: { client: 'patient-p1', claims: { patient: OWN } },
  user: { client: 'practitioner', claims: { fhirUser: 'Practitioner/pr1' } },
  'patient-user': { client: 'patient-user', claims: { fhirUser: 'Patient/p1' } },
  system: { client: 'backend', claims: {} },
};
const CONTEXT_PREFIX = { patient: 'patient', user: 'user', 'patient-user': 'user', system: 'system' };
const SCOPE_SETS = [];
for (const [ctx, { client }] of Object.entries(CONTEXTS)) {
  for (const perm of PERMISSIONS) {
    for (const type of ['*', 'Observation']) {
      SCOPE_SETS.push({ client, scopes: [`${CONTEXT_PREFIX[ctx]}/${type}.${perm}`] });
    }
  }
}
// Mixed contexts, several scopes, and tokens without the claims their scopes need.
const EXTRA_CLIENTS = {
  'patient-and-practitioner': { patient: OWN, fhirUser: 'Practitioner/pr1' },
  'no-patient-claim': {},
  'user-without-fhiruser': {},
  'patient-user-other-context': { fhirUser: 'Patient/p1', patient: OTHER },
};
SCOPE_SETS.push(
  { client: 'patient-and-practitioner', scopes: ['patient/*.rs', 'user/Observation.rs'] },
  { client: 'patient-and-practitioner', scopes: ['patient/*.cruds', 'user/Encounter.r'] },
  { client: 'patient-p1', scopes: ['patient/Observation.rs', 'patient/Patient.r'] },
  { client: 'patient-p1', scopes: ['patient/Observation.read', 'patient/Encounter.cud', 'patient/Medication.rs'] },
  { client: 'patient-p1', scopes: ['patient/*.rs', 'patient/Condition.cu'] },
  { client: 'backend', scopes: ['system/Observation.rs', 'system/Patient.s'] },
  { client: 'backend', scopes: ['system/Observation.s', 'system/Patient.r', 'system/Encounter.rs'] },
  { client: 'backend', scopes: ['system/MedicationRequest.rs', 'system/Medication.r', 'system/Practitioner.s'] },
  { client: 'patient-p1', scopes: ['system/Observation.rs', 'patient/*.rs'] },
  { client: 'practitioner', scopes: ['user/Encounter.cu', 'user/*.r'] },
  { client: 'practitioner', scopes: ['user/*.rs', 'patient/*.cud'] }, // no patient claim: patient/ grants nothing
  { client: 'no-patient-claim', scopes: ['patient/*.cruds'] },
  { client: 'user-without-fhiruser', scopes: ['user/*.cruds'] },
  { client: 'patient-user-other-context', scopes: ['user/*.cruds'] },
  { client: 'backend', scopes: ['openid', 'fhirUser', 'launch/patient', 'offline_access'] },
);
const CLIENT_CLAIMS = {
  ...Object.fromEntries(Object.values(CONTEXTS).map((c) => [c.client, c.claims])),
  ...EXTRA_CLIENTS,
};
// Every caller of the matrix belongs to the own tenant (the tenant claim is never what is tested
// missing: tenants.test.mjs does that).
for (const claims of Object.values(CLIENT_CLAIMS)) claims[TENANT_CLAIM] = OWN_TENANT;

// ---------------------------------------------------------------------------------------------
// The policy table, from docs/security.md ("Scopes", "Which contexts grant what", "Patient
// context", "What each interaction needs"). Written without looking at Kiln's answers.
// ---------------------------------------------------------------------------------------------
const V1 = { read: 'rs', write: 'cud', '*': 'cruds' };
function parseScope(scope) {
  const m = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]+)\.([a-z*]+)$/.exec(scope);
  if (!m) return null;
  const [, context, type, perm] = m;
  const letters = V1[perm] ?? (/^c?r?u?d?s?$/.test(perm) && perm ? perm : null);
  return letters ? { context, type, letters } : null;
}

// What the scope set grants for `letter` on `type`: 'all', { patient } (that compartment only),
// or null.
function grant(set, type, letter) {
  const claims = CLIENT_CLAIMS[set.client];
  let best = null;
  for (const s of set.scopes.map(parseScope)) {
    if (!s || (s.type !== '*' && s.type !== type) || !s.letters.includes(letter)) continue;
    if (s.context === 'system') return 'all';
    if (s.context === 'user') {
      const user = claims.fhirUser;
      if (!user) continue; // a user/ scope needs a fhirUser
      const m = /^Patient\/(.+)$/.exec(user);
      if (!m) return 'all'; // Practitioner (and other non-patient) users: what the scope names
      if (claims.patient && claims.patient !== m[1]) continue; // a patient user in another's context
      best ??= { patient: m[1] };
      continue;
    }
    if (s.context === 'patient' && claims.patient) best ??= { patient: claims.patient };
  }
  return best;
}

// May the caller see (read with 'r', find with 's') `type`'s resource named by `target`?
function canSee(set, type, target, letter) {
  const g = grant(set, type, letter);
  if (!g) return false;
  if (g === 'all') return true;
  if (SHARED_TYPES.includes(type)) return true; // shared data: read and searched freely
  return patientOf(type, target) === g.patient; // compartment (a Patient record is its own)
}

// May the caller write (`letter` c, u or d) `type`'s resource, which is (and stays) `target`'s?
function canWrite(set, type, target, letter) {
  const g = grant(set, type, letter);
  if (!g) return false;
  if (g === 'all') return true;
  if (!COMPARTMENT_TYPES.includes(type)) return false; // never Patient records or shared data
  return patientOf(type, target) === g.patient;
}

// May a chain or _has pass through `type`? It needs s on the type, unrestricted: a grant limited
// to a compartment would test linked resources outside it (shared types are not limited).
function mayPassThrough(set, type) {
  const g = grant(set, type, 's');
  return g === 'all' || (g !== null && SHARED_TYPES.includes(type));
}

// The references used by _include, _revinclude, chains and _has: `type` reached from `base`.
const INCLUDES = { // included type -> [base type, search parameter]
  Patient: ['Observation', 'subject'],
  Encounter: ['Observation', 'encounter'],
  Condition: ['Encounter', 'diagnosis'],
  Practitioner: ['Observation', 'performer'],
  Organization: ['Encounter', 'service-provider'],
  Medication: ['MedicationRequest', 'medication'],
};
const REVINCLUDES = { // revincluded type -> [base type, parameter of the revincluded type]
  Observation: ['Patient', 'subject'],
  Encounter: ['Patient', 'subject'],
  Condition: ['Patient', 'subject'],
  MedicationRequest: ['Patient', 'subject'],
};
// For 'other-tenant': the value only the other tenant's same-id copy has (see inOtherTenant), so
// the own tenant's base resource is found only if the chain crossed into the other tenant.
const CHAINS = { // chained-through type -> [base type, chain expression, value for the target]
  Patient: ['Observation', 'subject:Patient.name', { own: 'One', other: 'Two', 'other-tenant': 'OneB' }],
  Encounter: ['Observation', 'encounter:Encounter.status',
    { own: 'finished', other: 'finished', 'other-tenant': 'in-progress' }],
  Practitioner: ['Observation', 'performer:Practitioner.name', { shared: 'Doc', 'other-tenant': 'DocB' }],
  Organization: ['Encounter', 'service-provider:Organization.name', { shared: 'Clinic', 'other-tenant': 'ClinicB' }],
  Medication: ['MedicationRequest', 'medication.code', { shared: '1049502', 'other-tenant': '197361' }],
};
const HAS = { // _has type -> its criterion (on resources referring to the Patient by `subject`)
  Observation: 'code=http://loinc.org|29463-7',
  Encounter: 'status=finished',
  Condition: 'code=http://snomed.info/sct|195662009',
  MedicationRequest: 'status=active',
};
const HAS_OTHER_TENANT = { // what only the other tenant's copies match
  Observation: 'code=http://loinc.org|8867-4',
  Encounter: 'status=in-progress',
  Condition: 'code=http://snomed.info/sct|38341003',
  MedicationRequest: 'status=on-hold',
};
// For a reference from `base` to the target of `type`: which base resource (same patient as the
// target; for shared targets, the own patient's; for another tenant's, the own tenant's resource
// whose same-id copy in the other tenant refers to the other tenant's copy of the target).
function baseTarget(baseType, target) {
  if (SHARED_TYPES.includes(baseType)) return 'shared';
  return target === 'shared' || target === 'other-tenant' ? 'own' : target;
}

// expected(scopeSet, interaction, type, target) -> 'allow' | 'deny'
function expected(set, interaction, type, target) {
  // docs/security.md, "Tenants", and docs/tenants.md: every read, search, include, chain, _has,
  // history, write and Bundle entry stays within the request's tenant; a token whose tenant is
  // not the URL's gets 403, never data. Whatever the scopes, another tenant's data is out of reach.
  if (target === 'other-tenant') return 'deny';
  switch (interaction) {
    case 'read': case 'vread': case 'history-instance': case 'batch-read':
      return canSee(set, type, target, 'r') ? 'allow' : 'deny';
    case 'search': case 'search-all': case 'search-post': case 'search-count': case 'search-paged':
      return canSee(set, type, target, 's') ? 'allow' : 'deny';
    case 'system-search': // GET [base]?_type={type}&_id=...
      // A system search under a compartment grant searches the compartment, and the Patient
      // record is not a member of its own compartment ("read it directly").
      if (type === 'Patient' && grant(set, type, 's') !== 'all') return 'deny';
      return canSee(set, type, target, 's') ? 'allow' : 'deny';
    case 'history-system':
      // s on every type: unrestricted, everything; with a compartment-only grant on some types
      // (patient/*.rs), filtered to what the caller reaches now, as for reads.
      if (TYPES.every((t) => grant(set, t, 's') === 'all') && set.scopes.some((x) => /^(system|user)\/\*\./.test(x)))
        return 'allow';
      if (!TYPES.every((t) => grant(set, t, 's') !== null)) return 'deny';
      return canSee(set, type, target, 's') ? 'allow' : 'deny';
    case 'conditional-update': // PUT {type}?_id=...: u, and s for the criteria
      return canWrite(set, type, target, 'u') && canSee(set, type, target, 's') ? 'allow' : 'deny';
    case 'history-type':
      // Needs s; under a compartment-only grant, the versions of the resources in the
      // compartment now (membership as for reads).
      return canSee(set, type, target, 's') ? 'allow' : 'deny';
    case 'compartment': { // GET Patient/{p}/{type}
      const g = grant(set, type, 's');
      if (g === 'all') return 'allow';
      return g && g.patient === patientOf(type, target) ? 'allow' : 'deny';
    }
    case 'create': case 'transaction-create':
      return canWrite(set, type, target, 'c') ? 'allow' : 'deny';
    case 'update': case 'patch':
      return canWrite(set, type, target, 'u') ? 'allow' : 'deny';
    case 'delete':
      return canWrite(set, type, target, 'd') ? 'allow' : 'deny';
    case 'include': case 'include-wildcard': {
      const [base] = INCLUDES[type];
      return canSee(set, base, baseTarget(base, target), 's') && canSee(set, type, target, 'r')
        ? 'allow' : 'deny';
    }
    case 'revinclude': {
      const [base] = REVINCLUDES[type];
      return canSee(set, base, baseTarget(base, target), 's') && canSee(set, type, target, 'r')
        ? 'allow' : 'deny';
    }
    case 'chain': { // the base resource is found only if the chain may pass through the type
      const [base] = CHAINS[type];
      return canSee(set, base, baseTarget(base, target), 's') && mayPassThrough(set, type)
        ? 'allow' : 'deny';
    }
    case 'has': // Patient?_id=p&_has:{type}:subject:...
      return canSee(set, 'Patient', target, 's') && mayPassThrough(set, type) ? 'allow' : 'deny';
    default:
      throw new Error(`no policy for ${interaction}`);
  }
}

// ---------------------------------------------------------------------------------------------
// The cases and how each is sent and judged.
// ---------------------------------------------------------------------------------------------
// Which (interaction, type) pairs exist, and for which targets.
function casesFor() {
  const out = [];
  for (const type of TYPES) {
    for (const target of targetsOf(type)) {
      for (const interaction of ['read', 'vread', 'history-instance', 'batch-read', 'search', 'search-all',
        'search-post', 'search-count', 'search-paged', 'system-search', 'history-type', 'history-system',
        'create', 'transaction-create', 'update', 'conditional-update', 'patch', 'delete']) {
        if (type === 'Patient' && target === 'own' && /create/.test(interaction)) continue; // a new Patient is never "own"
        out.push({ interaction, type, target });
      }
      if (COMPARTMENT_TYPES.includes(type)) out.push({ interaction: 'compartment', type, target });
      if (INCLUDES[type]) out.push({ interaction: 'include', type, target });
      if (INCLUDES[type]) out.push({ interaction: 'include-wildcard', type, target });
      if (REVINCLUDES[type]) out.push({ interaction: 'revinclude', type, target });
      if (CHAINS[type] && CHAINS[type][2][target]) out.push({ interaction: 'chain', type, target });
      if (HAS[type]) out.push({ interaction: 'has', type, target });
    }
  }
  // Another tenant's data is tried through the own tenant's base and through its own base.
  return out.flatMap((c) => (c.target === 'other-tenant'
    ? [{ ...c, via: 'own-base' }, { ...c, via: 'other-base' }] : [c]));
}

const WRITES = new Set(['create', 'transaction-create', 'update', 'conditional-update', 'patch', 'delete']);

function newResource(type, target, n) {
  const p = patientOf(type, target);
  const subject = p ? { reference: `Patient/${p}` } : undefined;
  switch (type) {
    case 'Patient': return { resourceType: 'Patient', name: [{ family: `New${n}` }] };
    case 'Observation': return { resourceType: 'Observation', status: 'final', code: { text: `new ${n}` }, subject };
    case 'Encounter': return { resourceType: 'Encounter', status: 'planned',
      class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' }, subject };
    case 'Condition': return { resourceType: 'Condition', code: { text: `new ${n}` }, subject };
    case 'MedicationRequest': return { resourceType: 'MedicationRequest', status: 'draft', intent: 'proposal',
      medicationReference: { reference: 'Medication/m1' }, subject };
    case 'Practitioner': return { resourceType: 'Practitioner', name: [{ family: `New${n}` }] };
    case 'Organization': return { resourceType: 'Organization', name: `New ${n}` };
    case 'Medication': return { resourceType: 'Medication', code: { text: `new ${n}` } };
    default: throw new Error(type);
  }
}

const entryIds = (bundle, mode) => (bundle?.entry ?? [])
  .filter((e) => !mode || e.search?.mode === mode)
  .map((e) => `${e.resource?.resourceType}/${e.resource?.id}`);

// Sends the case; resolves { observed: 'allow' | 'deny' | 'error', detail }.
async function run(kiln, token, c) {
  const headers = bearer(token);
  const { interaction, type, target } = c;
  const otherTenant = target === 'other-tenant';
  const viaOtherBase = c.via === 'other-base';
  const tenant = viaOtherBase ? OTHER_TENANT : OWN_TENANT;
  // Reads and searches look for a resource only the other tenant has; writes, and the searches
  // that follow references, work on a resource whose same-id copy the other tenant has.
  const id = otherTenant && WRITES.has(interaction) ? sameIdTarget(type) : targetId(type, target);
  const key = `${type}/${id}`;
  // Every request goes to a tenant's base ([base]/tenant/{t}); every answer is kept to look for
  // the other tenant's mark.
  const texts = [];
  const send = async (method, path, opts = {}) => {
    const res = await kiln.request(method, path, { ...opts, headers: { ...headers, ...opts.headers } });
    texts.push(res.text);
    return res;
  };
  const request = (method, path, opts) => send(method,
    `/tenant/${tenant}${path === '/' ? '' : path.startsWith('/?') ? path.slice(1) : path}`, opts);
  const get = (path) => request('GET', path);
  // A read-like answer: 200 with the resource is an allow, 403/404 a deny.
  const readLike = (r, ok) => {
    if (r.status === 200 && ok(r)) return 'allow';
    if (r.status === 403 || r.status === 404) return 'deny';
    return 'error';
  };
  // A search answer: 200 with `want` among the entries (of `mode`) is an allow, 200 without it
  // (filtered) or 403 a deny.
  const searchLike = (r, want, mode) => {
    if (r.status === 200 && r.json?.resourceType === 'Bundle') {
      return entryIds(r.json, mode).includes(want) ? 'allow' : 'deny';
    }
    return r.status === 403 ? 'deny' : 'error';
  };
  // Writes into the own tenant, aimed at a resource the other tenant also has: whether the own
  // tenant's copy was written does not matter here (the own targets test that); the other
  // tenant's copy is checked after all writes (see the test).
  const writeLike = otherTenant
    ? (r) => ([200, 201, 204, 403, 404].includes(r.status) ? 'deny' : 'error')
    : (r, okStatuses) => {
      if (okStatuses.includes(r.status)) return 'allow';
      if (r.status === 403 || r.status === 404) return 'deny';
      return 'error';
    };
  let r;
  let observed;
  switch (interaction) {
    case 'read':
      r = await get(`/${key}`);
      observed = readLike(r, (x) => x.json?.id === id);
      break;
    case 'vread':
      r = await get(`/${key}/_history/1`);
      observed = readLike(r, (x) => x.json?.id === id);
      break;
    case 'history-instance':
      r = await get(`/${key}/_history`);
      observed = readLike(r, (x) => entryIds(x.json).includes(key));
      break;
    case 'batch-read': {
      r = await request('POST', '/', { body: { resourceType: 'Bundle', type: 'batch',
        entry: [{ request: { method: 'GET', url: key } }] } });
      if (r.status !== 200) { observed = 'error'; break; }
      const e = r.json.entry?.[0];
      const status = Number.parseInt(e?.response?.status, 10);
      if (status === 200 && e.resource?.id === id) observed = 'allow';
      else if (status === 403 || status === 404) observed = e.resource?.resourceType === type ? 'error' : 'deny';
      else observed = 'error';
      break;
    }
    case 'search':
      r = await get(`/${type}?_id=${id}`);
      observed = searchLike(r, key);
      break;
    case 'search-all':
      r = await get(`/${type}?_count=1000`);
      observed = searchLike(r, key);
      break;
    case 'search-post':
      r = await request('POST', `/${type}/_search`, {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `_id=${id}` });
      observed = searchLike(r, key);
      break;
    case 'search-count': // the total must not count what the caller may not see
      r = await get(`/${type}?_id=${id}&_summary=count`);
      if (r.status === 200 && r.json?.resourceType === 'Bundle') {
        observed = r.json.total === 1 ? 'allow' : r.json.total === 0 ? 'deny' : 'error';
      } else observed = r.status === 403 ? 'deny' : 'error';
      break;
    case 'search-paged': { // one resource per page, following the next links as given
      r = await get(`/${type}?_count=1`);
      const seen = [];
      for (let page = 0; r.status === 200 && page < 50; page++) {
        seen.push(...entryIds(r.json));
        const next = r.json.link?.find((l) => l.relation === 'next')?.url;
        if (!next) break;
        r = await send('GET', next.replace(/^https?:\/\/[^/]+\/fhir/, ''));
      }
      if (r.status === 200) observed = seen.includes(key) ? 'allow' : 'deny';
      else observed = r.status === 403 ? 'deny' : 'error';
      break;
    }
    case 'system-search':
      r = await get(`/?_type=${type}&_id=${id}`);
      observed = searchLike(r, key);
      break;
    case 'history-system':
      r = await get('/_history?_count=1000');
      observed = searchLike(r, key);
      break;
    case 'conditional-update':
      r = await request('PUT', `/${type}?_id=${id}`, { body: byKey.get(key) });
      observed = writeLike(r, [200]);
      break;
    case 'history-type':
      r = await get(`/${type}/_history?_count=1000`);
      observed = searchLike(r, key);
      break;
    case 'compartment':
      r = await get(`/Patient/${patientOf(type, target)}/${type}?_count=1000`);
      observed = searchLike(r, key);
      break;
    case 'include': {
      const [base, param] = INCLUDES[type];
      const baseId = targetId(base, baseTarget(base, target));
      r = await get(`/${base}?_id=${baseId}&_include=${base}:${param}`);
      observed = searchLike(r, key, 'include');
      break;
    }
    case 'include-wildcard': {
      const [base] = INCLUDES[type];
      const baseId = targetId(base, baseTarget(base, target));
      r = await get(`/${base}?_id=${baseId}&_include=*`);
      observed = searchLike(r, key, 'include');
      break;
    }
    case 'revinclude': {
      const [base, param] = REVINCLUDES[type];
      const baseId = targetId(base, baseTarget(base, target));
      r = await get(`/${base}?_id=${baseId}&_revinclude=${type}:${param}`);
      observed = searchLike(r, key, 'include');
      break;
    }
    case 'chain': {
      const [base, chain, values] = CHAINS[type];
      const baseId = targetId(base, baseTarget(base, target));
      r = await get(`/${base}?_id=${baseId}&${chain}=${encodeURIComponent(values[target])}`);
      observed = searchLike(r, `${base}/${baseId}`);
      break;
    }
    case 'has': { // for another tenant: the own patient, by what only the other tenant's copies match
      const pid = otherTenant ? OWN : patientOf(type, target);
      const [param, value] = (otherTenant ? HAS_OTHER_TENANT : HAS)[type].split('=');
      r = await get(`/Patient?_id=${pid}&_has:${type}:subject:${param}=${encodeURIComponent(value)}`);
      observed = searchLike(r, `Patient/${pid}`);
      break;
    }
    case 'create':
      r = await request('POST', `/${type}`, { body: newResource(type, target, c.n) });
      observed = writeLike(r, [201]);
      break;
    case 'transaction-create':
      r = await request('POST', '/', { body: { resourceType: 'Bundle', type: 'transaction',
        entry: [{ fullUrl: `urn:uuid:00000000-0000-4000-8000-${String(c.n).padStart(12, '0')}`,
          resource: newResource(type, target, c.n), request: { method: 'POST', url: type } }] } });
      observed = writeLike(r, [200]);
      break;
    case 'update':
      r = await request('PUT', `/${key}`, { body: byKey.get(key) });
      observed = writeLike(r, [200]);
      break;
    case 'patch':
      r = await request('PATCH', `/${key}`, { headers: { 'Content-Type': 'application/json-patch+json' },
        body: JSON.stringify([{ op: 'add', path: '/language', value: 'en' }]) });
      observed = writeLike(r, [200]);
      break;
    case 'delete':
      r = await request('DELETE', `/${type}/${c.deleteId}`);
      observed = writeLike(r, [200, 204]);
      break;
    default:
      throw new Error(interaction);
  }
  // Through the other tenant's base with the own tenant's token: 403 (the claim is not the URL's
  // tenant), whatever the interaction; any other answer is data or a write that must not be.
  if (viaOtherBase) observed = r.status === 403 && texts.length === 1 ? 'deny' : r.status < 300 ? 'allow' : 'error';
  // Nothing of the other tenant in any answer to the own tenant's caller, whatever the target.
  const leak = texts.some((t) => t.includes(OTHER_TENANT_MARK));
  if (leak) observed = 'allow';
  return { observed, leak, detail: `${r.status} ${r.text.slice(0, 200)}` };
}

// ---------------------------------------------------------------------------------------------
let pair;
let kiln;
let adminToken; // the own tenant's
let otherAdminToken; // the other tenant's
const putAs = (token, tenant, r) => kiln.request('PUT', `/tenant/${tenant}/${r.resourceType}/${r.id}`,
  { headers: bearer(token), body: r });

before(async () => {
  const scopesByClient = new Map([['admin', new Set(['system/*.cruds'])], ['admin-b', new Set(['system/*.cruds'])]]);
  CLIENT_CLAIMS.admin = { [TENANT_CLAIM]: OWN_TENANT };
  CLIENT_CLAIMS['admin-b'] = { [TENANT_CLAIM]: OTHER_TENANT };
  for (const set of SCOPE_SETS) {
    if (!scopesByClient.has(set.client)) scopesByClient.set(set.client, new Set());
    for (const s of set.scopes) scopesByClient.get(set.client).add(s);
  }
  const clients = [...scopesByClient].map(([id, scopes], i) => ({
    id, alg: i % 2 ? 'ES256' : 'RS256', scopes: [...scopes], claims: CLIENT_CLAIMS[id] ?? {},
  }));
  pair = await startAuthPair({ clients, kilnArgs: ['--sync', 'normal', '--access-log', 'false',
    '--tenancy', 'url+claim', '--auth-tenant-claim', TENANT_CLAIM, '--tenants', `${OWN_TENANT},${OTHER_TENANT}`] });
  kiln = pair.kiln;
  adminToken = await pair.as.token('admin', 'system/*.cruds');
  otherAdminToken = await pair.as.token('admin-b', 'system/*.cruds');
  for (const r of FIXTURES) {
    const res = await putAs(adminToken, OWN_TENANT, r);
    assert.equal(res.status, 201, `${r.resourceType}/${r.id}: ${res.text}`);
  }
  for (const r of OTHER_TENANT_FIXTURES) {
    const res = await putAs(otherAdminToken, OTHER_TENANT, r);
    assert.equal(res.status, 201, `${OTHER_TENANT}: ${r.resourceType}/${r.id}: ${res.text}`);
  }
  // The mark that gives the other tenant's data away is kept, and only there.
  const marked = await kiln.request('GET', `/tenant/${OTHER_TENANT}/Patient/${OWN}`, { headers: bearer(otherAdminToken) });
  assert.equal(marked.json?.meta?.tag?.[0]?.system, OTHER_TENANT_MARK, marked.text);
  const own = await kiln.request('GET', `/tenant/${OWN_TENANT}/Patient/${OWN}`, { headers: bearer(adminToken) });
  assert.equal(own.status, 200, own.text);
  assert.ok(!own.text.includes(OTHER_TENANT_MARK), own.text);
});

// The other tenant's versions since `since` (a write that reached it adds one); with no `since`,
// the server's time now.
async function otherTenantHistory(since) {
  const h = await kiln.request('GET', `/tenant/${OTHER_TENANT}/_history?_count=1000` +
    `${since ? `&_since=${encodeURIComponent(since)}` : ''}`, { headers: bearer(otherAdminToken) });
  assert.equal(h.status, 200, h.text);
  assert.equal(h.json.resourceType, 'Bundle', h.text);
  return since ? h.json.entry ?? [] : h.json.meta.lastUpdated;
}
async function otherTenantVersion(key) {
  const r = await kiln.request('GET', `/tenant/${OTHER_TENANT}/${key}`, { headers: bearer(otherAdminToken) });
  return r.status === 200 ? r.json.meta.versionId : `${r.status}`;
}

after(async () => { await pair?.close(); });

async function pool(items, concurrency, fn) {
  let next = 0;
  const workers = Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  });
  await Promise.all(workers);
}

test('authorization matrix: every generated case matches the policy table (zero wrong allows)', async () => {
  const started = Date.now();
  // Tokens: one per scope set, from the real authorization server.
  const tokens = [];
  for (const set of SCOPE_SETS) tokens.push(await pair.as.token(set.client, set.scopes.join(' ')));

  const shapes = casesFor();
  const cases = [];
  let n = 0;
  SCOPE_SETS.forEach((set, s) => {
    for (const shape of shapes) {
      n += 1;
      cases.push({ ...shape, set, token: tokens[s], n,
        expected: expected(set, shape.interaction, shape.type, shape.target) });
    }
  });

  // Reads first (the data they look at stays as it was), then the writes.
  const reads = cases.filter((c) => !WRITES.has(c.interaction));
  const writes = cases.filter((c) => WRITES.has(c.interaction));
  const results = [];
  await pool(reads, 8, async (c) => {
    const { observed, leak, detail } = await run(kiln, c.token, c);
    results.push({ ...c, observed, leak, detail });
  });
  // Each delete gets its own victim, a copy of the target (same patient), made by the admin; for
  // another tenant's target, one under the same id in each tenant.
  await pool(writes.filter((c) => c.interaction === 'delete'), 8, async (c) => {
    c.deleteId = `del-${c.n}`;
    const source = c.target === 'other-tenant' ? sameIdTarget(c.type) : targetId(c.type, c.target);
    const copy = { ...byKey.get(`${c.type}/${source}`), id: c.deleteId };
    let r = await putAs(adminToken, OWN_TENANT, copy);
    assert.equal(r.status, 201, r.text);
    if (c.target === 'other-tenant') {
      r = await putAs(otherAdminToken, OTHER_TENANT, inOtherTenant(copy));
      assert.equal(r.status, 201, r.text);
    }
  });
  const writesStarted = await otherTenantHistory();
  await pool(writes, 8, async (c) => {
    const { observed, leak, detail } = await run(kiln, c.token, c);
    results.push({ ...c, observed, leak, detail });
  });

  // The writes aimed at another tenant's resources changed nothing there: each one's target in the
  // other tenant (its same-id copy, or its delete victim) is still at version 1, read with a token
  // of that tenant, and the other tenant holds no new version (e.g. a create that landed there).
  const otherWrites = results.filter((c) => c.target === 'other-tenant' && WRITES.has(c.interaction));
  const otherKey = (c) => `${c.type}/${c.interaction === 'delete' ? c.deleteId : sameIdTarget(c.type)}`;
  const otherVersion = new Map();
  await pool([...new Set(otherWrites.filter((c) => !/create/.test(c.interaction)).map(otherKey))], 8, async (k) => {
    otherVersion.set(k, await otherTenantVersion(k));
  });
  for (const c of otherWrites) {
    const v = /create/.test(c.interaction) ? '1' : otherVersion.get(otherKey(c));
    if (v !== '1') {
      c.observed = 'allow';
      c.detail = `the other tenant's ${otherKey(c)} is now ${v === '404' || v === '410' ? `gone (${v})` : `version ${v}`}; ${c.detail}`;
    }
  }
  const strayVersions = await otherTenantHistory(writesStarted);

  const label = (c) => `[${c.set.client}: ${c.set.scopes.join(' ')}] ${c.interaction} ${c.type} ` +
    `(${c.target}${c.via ? ` via ${c.via}` : ''})${c.leak ? ' OTHER TENANT\'S DATA IN THE ANSWER' : ''}`;
  // An answer carrying the other tenant's data is a wrong allow whatever the table says.
  const wrongAllows = results.filter((c) => (c.expected === 'deny' && c.observed === 'allow') || c.leak);
  const wrongDenies = results.filter((c) => c.expected === 'allow' && c.observed === 'deny');
  const errors = results.filter((c) => c.observed === 'error');
  const allowed = results.filter((c) => c.expected === 'allow').length;
  const byInteraction = {};
  for (const c of results) byInteraction[c.interaction] = (byInteraction[c.interaction] ?? 0) + 1;
  const byTarget = {};
  for (const c of results) {
    const t = c.via ? `${c.target} (${c.via})` : c.target;
    byTarget[t] = (byTarget[t] ?? 0) + 1;
  }
  console.log(`auth matrix: ${results.length} cases (${SCOPE_SETS.length} scope sets, ${shapes.length} ` +
    `interaction/type/target shapes; ${allowed} expected allows, ${results.length - allowed} expected denies) ` +
    `in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  console.log(`auth matrix: per target ${JSON.stringify(byTarget)}`);
  console.log(`auth matrix: per interaction ${JSON.stringify(byInteraction)}`);
  console.log(`auth matrix: the other tenant: ${otherVersion.size} same-id resources aimed at by writes ` +
    `checked unchanged, ${strayVersions.length} versions added to it during the writes`);
  if (strayVersions.length) {
    console.log(`NEW IN THE OTHER TENANT:\n${strayVersions.slice(0, 40).map((e) => `  ${e.request?.method} ` +
      `${e.fullUrl} ${JSON.stringify(e.resource ?? {}).slice(0, 160)}`).join('\n')}`);
  }
  console.log(`auth matrix: ${wrongAllows.length} wrong allows, ${wrongDenies.length} wrong denies, ` +
    `${errors.length} unexpected answers`);
  const show = (list) => list.slice(0, 40).map((c) => `  ${label(c)}: expected ${c.expected}, got ${c.detail}`).join('\n');
  if (wrongAllows.length) console.log(`WRONG ALLOWS:\n${show(wrongAllows)}`);
  if (wrongDenies.length) console.log(`WRONG DENIES:\n${show(wrongDenies)}`);
  if (errors.length) console.log(`UNEXPECTED ANSWERS:\n${show(errors)}`);

  assert.ok(results.length >= 2000, `only ${results.length} cases`);
  assert.equal(wrongAllows.length, 0, `wrong allows:\n${show(wrongAllows)}`);
  assert.equal(wrongDenies.length, 0, `wrong denies:\n${show(wrongDenies)}`);
  assert.equal(errors.length, 0, `unexpected answers:\n${show(errors)}`);
  assert.equal(strayVersions.length, 0, 'writes of the own tenant\'s callers added versions to the other tenant');
});
