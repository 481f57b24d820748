#!/usr/bin/env python3
"""Sums gtest results from bazel-testlogs/**/test.xml into 'N passed, N failed'.

Bazel's own summary counts test targets; this counts test cases. A target that
crashed before writing XML gets Bazel's generated test.xml with one failed case,
so a crash is never counted as a pass.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET

root = sys.argv[1] if len(sys.argv) > 1 else "bazel-testlogs"
passed = failed = skipped = 0
failures = []
skips = []
for path in sorted(glob.glob(os.path.join(root, "**", "test.xml"), recursive=True)):
    try:
        tree = ET.parse(path)
    except ET.ParseError as e:
        failed += 1
        failures.append(f"{path}: unreadable test.xml ({e})")
        continue
    for case in tree.iter("testcase"):
        name = f"{case.get('classname', '')}.{case.get('name', '')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(f"{os.path.dirname(os.path.relpath(path, root))}: {name}")
        elif case.find("skipped") is not None or case.get("result") == "skipped" \
                or case.get("status") == "notrun":
            skipped += 1
            sk = case.find("skipped")
            why = (sk.get("message") or sk.text or "").strip() if sk is not None else ""
            skips.append(f"{os.path.dirname(os.path.relpath(path, root))}: {name}" + (f" ({why.splitlines()[-1]})" if why else ""))
        else:
            passed += 1
for f in failures:
    print(f"FAILED: {f}")
for s_ in skips:
    print(f"SKIPPED: {s_}")
print(f"{skipped} skipped (counted in neither figure below)")
# The last line is the plain count CI reads.
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
