"""Training: the TrainPlan, the one train(), the trainer subclasses and callbacks, lr arithmetic, the memory planner, launch on several GPUs, starter weights."""
