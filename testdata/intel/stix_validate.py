"""Validates STIX 2.1 files with the OASIS validator (stix2-validator, pinned in
requirements.txt), offline. Prints one JSON line per file:
{"file": ..., "valid": bool, "errors": [...], "warnings": [...]}; used by
crates/interdict-cli/tests/it/net.rs."""

import json
import sys

from stix2validator import ValidationOptions, validate_file

options = ValidationOptions(version="2.1")
for path in sys.argv[1:]:
    result = validate_file(path, options)
    errors, warnings = [], []
    if getattr(result, "fatal", None):
        errors.append("fatal: %s" % result.fatal)
    for obj in result.object_results:
        errors.extend(str(e) for e in obj.errors)
        warnings.extend(str(w) for w in obj.warnings)
    print(json.dumps({"file": path, "valid": bool(result.is_valid), "errors": errors, "warnings": warnings}))
