"""Runyard benchmarks: ``python -m bench [--quick|--full] [--only P1,P3]`` (see README.md here)."""
