"""A csv-archive app: CSV files in ``./input/``, solution CSVs to ``./output/``, statistics on stdout."""

import csv
import glob
import json
import os
import sys


def main() -> None:
    totals = {}
    for path in sorted(glob.glob(os.path.join("input", "*.csv"))):
        with open(path, newline="", encoding="utf-8") as fh:
            totals[os.path.basename(path)] = sum(float(row["value"]) for row in csv.DictReader(fh))
    os.makedirs("output", exist_ok=True)
    with open(os.path.join("output", "totals.csv"), "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "total"])
        writer.writerows(sorted(totals.items()))
    json.dump({"statistics": {"result": {"value": sum(totals.values())}, "files": len(totals)}}, sys.stdout)


if __name__ == "__main__":
    main()
