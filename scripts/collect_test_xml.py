#!/usr/bin/env python3
"""Copies one test pass's test.xml files aside, so the next pass cannot overwrite them.

    collect_test_xml.py BEP_JSON OUT_DIR TARGET...

BEP_JSON is the pass's `bazel test --build_event_json_file`: it names the test.xml of
every test that ran or was cached in this invocation, so no test.xml left over from an
earlier run is counted. Each TARGET (//tests/daemon:foo) gets
OUT_DIR/tests/daemon/foo/test.xml; a target the pass did not run (it failed to build, or Bazel
stopped) gets a test.xml with one failed case saying so, so test_summary.py counts it as a
failure, never as nothing.
"""
import json
import os
import shutil
import sys
import urllib.parse
from xml.sax.saxutils import quoteattr


def main():
    bep, out, targets = sys.argv[1], sys.argv[2], sys.argv[3:]
    xml_of = {}
    try:
        with open(bep) as f:
            for line in f:
                event = json.loads(line)
                label = event.get("id", {}).get("testResult", {}).get("label")
                if not label:
                    continue
                for output in event.get("testResult", {}).get("testActionOutput", []):
                    if output.get("name") == "test.xml":
                        xml_of[label] = urllib.parse.urlparse(output["uri"]).path
    except (OSError, ValueError) as e:
        print(f"collect_test_xml: cannot read {bep}: {e}", file=sys.stderr)
    for target in targets:
        rel = target.lstrip("/").replace(":", "/")
        os.makedirs(os.path.join(out, rel), exist_ok=True)
        dest = os.path.join(out, rel, "test.xml")
        src = xml_of.get(target)
        if src and os.path.isfile(src):
            shutil.copyfile(src, dest)
            continue
        with open(dest, "w") as f:
            f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name='
                    f'{quoteattr(target)}><testcase classname={quoteattr(target)} '
                    'name="ran"><failure message="this pass did not run the test (build '
                    'failure or Bazel stopped)"/></testcase></testsuite></testsuites>\n')


if __name__ == "__main__":
    main()
