"""Run execution: the dispatcher, executor backends and the runtime that turns a run into a process."""
