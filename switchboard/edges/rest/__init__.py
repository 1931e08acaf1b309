"""REST: one module per resource (sessions, agents, groups, kb, workspace) built from a small public toolkit
(toolkit.py); api.py assembles their routes and their parts of the OpenAPI description."""
