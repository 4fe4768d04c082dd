"""The runtime: environment builds, workspaces, process launch, output collection, the runner."""
