"""A multi-file app: sums the ``value`` column of every CSV under ``inputs/``; stdout is a log here."""

import csv
import glob
import json
import os


def main() -> None:
    totals = {}
    for path in sorted(glob.glob(os.path.join("inputs", "**", "*.csv"), recursive=True)):
        with open(path, newline="", encoding="utf-8") as fh:
            totals[os.path.relpath(path, "inputs")] = sum(float(row["value"]) for row in csv.DictReader(fh))
    print(f"multi-file: read {len(totals)} files", flush=True)
    os.makedirs(os.path.join("outputs", "solutions"), exist_ok=True)
    with open(os.path.join("outputs", "solutions", "result.json"), "w", encoding="utf-8") as fh:
        json.dump({"files": sorted(totals), "total": sum(totals.values())}, fh)
    with open(os.path.join("outputs", "solutions", "totals.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "total"])
        writer.writerows(sorted(totals.items()))
    with open(os.path.join("outputs", "metrics.json"), "w", encoding="utf-8") as fh:
        json.dump({"metrics": {"files": len(totals), "total": sum(totals.values())}}, fh)


if __name__ == "__main__":
    main()
