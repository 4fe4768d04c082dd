"""Shadow and switchback tests reuse the experiments suite's server and statistics app."""

from integration.experiments.conftest import experiments_env_dir, lab, start_server  # noqa: F401
