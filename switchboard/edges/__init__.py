"""Network edges: the Starlette app, visitor and agent websockets, REST, Redis fan-out."""
