"""Each trick as a patch or hook that can be tested alone: attention, checkpointing, precision, schedule, loss stages, guard, early stop, atomic checkpoints, the Recipe, the translator."""
