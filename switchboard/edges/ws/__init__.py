"""The two websockets: the session gate they share, the visitor's and the agent's."""
