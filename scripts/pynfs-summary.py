#!/usr/bin/python3
"""Summarise a pynfs run (nfs4.0 or nfs4.1 testserver.py).

Usage:
  scripts/pynfs-summary.py LOG [JSON] [--baseline OLD.json] [--quiet]

LOG   the captured stdout+stderr of testserver.py (run it with --showomit so skipped
      tests and their reasons are listed; without it skips are only counted).
JSON  the file given to testserver.py --json=FILE. pynfs's own JSON records only
      failures and omits (WARN, PASS and not-run tests look alike), so this script
      rewrites it in place, adding to every testcase "result": PASS|FAIL|WARN|SKIP|NOTRUN
      (SKIP = run was requested but skipped, e.g. a dependency failed; NOTRUN = not
      selected) and "message" where pynfs printed one, plus a top-level "summary".
--baseline OLD.json   an earlier annotated JSON: list tests (run in both runs) whose
                      result changed, e.g. FAIL -> PASS.

Prints: counts (pass/fail/warn/skip), then every FAIL and WARN with its code,
test name and one-line reason. Exit status: 0 if no test failed, 1 if some did,
2 if the log has no pynfs result summary (pynfs crashed or was interrupted).
"""
import json
import re
import sys

RESULT_RE = re.compile(r"^(\S+)\s+(\S+)\s+: (PASS|FAILURE|WARNING|UNSUPPORTED|OMIT|NOT RUN)\s*$")
MSG_RE = re.compile(r"^ {10,}\S")
TOTAL_RE = re.compile(r"^Of those: (\d+) Skipped, (\d+) Failed, (\d+) Warned, (\d+) Passed")
ASKED_RE = re.compile(r"^(Command line asked for|Tests interrupted! Only) (\d+)")
MAP = {"PASS": "PASS", "FAILURE": "FAIL", "WARNING": "WARN", "UNSUPPORTED": "WARN",
       "OMIT": "SKIP", "NOT RUN": "NOTRUN"}


def parse_log(path):
    results = {}  # code -> dict(name, result, message)
    summary = None
    asked = None
    cur = None
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            m = RESULT_RE.match(line)
            if m:
                cur = {"name": m.group(2), "result": MAP[m.group(3)], "message": ""}
                results[m.group(1)] = cur
                continue
            if cur is not None and MSG_RE.match(line):
                cur["message"] = (cur["message"] + " " + line.strip()).strip()
                continue
            cur = None
            m = TOTAL_RE.match(line)
            if m:
                summary = dict(zip(("skip", "fail", "warn", "pass"), map(int, m.groups())))
            m = ASKED_RE.match(line)
            if m:
                asked = int(m.group(2))
                if line.startswith("Tests interrupted"):
                    asked = -asked
    return results, summary, asked


def natural(code):
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", code)]


def one_line(s, width=150):
    s = " ".join(str(s).split())
    return s if len(s) <= width else s[:width - 3] + "..."


def main(argv):
    args, baseline, quiet = [], None, False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--baseline":
            baseline = argv[i + 1]; i += 2; continue
        if a == "--quiet":
            quiet = True; i += 1; continue
        if a in ("-h", "--help"):
            print(__doc__); return 0
        args.append(a); i += 1
    if not args:
        print(__doc__, file=sys.stderr); return 2
    log = args[0]
    jpath = args[1] if len(args) > 1 else None
    results, summary, asked = parse_log(log)

    data = None
    if jpath:
        try:
            with open(jpath) as f:
                data = json.load(f)
        except (OSError, ValueError) as e:
            print("pynfs-summary: cannot read %s: %s" % (jpath, e), file=sys.stderr)
    if data is not None:
        for tc in data.get("testcase", []):
            r = results.get(tc["code"])
            if r is not None:
                tc["result"] = r["result"]
                if r["result"] == "FAIL" and "failure" in tc:
                    # untruncated message from pynfs
                    r["message"] = tc["failure"].get("message") or r["message"]
                if r["message"]:
                    tc["message"] = r["message"]
            elif "failure" in tc:
                tc["result"] = "FAIL"
            elif tc.get("skipped"):
                # OMIT hidden from the log (no --showomit) or not selected
                tc["result"] = "NOTRUN"
            else:
                tc["result"] = "PASS"  # passes hidden by --hidepass
            if tc["result"] == "FAIL" and tc["code"] not in results:
                results[tc["code"]] = {"name": tc["classname"] + "." + tc["name"], "result": "FAIL",
                                       "message": tc["failure"].get("message", "")}
        if summary:
            data["summary"] = dict(summary, requested=asked)
        with open(jpath, "w") as f:
            json.dump(data, f, indent=4, sort_keys=True)

    if summary is None:
        print("pynfs-summary: no result summary in %s (pynfs crashed or was interrupted?)" % log)
        counts = {k: sum(1 for r in results.values() if r["result"] == v)
                  for k, v in (("pass", "PASS"), ("fail", "FAIL"), ("warn", "WARN"), ("skip", "SKIP"))}
        print("partial: pass %(pass)d  fail %(fail)d  warn %(warn)d  skip %(skip)d" % counts)
        return 2

    total = summary["pass"] + summary["fail"] + summary["warn"] + summary["skip"]
    print("pynfs: pass %d  fail %d  warn %d  skip %d  (of %d run)%s" % (
        summary["pass"], summary["fail"], summary["warn"], summary["skip"], total,
        "  INTERRUPTED" if asked is not None and asked < 0 else ""))
    if not quiet:
        for kind in ("FAIL", "WARN"):
            rows = sorted(((c, r) for c, r in results.items() if r["result"] == kind), key=lambda x: natural(x[0]))
            for code, r in rows:
                print("%-4s %-8s %-45s %s" % (kind, code, r["name"], one_line(r["message"])))
        skips = sorted((c for c, r in results.items() if r["result"] == "SKIP"), key=natural)
        if skips:
            print("SKIP " + " ".join(skips))

    if baseline:
        try:
            with open(baseline) as f:
                old = {tc["code"]: tc.get("result") for tc in json.load(f).get("testcase", [])}
        except (OSError, ValueError) as e:
            print("pynfs-summary: cannot read baseline %s: %s" % (baseline, e), file=sys.stderr)
            old = {}
        new = {c: r["result"] for c, r in results.items()}
        if data is not None:
            new = {tc["code"]: tc.get("result") for tc in data.get("testcase", [])}
        changed = sorted((c for c in set(old) & set(new)
                          if old[c] != new[c] and "NOTRUN" not in (old[c], new[c])), key=natural)
        print("changes vs %s: %d" % (baseline, len(changed)))
        for c in changed:
            print("  %-8s %s -> %s" % (c, old.get(c, "-"), new.get(c, "-")))

    return 1 if summary["fail"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
