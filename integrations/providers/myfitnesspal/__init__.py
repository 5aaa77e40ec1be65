"""MyFitnessPal CSV exports (nutrition, exercise and measurement summaries)."""
