"""Wire schemas: request bodies (tolerant of unknown and read-only keys) and response views."""
