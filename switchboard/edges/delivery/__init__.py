"""Delivery: what the engine says, made durable and carried to people's sockets."""
