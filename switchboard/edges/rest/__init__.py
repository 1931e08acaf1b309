"""REST: one module per resource, a small public toolkit, the app assembling the routes."""
