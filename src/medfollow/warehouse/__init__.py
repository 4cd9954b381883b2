"""Warehouse access: the embedded server, connections and schemas."""
