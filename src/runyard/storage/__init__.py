"""Persistence: the metadata database and the blob store."""
