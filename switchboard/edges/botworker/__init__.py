"""The bot at the edge: the worker that asks it and the child process it runs in."""
