"""FHIR R4 in and out: import a patient's bundle or bulk export, export their whole record."""
