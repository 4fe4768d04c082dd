"""Logs for ``-duration`` seconds, then echoes its input with statistics, metrics and three custom-tab
assets: a plotly chart, a geojson map and a chartjs chart (the shapes the product's console renders)."""

import argparse
import json
import sys
import time


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("-duration", type=float, default=2.0)
    parser.add_argument("-region", default="dallas")
    parser.add_argument("-hold", default="false")
    return parser.parse_args()


def log_for(seconds: float) -> int:
    lines, end = 0, time.monotonic() + seconds
    while True:
        lines += 1
        print(f"visual: step {lines}: improving the plan", file=sys.stderr, flush=True)
        if time.monotonic() >= end:
            return lines
        time.sleep(0.25)


def hold(seconds: float = 60.0) -> None:
    """Keep the slot (until canceled), writing a burst of lines four times a second."""
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        for _ in range(4):
            n += 1
            print(f"visual: holding, line {n}", file=sys.stderr, flush=True)
        time.sleep(0.25)


def assets(values: list[float]) -> list[dict]:
    days = [f"day {i + 1}" for i in range(len(values))]
    plotly = [{"data": [{"type": "bar", "x": days, "y": values, "name": "cost"},
                        {"type": "scatter", "mode": "lines+markers", "x": days, "y": [v * 0.8 for v in values],
                         "name": "lower bound"}],
               "layout": {"title": {"text": "Cost by day"}}}]
    route = [[-96.659222, 33.122746], [-96.750382, 33.205808], [-96.795869, 33.104921], [-96.659222, 33.122746]]
    geojson = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "id": "route-1", "geometry": {"type": "LineString", "coordinates": route},
         "properties": {"style": {"color": "#1f5fa8", "weight": 3},
                        "metadata": [{"key": "Distance (m)", "value": 91206}]}},
        {"type": "Feature", "id": "depot", "geometry": {"type": "Point", "coordinates": route[0]},
         "properties": {"name": "Depot", "metadata": [{"key": "Stop", "value": "depot"}]}},
        {"type": "Feature", "id": "zone", "geometry": {"type": "Polygon", "coordinates": [[
            [-96.70, 33.15], [-96.62, 33.15], [-96.62, 33.21], [-96.70, 33.21], [-96.70, 33.15]]]},
         "properties": {"style": {"color": "#b35900", "fillOpacity": 0.2}}},
    ]}
    chartjs = [{"type": "line", "data": {"labels": days, "datasets": [
        {"label": "utilization", "data": [v / max(values) for v in values], "borderColor": "rgb(31, 95, 168)"}]}}]
    return [
        {"name": "plotly-cost", "content_type": "json", "content": plotly,
         "visual": {"schema": "plotly", "label": "Cost chart", "type": "custom-tab"}},
        {"name": "route-map", "content_type": "json", "content": geojson,
         "visual": {"schema": "geojson", "label": "Route map", "type": "custom-tab"}},
        {"name": "chartjs-util", "content_type": "json", "content": chartjs,
         "visual": {"schema": "chartjs", "label": "Utilization", "type": "custom-tab"}},
        {"name": "raw-numbers", "content_type": "json", "content": {"values": values}},
    ]


def main() -> None:
    opts = options()
    data = json.load(sys.stdin)
    if opts.hold.lower() == "true":
        hold()
    lines = log_for(opts.duration)
    values = [float(v) for v in data.get("values", [3, 5, 4, 6])]
    statistics = {"run": {"duration": opts.duration, "iterations": lines},
                  "result": {"value": sum(values), "custom": {"region": opts.region}},
                  "schema": "v1"}
    out = {"options": {"duration": opts.duration, "region": opts.region}, "solution": data,
           "statistics": statistics, "metrics": {"cost": sum(values), "lines": lines}, "assets": assets(values)}
    json.dump(out, sys.stdout)
    print("visual: done", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
