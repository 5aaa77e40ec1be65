"""Apple Health "Export All Health Data" provider: export.zip or export.xml to normalised items."""
