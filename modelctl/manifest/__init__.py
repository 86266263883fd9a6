"""What the user asked for: manifest v1 files, variant selection, the bundled catalog."""
