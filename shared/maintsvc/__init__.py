"""Maintenance-window service: the code every Lambda function shares (the layer)."""
