"""Grammar-constrained decoding (JSON schema, JSON object, choice, regex) via llguidance or xgrammar."""
