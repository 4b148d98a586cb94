"""Sources layer: readers for lead files (CSV, JSON Lines) and CRM-style APIs."""
