// Turns the official FHIRPath Patch cases (fhir-test-cases r4/patch/fhir-patch-tests.xml, FHIR
// XML) into FHIR JSON, for the unit test of the patch module and the server integration test:
//   node tests/tools/fhirpatch_cases.mjs <fhir-patch-tests.xml> <package dir> <out.json>
// Output: [{"name", "mode", "input", "diff", "output"} or {..., "error": "message"}].
import { readFileSync, writeFileSync } from 'node:fs';
import { FhirXmlConverter, parseXml, elements, attr, jsonText } from './fhir_xml.mjs';

export function convertCases(xmlText, packageDir) {
  const converter = new FhirXmlConverter(packageDir);
  const doc = parseXml(xmlText);
  const tests = elements(doc).find((e) => e.name === 'tests');
  const cases = [];
  for (const c of elements(tests).filter((e) => e.name === 'case')) {
    const part = (name) => elements(c).find((e) => e.name === name);
    const resourceOf = (name) => {
      const holder = part(name);
      if (!holder) return undefined;
      const inner = elements(holder);
      if (inner.length !== 1) throw new Error(`case ${attr(c, 'name')}: <${name}> must hold one resource`);
      return converter.resource(inner[0]);
    };
    const out = { name: attr(c, 'name'), mode: attr(c, 'mode') ?? '' };
    out.input = resourceOf('input');
    out.diff = resourceOf('diff');
    const error = part('error');
    if (error) out.error = attr(error, 'msg') ?? '';
    else out.output = resourceOf('output');
    cases.push(out);
  }
  return cases;
}

if (process.argv[1] && process.argv[1].endsWith('fhirpatch_cases.mjs')) {
  const [xmlFile, packageDir, outFile] = process.argv.slice(2);
  if (!outFile) {
    console.error('usage: fhirpatch_cases.mjs <fhir-patch-tests.xml> <package dir> <out.json>');
    process.exit(2);
  }
  const cases = convertCases(readFileSync(xmlFile, 'utf8'), packageDir);
  writeFileSync(outFile, `${jsonText(cases)}\n`);
}
