"""Each trick as a patch or hook that can be tested alone: attention, checkpointing, precision, the clip, BatchNorm
momentum, the warm restart (schedule), loss stages, the NaN guard, early stop (convergence), empty_cache, atomic
checkpoints (checkpoint_io), the tutorials' recipe as plan fields, the translator. A module that declares `TRICK` is a
plug-in (helpers.tricks.registry): its options are plan fields and the trainer applies its hooks."""
