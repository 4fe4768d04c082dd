"""Use-cases, called by the API, the CLI's server commands, the dispatcher and the workers alike."""
