"""A FHIR R4 file the patient uploads (a Bundle, an NDJSON export or one resource)."""
