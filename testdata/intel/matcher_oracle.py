"""Evaluates (pattern, observation) pairs with the OASIS reference matcher (stix2-matcher).

Reads JSON lines {"pattern": str, "objects": [{"type": ..., ...}]} on stdin and writes one
line per pair: "1" (match), "0" (no match) or "E <message>" (the matcher refused it).
"""
import json
import sys

from stix2matcher.matcher import match

for line in sys.stdin:
    pair = json.loads(line)
    ids = ["%s--%08d-0000-4000-8000-000000000000" % (o["type"], i) for i, o in enumerate(pair["objects"])]
    scos = []
    for i, o in enumerate(pair["objects"]):
        o = dict(o, id=ids[i], spec_version="2.1")
        if "dst_ref" in o:
            o["dst_ref"] = ids[int(o["dst_ref"])]
        scos.append(o)
    sdo = {
        "type": "observed-data",
        "id": "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf",
        "spec_version": "2.1",
        "created": "2020-01-01T00:00:00.000Z",
        "modified": "2020-01-01T00:00:00.000Z",
        "first_observed": "2020-01-01T00:00:00Z",
        "last_observed": "2020-01-01T00:00:00Z",
        "number_observed": 1,
        "object_refs": ids,
    }
    bundle = {"type": "bundle", "id": "bundle--b67d30ff-02ac-498a-92f9-32f845f448cf", "objects": [sdo] + scos}
    try:
        print("1" if match(pair["pattern"], [bundle], stix_version="2.1") else "0")
    except Exception as e:  # noqa: BLE001 - report every refusal to the Rust side
        print("E " + str(e).replace("\n", " ")[:200])
    sys.stdout.flush()
