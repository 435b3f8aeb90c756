"""Analysis-ready exports (CSV, codebook, data package, FHIR) for the page, the CLI and the API."""
