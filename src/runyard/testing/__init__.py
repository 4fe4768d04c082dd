"""Helpers for tests: throwaway PostgreSQL clusters, free ports, waiting with deadlines."""
