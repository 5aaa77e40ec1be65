"""SMART on FHIR: a patient connects an EHR that staff registered and HealthSpace syncs their records."""
