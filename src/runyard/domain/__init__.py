"""Pure domain code: ids, run states, the manifest model, option rendering, errors. No I/O."""
