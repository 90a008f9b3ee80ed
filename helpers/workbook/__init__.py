"""What the notebooks stand on: the headless runner, strict parameters, panels, records, the environment check."""
