"""Orchestration and edges: the inbox on disk, the Prefect flow, the CLI, alert channels."""
