"""The control plane: who gets which engine (flags, bucketing, router), the service and the CLI."""
