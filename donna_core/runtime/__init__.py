"""Runtime: executes a plan as a real pipeline of processes (torch.distributed) and measures it."""
