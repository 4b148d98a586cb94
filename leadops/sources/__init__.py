"""Sources layer: the reader of CRM-style APIs (files are read by leadops.intake.reading)."""
